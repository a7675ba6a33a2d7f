"""Lab 13: the page's dry run (read, not rerun), its tables, and its refusals and failures."""

import json
import subprocess

import pytest

import docs_support
from tutorials.lec13_distributed import lab_13_ddp_scaling as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_13_ddp_scaling", lab.RESULTS + ".json", sessions_root)


def test_dry_run_trains_the_same_on_one_and_two_processes(results):
    runs = results["runs"]
    assert [r["world_size"] for r in runs] == [1, 2]
    assert all(len(r["losses"]) == 6 for r in runs)
    assert results["losses_equal"] is True and results["loss_max_diff"] <= 1e-5, "6 steps: float rounding"
    assert results["loss_diff_by_window"] == [results["loss_max_diff"]]
    assert runs[0]["losses"][-1] < runs[0]["losses"][0], "six steps already lower the loss"
    assert results["threads"] == 1 and results["device"] == "cpu"


def test_dry_run_tables_and_files(results):
    rows = results["scaling"]
    assert rows[0]["world size"] == 1 and rows[0]["speed-up"] == rows[0]["efficiency"] == 1
    assert all(r["samples / s"] > 0 and r["efficiency"] > 0 for r in rows)
    buckets = results["runs"][1]["buckets"]
    assert len(buckets) == 2 and all(b["count"] == 4 and b["mean_ms"] > 0 for b in buckets)
    out = results["_out"]
    assert (out / lab.FIGURE).stat().st_size > 10_000
    assert json.loads((out / lab.WORKER_RESULTS).read_text())["processes"] == 2
    assert results["_stdout"].startswith("$ torchrun --standalone --nproc-per-node=2 -m "
                                         "tutorials.lec13_distributed.ddp_worker --world-sizes 1,2 ")


def _run(world_size, losses, per_s, buckets=()):
    return {"world_size": world_size, "losses": losses, "step_ms": 1e3 / per_s, "samples_per_s": per_s,
            "buckets": [{"bucket": i, "values": v, "bytes": 4 * v, "mean_ms": 1.0, "count": 3}
                        for i, v in enumerate(buckets)]}


def test_tables_from_runs():
    runs = [_run(1, [2.0, 1.0], 100.0), _run(2, [2.0, 1.0 + 3e-7], 150.0, [10, 20]),
            _run(4, [2.0 - 1e-6, 1.0], 200.0)]
    assert lab.compare_losses(runs) == pytest.approx(1e-6)
    assert lab.loss_diff_by_window(runs, window=1) == pytest.approx([1e-6, 3e-7])
    rows = lab.scaling_rows(runs)
    assert [r["speed-up"] for r in rows] == pytest.approx([1.0, 1.5, 2.0])
    assert [r["efficiency"] for r in rows] == pytest.approx([1.0, 0.75, 0.5])
    assert [(r["bucket"], r["kB"]) for r in lab.bucket_rows(runs[1])] == [(0, 0.04), (1, 0.08)]


@pytest.mark.parametrize("argv, message", [
    (["--global-batch", "30"], "30 does not split evenly over world sizes [4]"),
    (["--world-sizes", "1,3", "--global-batch", "64"], "64 does not split evenly over world sizes [3]"),
    (["--steps", "5", "--warmup", "5"], "leaves no timed step"),
])
def test_refuses_bad_sizes_before_starting(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        lab.main([*argv, "--device", "cpu", "--out-dir", str(out)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def _fake_torchrun(losses_two, returncode=0):
    def fake(target, nproc, *, args, timeout, env):
        assert target == lab.WORKER and env == {"OMP_NUM_THREADS": "1"}
        out = args[args.index("--out") + 1]
        runs = [_run(1, [2.0, 1.0], 100.0), _run(2, losses_two, 180.0, [5, 7])]
        if returncode == 0:
            with open(out, "w") as f:
                json.dump({"runs": runs, "processes": nproc, "threads": 1, "device": "cpu"}, f)
        return subprocess.CompletedProcess([], returncode, "world size 1: ...\n",
                                           "boom\nTraceback: it broke\n")
    return fake


def test_losses_that_differ_fail_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(lab, "torchrun", _fake_torchrun([2.0, 1.5]))
    with pytest.raises(SystemExit, match="the losses differ by 5.00e-01 across world sizes"):
        lab.main(["--world-sizes", "1,2", "--device", "cpu", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "max |diff| = 5.0e-01 <= 0.001: False" in out and "by steps: 1-2: 5e-01" in out
    assert (tmp_path / lab.FIGURE).is_file(), "the figure shows what differed"


def test_a_failed_torchrun_names_its_last_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(lab, "torchrun", _fake_torchrun([2.0, 1.0], returncode=1))
    with pytest.raises(RuntimeError, match="torchrun exited with status 1; its last lines:\nboom"):
        lab.main(["--world-sizes", "1,2", "--device", "cpu", "--out-dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists(), "a run that wrote nothing leaves no out-dir"
