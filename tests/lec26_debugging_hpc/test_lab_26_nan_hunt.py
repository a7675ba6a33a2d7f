"""Lab 26: the dry run its page executes finds every injected fault; bad options are usage errors."""

import json

import pytest
import torch

import docs_support
from tutorials.lec26_debugging_hpc import lab_26_nan_hunt as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_26_nan_hunt", f"{lab.RESULTS}.json", sessions_root)


def test_every_fault_has_its_verdict(results):
    runs = {r["fault"]: r for r in results["runs"]}
    assert list(runs) == ["none", "bad-batch", "empty-sequence", "sqrt-where"]
    assert runs["none"]["verdict"] == "finite to the end" and runs["none"]["steps run"] == 40
    assert runs["bad-batch"]["spike at"] == 20 and runs["bad-batch"]["failed at"] > 20
    assert runs["empty-sequence"]["verdict"].startswith("forward: pool (AttentionPool) made")
    assert runs["sqrt-where"]["verdict"].startswith(
        "backward: SqrtBackward0, from forward: return torch.where(")
    assert results["dry_run"] is True and results["config"]["fault_step"] == 20


def test_files_and_terminal(results):
    out = results["_out"]
    saved = json.loads((out / f"{lab.RESULTS}.json").read_text())
    assert [r["fault"] for r in saved["runs"]] == ["none", "bad-batch", "empty-sequence", "sqrt-where"]
    assert (out / lab.FIGURE).is_file()
    assert "| fault" in results["_stdout"] and "finite to the end" in results["_stdout"]


def test_one_fault_without_out_dir(capsys):
    res = lab.main(["--faults", "empty-sequence", "--steps", "6", "--fault-step", "3", "--device", "cpu"])
    (run,) = res["runs"]
    assert run["failed at"] == 3 and "wrote" not in capsys.readouterr().out


def test_fault_step_past_the_end_is_a_usage_error(usage_error, tmp_path):
    err = usage_error(lab.main, ["--steps", "5", "--fault-step", "5", "--device", "cpu",
                                 "--out-dir", str(tmp_path / "out")])
    assert "argument --fault-step: must be below --steps (5), got 5" in err
    assert not (tmp_path / "out").exists()


def test_unknown_fault_is_a_usage_error(usage_error):
    err = usage_error(lab.main, ["--faults", "cosmic-ray", "--device", "cpu"])
    assert "argument --faults: invalid choice: 'cosmic-ray'" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda():
    res = lab.main(["--dry-run", "--device", "cuda", "--faults", "empty-sequence", "sqrt-where"])
    assert [r["failed at"] for r in res["runs"]] == [20, 0]
