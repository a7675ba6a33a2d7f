"""Lab 16: the page's dry run (read, not rerun), its tables, and its refusals."""

import pytest

import docs_support
from tutorials.lec16_onnx_serving import lab_16_onnx_benchmark as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_16_onnx_benchmark", lab.RESULTS + ".json", sessions_root)


def test_dry_run_exports_with_parity(results):
    assert results["dry_run"] is True and results["config"]["no_compile"] is True
    assert results["export"]["opset"] >= 18 and results["export"]["nodes"][0] == "Conv"
    assert results["parity_ok"] is True
    assert [r["batch"] for r in results["parity"]] == [1, 16, 359]
    assert all(r["max abs diff"] < 1e-4 and r["same labels"] for r in results["parity"])
    assert results["val_accuracy"] > 0.3  # one epoch: well above chance


def test_dry_run_benchmark_table_and_files(results):
    rows = results["table"]
    assert [(r["batch"], r["runner"]) for r in rows] == [(1, "eager"), (1, "onnxruntime"),
                                                         (16, "eager"), (16, "onnxruntime")]
    assert all(r["ms / call"] > 0 for r in rows)
    assert all(r["speed-up vs eager"] == 1 for r in rows if r["runner"] == "eager")
    out = results["_out"]
    assert (out / lab.FIGURE).stat().st_size > 10_000 and (out / lab.ONNX_FILE).is_file()
    assert "3. parity, ONNX Runtime vs eager" in results["_stdout"]


def test_compile_path_with_a_stub(tmp_path, monkeypatch, capsys):
    """The torch.compile runner and its compile times, without compiling (identity stub)."""
    monkeypatch.setattr(lab.torch, "compile", lambda model, dynamic=False: model)
    res = lab.main(["--epochs", "1", "--batch-sizes", "2", "--min-run-time", "0.01", "--device", "cpu",
                    "--out-dir", str(tmp_path / "out")])
    assert [r["runner"] for r in res["table"]] == ["eager", "torch.compile", "onnxruntime"]
    assert list(res["compile_seconds"]) == ["2"]
    assert "torch.compile: first call (compilation) per batch size: 2:" in capsys.readouterr().out


def test_cuda_device_is_a_usage_error(tmp_path, usage_error):
    """On a GPU machine: this lab's own message; without one: the course's "no CUDA" usage error."""
    err = usage_error(lab.main, ["--device", "cuda", "--dry-run", "--out-dir", str(tmp_path / "o")])
    assert "--device cuda" in err
    assert not (tmp_path / "o").exists()
