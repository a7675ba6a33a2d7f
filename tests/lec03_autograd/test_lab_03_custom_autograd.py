import json

import pytest
import torch

import docs_support
from tutorials.lec03_autograd import lab_03_custom_autograd as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_03_custom_autograd", "lab_2_1_3_results.json", sessions_root)


def test_every_variant_passes_gradcheck_and_gradgradcheck(results):
    assert {r["function"] for r in results["gradients"]} == set(lab.VARIANTS)
    for row in results["gradients"]:
        assert row["gradcheck"] and row["gradgradcheck"], row


def test_values_and_gradients_match_the_builtins(results):
    for row in results["agreement"]:
        assert row["max |Δ value|"] < 1e-5 and row["max |Δ grad|"] < 1e-5, row


def test_memory_saved_for_backward(results):
    mem = {r["function"]: r for r in results["memory"]}
    n = 1024  # dry-run size, float32
    assert mem["SwishFunction"]["new MB held"] == pytest.approx(n * 4 / 1e6)  # sigmoid(x)
    assert mem["MishFunction"]["new MB held"] == pytest.approx(2 * n * 4 / 1e6)  # tanh, sigmoid
    for name in ("SwishRecompute", "MishRecompute", "F.silu", "F.mish"):
        assert mem[name]["new MB held"] == 0 and mem[name]["saved tensors"] == 1, mem[name]


def test_timings_are_measured_for_every_function(results):
    rows = results["timings"]
    assert len(rows) == 6
    for row in rows:
        assert row["median µs"] > 0 and row["IQR µs"] >= 0
    builtin = [r for r in rows if r["function"].startswith("F.")]
    assert all(r["× built-in"] == 1.0 for r in builtin)


def test_results_file_is_written(results):
    saved = json.loads((results["_out"] / "lab_2_1_3_results.json").read_text())
    assert saved["dry_run"] is True and saved["device"] == "CPU"


def test_bad_sizes_are_a_usage_error(usage_error):
    err = usage_error(lab.main, ["--sizes", "0,16", "--device", "cpu"])
    assert "argument --sizes: expected comma-separated positive integers, got '0,16'" in err


def test_cuda_request_without_gpu_is_a_usage_error(usage_error):
    if torch.cuda.is_available():
        res = lab.main(["--dry-run", "--device", "cuda"])
        assert all("CUDA peak MB" in r for r in res["memory"])
    else:
        err = usage_error(lab.main, ["--dry-run", "--device", "cuda"])
        assert "--device cuda was requested" in err
