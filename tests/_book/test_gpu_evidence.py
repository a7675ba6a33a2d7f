"""The GPU capture runs end to end at tiny size on CPU, and its validator refuses CPU figures."""

import gzip
import json

import pytest
import torch

from tutorials import gpu_evidence


@pytest.fixture(scope="module")
def cpu_capture(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_quick")
    return out, gpu_evidence.capture(out, device="cpu", quick=True, compile_=False)


def test_capture_writes_figures_with_units_and_traces(cpu_capture):
    out, results = cpu_capture
    assert json.loads((out / gpu_evidence.RESULTS).read_text()) == results
    meta = results["metadata"]
    assert meta["device_type"] == "cpu" and meta["torch"] == torch.__version__ and meta["date"]
    assert {r["dtype"] for r in results["matmul"]} == {"fp32", "bf16"}
    assert all(r["tflops"]["median"] > 0 and r["tflops"]["unit"] == "TFLOP/s" for r in results["matmul"])
    assert results["transfers"] == []  # host<->device needs CUDA
    assert {r["function"] for r in results["activations"]} >= {"SwishFunction", "F.silu", "F.mish"}
    assert {r["precision"] for r in results["amp"]} == {"fp32", "bf16"}
    for rel in results["traces"]:
        with gzip.open(out / rel, "rt") as f:
            assert json.load(f)["traceEvents"]


def test_validator_refuses_cpu_figures(cpu_capture):
    out, _ = cpu_capture
    with pytest.raises(ValueError, match="not on a CUDA device: these are not GPU figures"):
        gpu_evidence.validate(out)


def test_validator_requires_kernels_and_units(cpu_capture, tmp_path):
    out, results = cpu_capture
    fake = dict(results, metadata=dict(results["metadata"], device_type="cuda", cuda="13.0"))
    (tmp_path / "traces").mkdir()
    for rel in results["traces"]:
        (tmp_path / rel).write_bytes((out / rel).read_bytes())
    (tmp_path / gpu_evidence.RESULTS).write_text(json.dumps(fake))
    with pytest.raises(ValueError, match="no CUDA kernel events"):
        gpu_evidence.validate(tmp_path)
    fake["matmul"][0]["tflops"].pop("unit")
    (tmp_path / gpu_evidence.RESULTS).write_text(json.dumps(fake))
    with pytest.raises(ValueError, match="a figure has no unit"):
        gpu_evidence.validate(tmp_path)
