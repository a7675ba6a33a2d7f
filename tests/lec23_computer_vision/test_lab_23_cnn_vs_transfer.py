import json

import pytest
import torch

import docs_support
from tutorials.lec23_computer_vision import lab_23_cnn_vs_transfer as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_23_cnn_vs_transfer", "lab_23_2_results.json", sessions_root)


def test_three_arms_with_and_without_augmentation(results):
    rows = results["arms"]
    assert [(r["arm"], r["augment"]) for r in rows] == [
        (arm, aug) for arm in ("scratch", "fine-tune", "frozen") for aug in (False, True)]
    params = {r["arm"]: r["trainable params"] for r in rows}
    # the frozen arm trains its head only: 2 x 2 grid of 32 features -> 5 classes in the dry run
    assert params["frozen"] == 4 * 32 * 5 + 5 < params["fine-tune"] == params["scratch"]
    for r in rows:
        assert 0 <= r["test acc"] <= 1 and r["train s"] > 0 and len(r["curve"]) == 2
    assert results["options"]["train_images"] == [40] and results["dry_run"] is True
    assert {r["images"] for r in rows} == {40}
    best = max(rows, key=lambda r: r["test acc"])
    assert results["best"]["test_accuracy"] == best["test acc"]


def test_loader_settings_and_precisions(results):
    assert [(r["num_workers"], r["pin_memory"]) for r in results["loader"]] == [
        (0, False), (0, True), (1, False), (1, True)]
    for r in results["loader"]:
        assert r["pinned"] is False  # the page's dry run says --device cpu, even on a CUDA machine
        assert r["images/s"] > 0
    rows = {r["precision"]: r for r in results["precisions"]}
    assert rows["fp32"]["logits dtype"] == "float32" and rows["bf16"]["logits dtype"] == "bfloat16"
    assert rows["bf16"]["GradScaler"] is False
    assert set(rows) == {"fp32", "bf16"}  # fp16 is added on CUDA devices only
    assert "pin_memory is ignored" in results["_stdout"]


def test_files_are_written(results):
    out = results["_out"]
    saved = json.loads((out / "lab_23_2_results.json").read_text())
    assert saved["best"] == results["best"]
    assert (out / "lab_23_2_accuracy.png").stat().st_size > 10_000
    assert (out / "backbone_digits_0-4.pt").is_file()


def test_bad_precisions_are_usage_errors(tmp_path, usage_error):
    out = tmp_path / "out"
    err = usage_error(lab.main, ["--device", "cpu", "--precisions", "fp32,fp8", "--out-dir", str(out)])
    assert "argument --precisions: unknown mode 'fp8' in 'fp32,fp8'" in err
    if not torch.cuda.is_available():
        err = usage_error(lab.main, ["--device", "cpu", "--precisions", "fp32,fp16", "--out-dir", str(out)])
        assert "--precisions fp16 needs CUDA, the device is cpu" in err
    assert not out.exists()
