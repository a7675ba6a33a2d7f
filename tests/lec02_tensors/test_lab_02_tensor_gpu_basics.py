import json
import os
import subprocess
import sys

import pytest
import torch

import docs_support
from tutorials._book.layout import module_named
from tutorials.lec02_tensors import lab_02_tensor_gpu_basics as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_02_tensor_gpu_basics", "lab_02_tensor_gpu_basics.json",
                                    sessions_root)


def test_parts_say_where_they_ran(results):
    assert results["device"] == "CPU" and results["ran_on"] == ["CPU"]
    assert results["dry_run"] is True and results["cuda"] is None


def test_creation_puts_tensors_on_the_cpu(results):
    rows = results["creation"]
    assert {r["how"] for r in rows} == {"torch.empty", "torch.zeros", "torch.randn", "torch.arange"}
    for row in rows:
        assert row["on"] == "cpu" and row["MB"] == pytest.approx(2**16 * 4 / 1e6)
        assert row["median µs"] > 0


def test_transfers_fall_back_to_host_copies_with_a_note(results):
    moved = results["transfers"]
    assert moved["ran_on"] == "CPU" and "no CUDA device" in moved["note"]
    assert [r["bytes"] for r in moved["rows"]] == [2**12, 2**16]
    for row in moved["rows"]:
        assert row["direction"] == "host→host" and row["GB/s"] > 0


def test_matmul_tflops_follow_from_the_time(results):
    rows = results["matmul"]
    assert [r["n"] for r in rows] == [32, 64]
    for row in rows:
        assert row["device"] == "CPU" and row["dtype"] == "float32"
        expected = 2 * row["n"] ** 3 / (row["median ms"] * 1e-3) / 1e12
        assert row["TFLOP/s"] == pytest.approx(expected)


def test_channels_last_rows(results):
    rows = results["channels_last"]
    assert [r["format"] for r in rows] == ["NCHW", "NHWC"]
    assert rows[0]["speed-up vs NCHW"] == 1.0 and rows[1]["speed-up vs NCHW"] > 0


def test_allocator_is_not_measured_on_cpu_and_says_why(results):
    alloc = results["allocator"]
    assert alloc["measured"] is False and alloc["rows"] == []
    assert "CUDA caching allocator" in alloc["reason"]


def test_only_out_of_place_allocates(results):
    rows = {r["op"]: r for r in results["inplace"]}
    assert rows["c = a + b"]["new tensor"] is True
    assert rows["c = a + b"]["new MB"] == pytest.approx(2**16 * 4 / 1e6)
    for op in ("torch.add(a, b, out=c)", "a.add_(b)"):
        assert rows[op]["new tensor"] is False and rows[op]["new MB"] == 0


def test_plots_and_results_file_are_written(results):
    out = results["_out"]
    assert {p.name for p in out.glob("*.png")} == {"lab_tensor_gpu_basics_matmul.png",
                                                   "lab_tensor_gpu_basics_transfers.png"}
    saved = json.loads((out / "lab_02_tensor_gpu_basics.json").read_text())
    assert saved["allocator"]["measured"] is False and len(saved["matmul"]) == 2


def test_bad_transfer_sizes_are_a_usage_error(usage_error):
    err = usage_error(lab.main, ["--transfer-sizes", "4096,1001", "--device", "cpu"])
    assert "argument --transfer-sizes: expected comma-separated positive multiples of 4" in err


def test_bad_matmul_sizes_are_a_usage_error(usage_error):
    err = usage_error(lab.main, ["--matmul-sizes", "0", "--device", "cpu"])
    assert "argument --matmul-sizes: expected comma-separated positive integers, got '0'" in err


def test_cuda_request_without_gpu_is_a_usage_error(usage_error):
    if torch.cuda.is_available():
        res = lab.main(["--dry-run", "--device", "cuda"])
        assert res["allocator"]["measured"] is True
        assert {r["memory"] for r in res["transfers"]["rows"]} == {"pageable", "pinned"}
    else:
        err = usage_error(lab.main, ["--dry-run", "--device", "cuda"])
        assert "--device cuda was requested" in err


def test_cuda_home_warning_is_explained_first(tmp_path):
    """torch.utils.cpp_extension logs "No CUDA runtime is found" on import when it finds a
    CUDA toolkit but no GPU: the lab prints it as an explained note, first, never bare."""
    env = {**os.environ, "CUDA_HOME": str(tmp_path)}  # a toolkit location, as nvcc on the PATH gives
    proc = subprocess.run([sys.executable, "-m", module_named("lab_02_tensor_gpu_basics"), "--dry-run",
                           "--device", "cpu"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in (proc.stdout + proc.stderr).splitlines() if "No CUDA runtime" in line]
    if torch.cuda.is_available():  # cpp_extension does not warn
        assert warned == []
        return
    assert len(warned) == 1, warned
    assert warned[0] == proc.stdout.splitlines()[0], "the note comes before any result"
    assert warned[0].startswith("note: torch.utils.cpp_extension (imported by torch.utils.benchmark) "
                                f"reports \"No CUDA runtime is found, using CUDA_HOME='{tmp_path}'\"")
    assert "matters only when compiling CUDA extensions" in warned[0] and "harmless here" in warned[0]


TIMING_LABS = ["lab_03_custom_autograd", "lab_12_training_optimization", "lab_02_tensor_gpu_basics"]


def test_labs_timing_with_torch_benchmark_import_without_the_bare_warning(tmp_path):
    """The three labs that time with torch.utils.benchmark, imported in one new interpreter
    (torch once): the import logs nothing bare, and each lab prints the explained note."""
    env = {**os.environ, "CUDA_HOME": str(tmp_path)}
    modules = [module_named(name) for name in TIMING_LABS]
    code = ("import importlib, tutorials.core.benchmark as b\n"
            f"labs = [importlib.import_module(m) for m in {modules!r}]\n"
            "print(len(b.import_notes()), *['note' if 'import_notes' in open(lab.__file__).read() else '-'"
            " for lab in labs])")
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "No CUDA runtime" not in proc.stderr
    expected = "0" if torch.cuda.is_available() else "1"
    assert proc.stdout.split() == [expected] + ["note"] * len(TIMING_LABS), (
        f"each lab prints benchmark.import_notes(): {dict(zip(TIMING_LABS, proc.stdout.split()[1:]))}")
