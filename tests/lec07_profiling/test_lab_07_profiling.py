import json
import os

import pytest
import torch

import docs_support
from tutorials.lec07_profiling import lab_07_profiling as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes, as a learner starts it: a new process whose
    standard output and error are kept (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_07_profiling", "lab_2_1_5_results.json", sessions_root)


def test_before_and_after_rows(results):
    before, after = results["rows"]
    assert (before["variant"], after["variant"]) == ("before", "after")
    for row in (before, after):
        assert row["ms / step"] > 0
        assert 0 <= row["loader share"] <= row["data share"] <= 1  # the loader runs inside "data"
        assert 0 <= row["test accuracy"] <= 1
        assert row["bottleneck"] == ("data-bound" if row["data share"] >= 0.5 else "compute-bound")
    assert before["syncs / step"] == 1  # .item() after every step
    assert after["syncs / step"] == 0   # logged every 10 steps: none in a 2-step window
    assert results["speedup"] > 0


def test_data_share_measures_the_phase_not_the_loader(results):
    """The fixed variant rotates its batches after next(loader): that work is data time.

    Before the fix, all the input work is in the DataLoader, so the two shares are
    close; after it, the rotation (affine_grid + grid_sample) is outside the loader's
    range but inside the "data" range, which the verdict uses.
    """
    before, after = results["rows"]
    assert before["data share"] - before["loader share"] < 0.2, before
    assert after["data share"] > 2 * after["loader share"], after
    assert after["_phase_ms"]["data"] > 0


def test_no_unexplained_kineto_error_on_stderr(results):
    """A CUDA build of torch on a machine without a GPU: kineto's GPU probe fails.

    The lab turns kineto's log off there (KINETO_LOG_LEVEL) and says so in one line,
    so "ERROR ... gpuGetDeviceCount failed with code 35" does not appear unexplained.
    """
    stderr, stdout = results["_stderr"], results["_stdout"]
    assert "gpuGetDeviceCount" not in stderr, stderr
    assert "ERROR:" not in stderr and "USDT:" not in stderr, stderr
    if not torch.cuda.is_available():
        assert stdout.splitlines()[0] == lab.KINETO_NOTE


def test_main_leaves_kineto_log_level_as_it_was(monkeypatch, tmp_path):
    monkeypatch.delenv("KINETO_LOG_LEVEL", raising=False)
    monkeypatch.setattr(lab, "_run", lambda args, device: {})
    lab.main(["--dry-run", "--device", "cpu"])
    assert "KINETO_LOG_LEVEL" not in os.environ
    monkeypatch.setenv("KINETO_LOG_LEVEL", "2")  # the learner's own choice is kept
    lab.main(["--dry-run", "--device", "cpu"])
    assert os.environ["KINETO_LOG_LEVEL"] == "2"


def test_traces_plot_and_results_are_written(results):
    out = results["_out"]
    for variant in ("before", "after"):
        trace = json.loads((out / f"lab_2_1_5_{variant}.json").read_text())
        names = {e.get("name") for e in trace["traceEvents"]}
        assert {"data", "forward", "backward", "optimizer"} <= names
    assert (out / "lab_2_1_5_phases.png").is_file()
    assert results["dry_run"] is True and results["device"] == "CPU"


def test_both_pipelines_give_the_same_images(tmp_path):
    paths = lab.write_png_digits(tmp_path, limit=4)
    x, y = lab.decode_all(paths)
    assert x.shape == (4, 1, 32, 32) and x.dtype == torch.uint8
    slow = lab.PngDigits(paths, augment=False, seed=0)
    img, label = slow[2]
    assert label == int(y[2])
    assert torch.allclose(img, x[2].float() / 255.0)
    rotated = lab.rotate_batch(x.float() / 255.0, 0.0, torch.Generator().manual_seed(0))
    assert torch.allclose(rotated, x.float() / 255.0, atol=1e-5)  # 0 degrees: identity


def test_bad_batch_size_is_a_usage_error(usage_error, tmp_path):
    err = usage_error(lab.main, ["--batch-size", "0", "--device", "cpu", "--out-dir", str(tmp_path / "o")])
    assert "argument --batch-size: expected a positive integer, got '0'" in err
    assert not (tmp_path / "o").exists()
