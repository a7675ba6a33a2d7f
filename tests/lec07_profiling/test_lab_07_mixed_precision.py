import json

import pytest
import torch

import docs_support
from tutorials.lec07_profiling import lab_07_mixed_precision as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_07_mixed_precision", "lab_2_1_4_results.json", sessions_root)


def test_fp32_and_bf16_rows_on_cpu(results):
    rows = {r["precision"]: r for r in results["rows"]}
    assert set(rows) == {"fp32", "bf16"}  # fp16 is the CUDA path
    for r in rows.values():
        assert r["step ms (median)"] > 0 and r["IQR ms"] >= 0
        assert r["peak MB"] == "not measured"
        assert 0 <= r["test accuracy"] <= 1
    assert rows["fp32"]["× fp32 time"] == 1.0
    # same start, same batches: bf16 training lands close to fp32
    assert abs(rows["fp32"]["final loss"] - rows["bf16"]["final loss"]) < 0.1


def test_results_and_plot_written(results):
    saved = json.loads((results["_out"] / "lab_2_1_4_results.json").read_text())
    assert saved["dry_run"] is True and saved["device"] == "CPU"
    assert (results["_out"] / "lab_2_1_4_precisions.png").is_file()


def test_fp16_on_cpu_is_a_usage_error(usage_error, tmp_path):
    err = usage_error(lab.main, ["--dry-run", "--device", "cpu", "--precisions", "fp32,fp16",
                                 "--out-dir", str(tmp_path / "out")])
    assert "--precisions fp16 needs CUDA, the device is cpu" in err
    assert "fp16 is a CUDA path in these labs (Lecture 7)" in err
    assert not (tmp_path / "out").exists()


def test_unknown_precision_is_a_usage_error(usage_error):
    err = usage_error(lab.main, ["--dry-run", "--device", "cpu", "--precisions", "fp8"])
    assert "argument --precisions: unknown mode 'fp8' in 'fp8'; expected auto or comma-separated" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_three_modes_on_cuda():
    res = lab.main(["--dry-run", "--device", "cuda"])
    rows = {r["precision"]: r for r in res["rows"]}
    assert set(rows) == {"fp32", "bf16", "fp16"}
    assert all(isinstance(r["peak MB"], float) for r in rows.values())
