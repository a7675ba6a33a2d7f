"""Lab 17 from the dry run its page executes, plus its command line."""

import json

import pytest

import docs_support
from tutorials.lec17_interpretability import lab_17_attribution_report as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_17_attribution_report", "lab_17_results.json", sessions_root)


def test_dry_run_sizes_and_accuracy(results):
    opts = results["options"]
    assert results["dry_run"] is True
    assert (opts["epochs"], opts["images_per_class"], opts["ig_steps"]) == (1, 3, 16)
    assert results["test_accuracy"] > 0.75  # one epoch: rough, but a working model
    assert len(results["class_map_peaks"]) == 10 and all(0 <= p < 256 for p in results["class_map_peaks"])


def test_shortcut_is_flagged_only_on_the_watermarked_model(results):
    s = results["shortcut"]
    assert s["watermarked"]["flagged"] is True and s["clean"]["flagged"] is False
    assert s["watermarked"]["watermark_share"] > 3 * s["clean"]["watermark_share"]
    assert s["watermarked"]["clean_test_accuracy"] < s["clean"]["clean_test_accuracy"] - 0.2
    assert s["watermarked"]["follows_wrong_watermark"] > 0.5 > s["clean"]["follows_wrong_watermark"]


def test_sanity_checks(results):
    sanity = results["sanity"]
    assert sanity["layers"] == ["fc2", "fc1", "conv2", "conv1"]
    corr = sanity["correlations"]
    assert set(corr) == set(lab.METHODS) and all(len(c) == 4 for c in corr.values())
    # saliency decorrelates once the output layers are random; |IG| keeps the input's ranking
    assert corr["saliency"][-1] < 0.3
    assert corr["integrated gradients"][-1] > corr["saliency"][-1] + 0.3
    assert corr["guided backprop"][0] > corr["saliency"][0]


def test_files_are_written(results):
    out = results["_out"]
    saved = json.loads((out / "lab_17_results.json").read_text())
    assert saved["shortcut"] == results["shortcut"]
    for name in results["figures"]:
        assert (out / name).stat().st_size > 10_000
    assert len(results["figures"]) == 3
    assert "3. sanity check" in results["_stdout"]


def test_bad_values_are_usage_errors(tmp_path, usage_error):
    out = tmp_path / "out"
    err = usage_error(lab.main, ["--device", "cpu", "--ig-steps", "0", "--out-dir", str(out)])
    assert "argument --ig-steps: expected a positive integer, got '0'" in err
    assert not out.exists()


def test_explain_refuses_unknown_method():
    import torch

    from tutorials.lec17_interpretability.models import DigitCNN

    with pytest.raises(ValueError, match="unknown method 'lime'"):
        lab.explain(DigitCNN().eval(), "lime", torch.zeros(1, 1, 16, 16), torch.tensor([0]), 4)
