import json
import math

import pytest

import docs_support
from tutorials.lec22_transformers import lab_22_char_gpt as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_22_char_gpt", "lab_22_1_results.json", sessions_root)


def test_dry_run_trains_a_tiny_model_on_the_standard_library(results):
    assert results["dry_run"] is True and results["device"] == "CPU"
    assert results["config"] == {"block_size": 32, "n_layer": 1, "n_head": 2, "n_embd": 32,
                                 "batch_size": 8, "lr": 2e-3, "steps": 20}
    corpus = results["corpus"]
    assert corpus["source"].endswith("standard library") and corpus["files"][0] == "argparse.py"
    assert len(corpus["sha256"]) == 64
    assert results["train_chars"] > 8 * results["val_chars"] > 0  # 10 % of each file held out
    assert 60 < results["vocab_size"] < 200  # printable ASCII and a few more
    assert results["parameters"] < 50_000


def test_loss_curve_starts_near_uniform_and_falls(results):
    curve = results["curve"]
    assert [r["step"] for r in curve] == [0, 10, 20]
    start = curve[0]["val loss"]
    assert abs(start - results["uniform_loss"]) < 0.2, "an untrained model is close to uniform"
    assert results["unigram_loss"] < results["uniform_loss"]
    assert curve[-1]["val loss"] < start - 0.3 and curve[-1]["train loss"] < curve[0]["train loss"]
    assert results["final_val_loss"] == curve[-1]["val loss"]


def test_throughput_and_samples(results):
    assert len(results["tokens_per_s_stretches"]) == 2  # two stretches of --eval-every 10 steps
    assert results["tokens_per_s"] in results["tokens_per_s_stretches"] and results["tokens_per_s"] > 0
    samples = results["samples"]
    assert [s["step"] for s in samples] == [10, 20]
    for s in samples:
        assert s["text"].startswith("def ") and len(s["text"]) == 4 + 30
    assert "--- sample at step 20 ---" in results["_stdout"]
    assert "| parameters | steps | tokens seen |" in results["_stdout"]


def test_files_are_written(results):
    out = results["_out"]
    saved = json.loads((out / "lab_22_1_results.json").read_text())
    assert saved["dry_run"] is True
    assert (out / "lab_22_1_loss.png").stat().st_size > 10_000
    text = (out / "lab_22_1_samples.txt").read_text(encoding="utf-8")
    assert text.startswith("=== step 10 ===\ndef ") and "=== step 20 ===" in text


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    assert lab.lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lab.lr_at(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert lab.lr_at(10, 100, 1.0, 10) == pytest.approx(1.0)
    assert lab.lr_at(100, 100, 1.0, 10) == pytest.approx(0.1)


def test_unigram_loss_is_the_entropy_of_the_counts():
    import torch

    assert lab.unigram_loss(torch.tensor([0, 1, 0, 1]), 5) == pytest.approx(math.log(2))


def test_heads_must_divide_the_width(tmp_path, usage_error):
    err = usage_error(lab.main, ["--n-embd", "30", "--n-head", "4", "--device", "cpu",
                                 "--out-dir", str(tmp_path / "out")])
    assert "--n-embd 30 must be a multiple of --n-head 4" in err
    assert not (tmp_path / "out").exists()


def test_missing_text_file_is_a_usage_error(tmp_path, usage_error):
    missing = tmp_path / "nope.txt"
    err = usage_error(lab.main, ["--text-file", str(missing), "--device", "cpu"])
    assert f"--text-file: {missing} does not exist" in err


def test_a_text_too_short_for_the_block_says_so(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("print('hello')\n" * 10, encoding="utf-8")
    message = r"validation text \(15 characters\) is shorter than --block-size 32"
    with pytest.raises(SystemExit, match=message):
        lab.main(["--dry-run", "--device", "cpu", "--text-file", str(short),
                  "--out-dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
