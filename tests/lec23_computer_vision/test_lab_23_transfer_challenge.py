import json

import pytest
import torch

import docs_support
from tutorials.lec23_computer_vision import lab_23_transfer_challenge as lab

CRITERIA = [
    "pretrained weights loaded correctly",
    "only the classifier has requires_grad=True",
    "the backbone stays frozen",
    "training uses mixed precision",
    "learning rate decreases per the schedule",
    "the best checkpoint is saved and reloads",
    "held-out accuracy > 85%",
]


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_23_transfer_challenge", "lab_23_1_results.json", sessions_root)


def test_every_criterion_is_checked_and_the_dry_run_does_not_judge_accuracy(results):
    assert results["dry_run"] is True and results["precision"] == "bf16"
    rows = results["criteria"]
    assert [r["criterion"] for r in rows] == CRITERIA
    assert [r["result"] for r in rows] == ["PASS"] * 6 + ["n/a"]
    assert "dry run" in rows[-1]["evidence"]
    assert results["passed"] is None  # only a full run can pass the challenge
    assert "challenge not judged (dry run)" in results["_stdout"]
    assert "| held-out accuracy > 85%" in results["_stdout"]


def test_what_the_criteria_rest_on(results):
    frozen = results["frozen"]
    assert frozen["trainable"] == ["head.2.bias", "head.2.weight"]
    assert frozen["lrs"][0] == pytest.approx(0.02) and frozen["lrs"][1] < frozen["lrs"][0]
    assert "bfloat16" in results["criteria"][3]["evidence"]
    assert 0 <= results["test_accuracy"] <= 1
    ft = results["finetune"]
    assert ft["lr_groups"] == [3e-4, pytest.approx(0.002)] and ft["augmentation"] is True
    assert results["onnx"] is None  # skipped in a dry run


def test_files_are_written_and_checkpoints_load_safely(results):
    out = results["_out"]
    saved = json.loads((out / "lab_23_1_results.json").read_text())
    assert saved["criteria"] == results["criteria"]
    assert (out / "lab_23_1_curves.png").stat().st_size > 10_000
    best = torch.load(out / "lab_23_1_best_frozen.pt", weights_only=True)
    assert best["epoch"] == results["frozen"]["best_epoch"]
    assert set(torch.load(out / "backbone_digits_0-4.pt", weights_only=True)) == {"model", "classes", "arch"}
    assert not (out / "lab_23_1_model.onnx").exists()


def test_the_checks_can_fail(tmp_path):
    from tutorials.lec23_computer_vision.backbone import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(num_classes=5, widths=(4, 8))
    path = tmp_path / "b.pt"
    torch.save({"model": model.state_dict()}, path)
    assert lab.weights_equal_checkpoint(model, path) == (True, len(model.state_dict()))
    with torch.no_grad():
        model.head.bias += 1
    assert lab.weights_equal_checkpoint(model, path)[0] is False
    history = [{"lrs": [0.02]}, {"lrs": [0.02]}]  # a schedule that never stepped
    assert lab.lr_schedule_check(history, 0.02, 2)[0] is False
    assert lab.lr_schedule_check([{"lrs": [0.02]}, {"lrs": [0.01]}], 0.02, 2)[0] is True


def test_bad_options_are_usage_errors(tmp_path, usage_error):
    out = tmp_path / "out"
    err = usage_error(lab.main, ["--dry-run", "--device", "cpu", "--threshold", "1.5", "--out-dir", str(out)])
    assert "--threshold: expected an accuracy in (0, 1), got 1.5" in err
    err = usage_error(lab.main, ["--device", "cpu", "--backbone", str(tmp_path / "none.pt"),
                                 "--out-dir", str(out)])
    assert f"--backbone: no checkpoint file at {tmp_path / 'none.pt'}" in err
    err = usage_error(lab.main, ["--device", "cpu", "--precision", "fp16", "--out-dir", str(out)])
    assert "--precision fp16 needs CUDA, the device is cpu" in err
    assert not out.exists()
