"""Lab 8.1: its dry run (the one the Lecture 8 page runs), the C++ fallback, bad options."""

import json
import shutil

import pytest
import torch

import docs_support
from tutorials.lec08_torch_export import lab_08_aoti_deploy as lab
from tutorials.lec08_torch_export.aoti_deploy import RunnerBuild


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_08_aoti_deploy", "lab_08_aoti_results.json", sessions_root)


def test_the_dry_run_is_small(results):
    assert results["dry_run"] is True and results["device"] == "CPU"
    assert results["epochs"] == 0 and results["losses"] == []
    assert results["threads"] == 1 and results["iters"] == 5
    assert [r["batch"] for r in results["latency_us"]] == [1, 32]
    assert results["torch_compile_first_calls_s"] is None  # only with --torch-compile


def test_export_keeps_the_model_operators(results):
    ops = results["export_operators"]
    for name in ("conv2d", "relu", "max_pool2d", "linear"):
        assert any(name in op for op in ops), (name, ops)
    assert results["export_s"] > 0


def test_python_and_cpp_agree_with_eager(results):
    assert results["parity_ok"] is True and results["tolerance"] == 1e-4
    assert results["predictions_agree"] == results["val_images"] == 359
    cpp = results["cpp"]["available"]
    for row in results["parity"]:
        assert 0 <= row["AOTI-Python max|diff|"] <= 1e-4, row
        if cpp:
            assert 0 <= row["AOTI-C++ max|diff|"] <= 1e-4, row
        else:
            assert row["AOTI-C++ max|diff|"] is None


def test_cpp_column_is_measured_or_its_absence_explained(results):
    cpp = results["cpp"]
    if shutil.which("g++") or shutil.which("c++") or shutil.which("clang++"):
        assert cpp["available"] is True, cpp["reason"]
    if cpp["available"]:
        assert cpp["reason"] is None and cpp["note"] is None
        assert all(r["AOTI-C++ us"] > 0 for r in results["latency_us"])
    else:
        assert cpp["reason"] and cpp["note"].startswith("C++ column skipped")
        assert all(r["AOTI-C++ us"] is None for r in results["latency_us"])
    for row in results["latency_us"]:
        assert row["eager us"] > 0 and row["AOTI-Python us"] > 0


def test_package_and_files_are_written(results):
    out, pkg = results["_out"], results["package"]
    assert (out / "digits_cnn.pt2").stat().st_size == pkg["size_bytes"] > 100_000
    assert pkg["compile_s"] > 0 and len(pkg["key"]) == 24 and isinstance(pkg["cached"], bool)
    saved = json.loads((out / "lab_08_aoti_results.json").read_text())
    assert saved["parity_ok"] is True and saved["dry_run"] is True
    assert (out / "lab_08_aoti_latency.png").stat().st_size > 10_000
    if results["cpp"]["available"]:
        assert (out / "cpp_io" / "input_1.bin").stat().st_size == 32 * 64 * 4
        assert (out / "cpp_io" / "output_1.bin").stat().st_size == 32 * 10 * 4
    stdout = results["_stdout"]  # what the reader's terminal showed
    assert "3. AOTInductor package lec08/labs/digits_cnn.pt2" in stdout
    assert f"compiled in {pkg['compile_s']:.1f} s" in stdout
    assert "wrote lec08/labs/lab_08_aoti_results.json, lec08/labs/lab_08_aoti_latency.png" in stdout


def test_cache_state_is_in_the_results_not_in_the_printed_summary(results):
    """The page shows the dry run's output: it must read the same with a cold or a warm cache."""
    pkg, cpp, stdout = results["package"], results["cpp"], results["_stdout"]
    assert isinstance(pkg["cached"], bool) and isinstance(cpp["cached"], bool)
    assert len(pkg["key"]) == 24 and pkg["compile_s"] > 0
    for word in ("cache", "reused", "built in"):
        assert word not in stdout.lower(), word
    if cpp["available"]:
        assert (cpp["build_s"] == 0.0) if cpp["cached"] else (cpp["build_s"] > 0)
        command = cpp["command"]
        assert command[0] == cpp["executable"]
        assert command[1:5] == ["lec08/labs/digits_cnn.pt2", "cpu", "1", "5"]
        assert "run as\n   aoti_runner lec08/labs/digits_cnn.pt2 cpu 1 5 " in stdout  # no machine's path
        assert cpp["executable"] not in stdout


def test_without_a_compiler_the_cpp_column_is_skipped_with_its_reason(monkeypatch, tmp_path, capsys):
    reason = "No C++ compiler found: looked for g++, c++, clang++ on the PATH."
    monkeypatch.setattr(lab, "build_runner", lambda cuda=False: RunnerBuild(None, reason))
    inputs = {1: torch.zeros(1, 1, 8, 8)}
    build, outs, us, note, command = lab.cpp_step(torch.device("cpu"), tmp_path / "m.pt2", inputs,
                                                  tmp_path / "io", threads=1, iters=1)
    assert (outs, us, command) == (None, None, None) and build.reason == reason
    assert note == f"C++ column skipped: the runner could not be built: {reason}"
    assert note in capsys.readouterr().out
    assert not (tmp_path / "io").exists()


def test_without_any_compiler_the_lab_stops_before_writing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(lab, "inductor_compiler_problem", lambda: "AOTInductor compiles ... (no g++)")
    with pytest.raises(SystemExit) as exc:
        lab.main(["--dry-run", "--device", "cpu", "--out-dir", str(tmp_path / "out")])
    assert exc.value.code == 1
    assert "cannot run Lab 8.1: AOTInductor compiles ... (no g++)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_parity_row_flags_a_difference():
    a = torch.zeros(2, 10)
    assert lab.parity_row(2, a, a, None, 1e-4)["ok"] is True
    row = lab.parity_row(2, a, a, a + 1e-3, 1e-4)
    assert row["ok"] is False and row["AOTI-C++ max|diff|"] == pytest.approx(1e-3)


def test_bad_values_are_usage_errors(tmp_path, usage_error):
    out = tmp_path / "out"
    err = usage_error(lab.main, ["--max-batch", "1", "--device", "cpu", "--out-dir", str(out)])
    assert "argument --max-batch: expected an integer >= 2 (the example batch is 2 or more), got '1'" in err
    err = usage_error(lab.main, ["--batch-sizes", "1,2048", "--device", "cpu", "--out-dir", str(out)])
    assert "--batch-sizes: 2048 is above --max-batch 1024" in err
    err = usage_error(lab.main, ["--batch-sizes", "0", "--device", "cpu", "--out-dir", str(out)])
    assert "argument --batch-sizes: expected comma-separated positive integers, got '0'" in err
    assert not out.exists()


def test_cuda_without_a_gpu_is_a_usage_error(tmp_path, usage_error):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    err = usage_error(lab.main, ["--device", "cuda", "--dry-run", "--out-dir", str(tmp_path / "out")])
    assert "--device cuda was requested but torch.cuda.is_available() is False" in err
    assert not (tmp_path / "out").exists()
