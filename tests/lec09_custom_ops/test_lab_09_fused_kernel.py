"""Lab 9.1: the page's dry run (correctness, roofs, benchmark, roofline), and the lab's usage errors."""

import json

import pytest
import torch

import docs_support
from tutorials.lec09_custom_ops import fused
from tutorials.lec09_custom_ops import lab_09_fused_kernel as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_09_fused_kernel", "lab_9_1_results.json", sessions_root)


def test_the_fused_kernel_is_correct(results):
    cpp = results["correctness_cpp"]
    assert cpp["forward_max_abs_diff"] < 1e-5 and cpp["dropped_are_zero"] is True
    assert cpp["grad_x_max_abs_diff"] < 1e-4 and cpp["grad_bias_max_abs_diff"] < 1e-4
    assert cpp["gradcheck_float64"] is True
    assert abs(cpp["dropped_fraction"] - results["p"]) < 0.02  # 12,800 elements at p = 0.1


def test_the_triton_kernel_is_checked_in_the_interpreter(results):
    pytest.importorskip("triton")
    assert results["triton"]["status"] == "interpreted on CPU (TRITON_INTERPRET=1)"
    check = results["triton"]["check"]
    assert check["shape"] == [8, 200] and check["dropped_are_zero"] is True
    assert check["forward_max_abs_diff"] < 1e-5 and check["grad_x_max_abs_diff"] < 1e-4


def test_benchmark_rows_and_their_arithmetic(results):
    rows = results["benchmark"]
    assert [(r["rows"], r["version"], r["bytes/elem"]) for r in rows] == [
        (256, "eager", 32), (256, "torch.compile", 8), (256, "fused C++", 8)]
    assert results["bytes_per_element"]["eager"]["forward"] == 32
    for r in rows:
        assert r["elements"] == 256 * 1024 and r["median us"] >= r["best us"] > 0
        assert r["GB/s"] == pytest.approx(r["bytes/elem"] * r["elements"] / (r["best us"] * 1e-6) / 1e9)
        assert r["of copy bw"] == pytest.approx(r["GB/s"] / results["copy_gbs"])
        assert r["GFLOP/s"] == pytest.approx(11 * r["elements"] / (r["best us"] * 1e-6) / 1e9)
        assert r["speed-up vs eager"] == pytest.approx(rows[0]["best us"] / r["best us"])
    assert rows[0]["speed-up vs eager"] == 1.0
    # torch.compile compiles the reference: the same hash mask as the fused kernel
    assert results["compiled"] == "tutorials.lec09_custom_ops.fused.reference"
    check = results["compiled_vs_reference"]
    assert check["dropped_are_zero"] is True and check["max_abs_diff"] < 1e-5
    assert results["copy_gbs"] > 0 and results["matmul_gflops"] > 0


def test_roofline_points_and_files(results):
    points = results["roofline"]
    assert [p["intensity"] for p in points] == pytest.approx([11 / 32, 11 / 8, 11 / 8])
    assert points[2]["label"].startswith("fused C++ (")
    saved = json.loads((results["_out"] / "lab_9_1_results.json").read_text())
    assert saved["dry_run"] is True and saved["device"] == "CPU"
    assert (results["_out"] / "lab_9_1_roofline.png").stat().st_size > 10_000
    assert "3. benchmark: y = dropout(gelu_tanh(x + bias))" in results["_stdout"]
    assert "| fused C++" in results["_stdout"]


def test_without_a_fused_kernel_only_eager_and_compile_are_measured():
    # --device cuda without Triton: the lab measures what it can (here: eager alone, on CPU, tiny)
    rows = lab.benchmark([2], 16, 0.1, 0, torch.device("cpu"), None, "fused Triton", None,
                         min_run_time=0.001, copy_gbs=1.0)
    assert [r["version"] for r in rows] == ["eager"]


def test_inductor_vector_width_is_part_of_the_cache_key(monkeypatch):
    # ATEN_CPU_CAPABILITY=default: no vectors, a key of its own (torch 2.14.1's cache ignores the variable)
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    assert lab._isa_option(torch.device("cpu")) == {"cpp.simdlen": 0}
    assert lab._isa_option(torch.device("cuda")) == {}


def test_missing_triton_is_a_message(monkeypatch):
    import tutorials.lec09_custom_ops.fused_triton as ft

    monkeypatch.setattr(ft, "TRITON_ERROR", "Triton is not installed (test)")
    assert ft.triton_available() == (False, "Triton is not installed (test)")
    with pytest.raises(RuntimeError, match="Triton is not installed"):
        ft.bias_gelu_dropout_triton(torch.randn(2, 3), torch.randn(3))


def test_roofline_points_take_the_largest_size():
    rows = [{"rows": n, "version": v, "GB/s": 1.0, "of copy bw": 0.5, "bytes/elem": b, "GFLOP/s": 2.0}
            for n in (4, 8) for v, b in (("eager", 32), ("fused C++", 8))]
    points = lab.roofline_points(rows)
    assert [p["label"] for p in points] == ["eager (1.0 GB/s, 50% of copy)",
                                            "fused C++ (1.0 GB/s, 50% of copy)"]
    assert points[1]["intensity"] == fused.arithmetic_intensity(8)


def test_bad_values_are_usage_errors(usage_error, tmp_path):
    out = tmp_path / "out"
    err = usage_error(lab.main, ["--p", "1.5", "--device", "cpu", "--out-dir", str(out)])
    assert "argument --p: expected a dropout probability below 1, got '1.5'" in err
    err = usage_error(lab.main, ["--rows", "0,16", "--device", "cpu"])
    assert "argument --rows: expected comma-separated positive integers, got '0,16'" in err
    err = usage_error(lab.main, ["--hidden", "0", "--device", "cpu"])
    assert "argument --hidden: expected a positive integer, got '0'" in err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: --device cuda is valid")
def test_cuda_without_a_gpu_is_a_usage_error(usage_error):
    err = usage_error(lab.main, ["--dry-run", "--device", "cuda"])
    assert "cuda" in err.lower()
