import json

import pytest

import docs_support
from tutorials.lec23_computer_vision import lab_23_detection as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_23_detection", "lab_23_3_results.json", sessions_root)


def test_the_dry_run_trains_and_scores(results):
    assert results["dry_run"] is True and results["steps"] == 2
    assert results["options"]["image_size"] == 64 and results["options"]["val_images"] == 4
    assert len(results["losses"]) == 2 and all(loss > 0 for loss in results["losses"])
    assert set(results["loss_first"]) == {"total", "loss_classifier", "loss_box_reg", "loss_objectness",
                                          "loss_rpn_box_reg"}
    assert set(results["ap50"]) == {"rectangle", "ellipse", "triangle"}
    assert sum(results["n_ground_truth"].values()) >= 4  # at least one shape per image
    present = [ap for ap in results["ap50"].values() if ap is not None]
    assert results["map50"] == pytest.approx(sum(present) / len(present))
    assert "mAP@0.5 = " in results["_stdout"] and "means nothing" in results["_stdout"]


def test_files_are_written(results):
    out = results["_out"]
    saved = json.loads((out / "lab_23_3_results.json").read_text())
    assert saved["map50"] == results["map50"]
    assert (out / "lab_23_3_detections.png").stat().st_size > 10_000
    assert (out / "lab_23_3_losses.png").stat().st_size > 10_000


def test_lr_schedule():
    assert [round(lab.lr_at(s, 10, 2), 3) for s in (0, 1, 2, 6, 10)] == [0.5, 1.0, 1.0, 0.5, 0.0]


def test_bad_options_are_usage_errors(tmp_path, usage_error):
    out = tmp_path / "out"
    err = usage_error(lab.main, ["--dry-run", "--device", "cpu", "--score-threshold", "1.5",
                                 "--out-dir", str(out)])
    assert "--score-threshold: expected a score in (0, 1], got 1.5" in err
    err = usage_error(lab.main, ["--device", "cpu", "--image-size", "32", "--out-dir", str(out)])
    assert "argument --image-size: expected an integer >= 64, got '32'" in err
    assert not out.exists()
