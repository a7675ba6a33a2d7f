import json

import pytest
import torch

from tutorials.labs import lab_2_1_5_profiling as lab


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab215")
    res = lab.main(["--dry-run", "--device", "cpu", "--out-dir", str(out)])
    res["_out"] = out
    return res


def test_before_and_after_rows(results):
    before, after = results["rows"]
    assert (before["variant"], after["variant"]) == ("before", "after")
    for row in (before, after):
        assert row["ms / step"] > 0 and 0 <= row["data share"] <= 1
        assert 0 <= row["test accuracy"] <= 1
        assert row["bottleneck"] in {"data-bound", "compute-bound"}
    assert before["syncs / step"] == 1  # .item() after every step
    assert after["syncs / step"] == 0   # logged every 10 steps: none in a 2-step window
    assert results["speedup"] > 0


def test_traces_plot_and_results_are_written(results):
    out = results["_out"]
    for variant in ("before", "after"):
        trace = json.loads((out / f"lab_2_1_5_{variant}.json").read_text())
        names = {e.get("name") for e in trace["traceEvents"]}
        assert {"data", "forward", "backward", "optimizer"} <= names
    assert (out / "lab_2_1_5_phases.png").is_file()
    saved = json.loads((out / "lab_2_1_5_results.json").read_text())
    assert saved["dry_run"] is True and saved["device"] == "CPU"


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
