"""Lab 14: what its dry run (executed on the chapter's page) wrote, and its refusals."""

import json

import pytest

import docs_support
from tutorials.lec14_fsdp_pipeline import lab_14_fsdp_vs_ddp as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_14_fsdp_vs_ddp", "lab_14_results.json", sessions_root)


def test_dry_run_compares_two_ranks(results):
    assert results["config"]["steps"] == 6 and results["config"]["save_at"] == 3
    assert list(results["worlds"]) == ["2"]
    rows = {r["strategy"]: r for r in results["rows"]}
    assert set(rows) == {"DDP", "FSDP"}
    ddp, fsdp = rows["DDP"], rows["FSDP"]
    # FSDP2 holds half of everything on each of 2 ranks; Adam's step counters (4 bytes each) are not sharded
    assert 2 * fsdp["params_bytes"] == ddp["params_bytes"] and 2 * fsdp["grads_bytes"] == ddp["grads_bytes"]
    counters = 4 * 6  # 3 Linear layers: 6 parameter tensors
    assert 2 * (fsdp["optimizer_bytes"] - counters) == ddp["optimizer_bytes"] - counters
    assert fsdp["sum_total_bytes"] == ddp["max_total_bytes"] + counters, "the shards partition the state"
    assert ddp["step_ms"] > 0 and fsdp["step_ms"] > 0


def test_dry_run_losses_agree_and_resume_is_exact(results):
    world = results["worlds"]["2"]
    losses = world["losses"]
    assert len(losses["DDP"]) == len(losses["FSDP"]) == 6 and len(losses["resumed"]) == 3
    assert world["ddp_vs_fsdp_max_diff"] < 1e-5
    assert losses["FSDP"][-1] < losses["FSDP"][0], "it trains"
    assert world["resume"] == {"saved_at": 3, "equal": True, "max_diff": 0.0}
    assert world["checkpoint_files"] == [".metadata", "__0_0.distcp", "__1_0.distcp"]


def test_dry_run_files_and_terminal(results):
    out = results["_out"]
    assert (out / "fsdp_vs_ddp.png").is_file()
    assert sorted(p.name for p in (out / "checkpoint-2ranks").iterdir()) == world_files()
    assert "losses equal to the uninterrupted run: True" in results["_stdout"]
    assert json.loads((out / "lab_14_results.json").read_text())["rows"] == results["rows"]


def world_files():
    return [".metadata", "__0_0.distcp", "__1_0.distcp"]


@pytest.mark.parametrize("argv, message", [
    (["--steps", "4", "--save-at", "4"], "argument --save-at: must be between 1 and --steps - 1 = 3, got 4"),
    (["--batch-size", "6", "--world-sizes", "4"],
     "argument --batch-size: 6 does not split evenly over 4 ranks"),
])
def test_inconsistent_options_are_usage_errors(argv, message, tmp_path, usage_error):
    err = usage_error(lab.main, [*argv, "--device", "cpu", "--out-dir", str(tmp_path / "out")])
    assert message in err
    assert not (tmp_path / "out").exists()


def test_run_world_reports_what_the_workers_return(tmp_path, monkeypatch):
    """``run_world``'s bookkeeping, with the two launches replaced by canned per-rank results."""
    def run(losses, params):
        return {"losses": losses, "step_ms": [9.0, 1.0, 3.0], "params": params, "grads": params,
                "optimizer": 2 * params}

    canned = iter([
        [{"DDP": run([3.0, 2.0, 1.0], 100), "FSDP": run([3.0, 2.0, 1.0], 60)},
         {"DDP": run([3.0, 2.0, 1.0], 100), "FSDP": run([3.0, 2.0, 1.0], 40)}],
        [{"resumed_at": 1, "losses": [2.0, 1.0]}, {"resumed_at": 1, "losses": [2.0, 1.0]}],
    ])
    monkeypatch.setattr(lab, "launch", lambda *a, **k: next(canned))
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / ".metadata").write_text("")
    out = lab.run_world(2, {"device": "cpu"}, None, tmp_path / "ck", 1)
    fsdp = out["rows"][1]
    assert fsdp["params_bytes"] == 60 and fsdp["max_total_bytes"] == 240 and fsdp["sum_total_bytes"] == 400
    assert fsdp["step_ms"] == 2.0  # the median after the warm-up step
    assert out["resume"] == {"saved_at": 1, "equal": True, "max_diff": 0.0}
    assert out["checkpoint_files"] == [".metadata"]
