import json

import pytest
import torch

import docs_support
from tutorials.lec05_nn_module import lab_05_resnet_blocks as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_05_resnet_blocks", "lab_2_1_1_results.json", sessions_root)


def test_blocks_have_the_expected_shapes(results):
    rows = {r["block"]: r for r in results["blocks"]}
    assert rows["BasicBlock(64, 64)"]["output shape"] == "(2, 64, 16, 16)"
    assert rows["BasicBlock(64, 64)"]["shortcut"] == "identity"
    assert rows["BasicBlock(64, 128, stride=2)"]["output shape"] == "(2, 128, 8, 8)"
    assert rows["Bottleneck(64, 64)"]["output shape"] == "(2, 256, 16, 16)"
    assert rows["Bottleneck(64, 128, stride=2)"]["output shape"] == "(2, 512, 8, 8)"


def test_models_equal_torchvision(results):
    rows = {r["model"]: r for r in results["torchvision"]}
    assert rows["resnet18"]["ours"] == rows["resnet18"]["torchvision"] == 11_689_512
    assert rows["resnet50"]["ours"] == rows["resnet50"]["torchvision"] == 25_557_032
    for row in rows.values():
        assert row["strict load"] is True and row["output shape"] == "(2, 1000)"
        assert row["max |Δ output|"] == 0.0


def test_training_ran_and_wrote_its_files(results):
    t = results["training"]
    assert t["steps"] == 2 and len(t["losses"]) == 2
    assert all(0 < v < 5 for v in t["losses"]), "cross-entropy over 10 classes starts near ln 10"
    assert 0.0 <= t["test accuracy"] <= 1.0
    assert (results["_out"] / "lab_2_1_1_loss.png").stat().st_size > 1000
    saved = json.loads((results["_out"] / "lab_2_1_1_results.json").read_text())
    assert saved["dry_run"] is True and saved["device"] == "CPU"


def test_dry_run_first_and_last_loss_are_its_two_steps(results):
    # with 2 steps the 5-step means at each end would both be the mean of the same 2 losses
    t = results["training"]
    assert t["loss_window"] == 1
    assert (t["first loss"], t["last loss"]) == tuple(t["losses"])
    assert t["first loss"] != t["last loss"], "one optimizer step moves the loss"


def test_short_training_learns_the_digits():
    # a few dozen steps on a narrow network: far better than chance (10%)
    train_set, test_set, _ = lab.load_data(None, None, 0)
    torch.manual_seed(0)
    model = lab.resnet18(num_classes=10, width=8, zero_init_residual=True)
    args = lab.build_parser().parse_args(["--epochs", "1"])
    args.max_steps = 40
    run = lab.train(model, train_set, test_set, args, torch.device("cpu"))
    assert run["test_accuracy"] > 0.5, run["test_accuracy"]
    assert sum(run["losses"][-5:]) < sum(run["losses"][:5])


@pytest.mark.parametrize("argv,message", [
    (["--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
    (["--lr", "-1"], "argument --lr: expected a positive number, got '-1'"),
    (["--data-dir", "/nonexistent/cifar"], "--data-dir /nonexistent/cifar: no cifar-10-batches-py/ folder"),
    (["--batch-size", "2000"], "--batch-size 2000 is larger than the 1438 training images: no full batch"),
    (["--limit", "10"], "--batch-size 32 is larger than the 10 training images (--limit 10)"),
])
def test_bad_inputs_are_usage_errors(argv, message, tmp_path, usage_error):
    out = tmp_path / "out"
    err = usage_error(lab.main, [*argv, "--dry-run", "--device", "cpu", "--out-dir", str(out)])
    assert message in err
    assert not out.exists()
