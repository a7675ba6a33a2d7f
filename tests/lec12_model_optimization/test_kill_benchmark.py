"""The kill benchmark (Lab 2.1.6 at scale): a tiny real run and its option checks."""

import json

from tutorials.lec12_model_optimization import kill_benchmark
from tutorials.lec12_model_optimization import lab_12_checkpointing as lab


def test_one_kill_run_reports_bit_identity(tmp_path, monkeypatch):
    """The benchmark's bookkeeping, with its runs in this process (seconds instead of three
    new interpreters): real SIGKILLs and bit-identity after them are tested on the lab
    itself (test_lab_12_checkpointing.py::test_sigkills_then_bit_identical)."""

    def run_here(cmd, **kwargs):
        lab.main(cmd[3:])

    def one_kill(cmd, kills, seed, max_steps, after_kill=None, progress=None):
        lab.main(cmd[3:])  # as if killed once at step 5 and resumed to the end
        after_kill()
        return [5]

    monkeypatch.setattr(kill_benchmark.subprocess, "run", run_here)
    monkeypatch.setattr(kill_benchmark, "run_with_kills", one_kill)
    totals = kill_benchmark.main(["--kills", "1", "--per-run", "1", "--epochs", "1", "--hidden", "16",
                                  "--out-dir", str(tmp_path)])
    assert totals["ok"] and totals["runs"] == 1 and totals["runs_bit_identical"] == 1
    assert totals["kills"] == 1 and totals["checkpoint_reads_checked"] >= 1
    saved = json.loads((tmp_path / "kill_benchmark.json").read_text())
    assert saved["totals"]["kills"] == totals["kills"] and saved["runs"][0]["bit_identical"] is True
    assert saved["summary"].startswith(f"{totals['kills']} kills") and "torch" in saved["environment"]
    assert not (tmp_path / "run-000").exists(), "a passing run's directory is removed unless --keep"


def test_bad_option_is_a_usage_error(usage_error, tmp_path):
    err = usage_error(kill_benchmark.main, ["--per-run", "0", "--out-dir", str(tmp_path / "out")])
    assert "argument --per-run: expected a positive integer, got '0'" in err
    assert not (tmp_path / "out").exists()


def test_an_unreadable_checkpoint_is_named_and_fails_the_benchmark(tmp_path, monkeypatch, capsys):
    """The runs in this process; the "kill" truncates the newest checkpoint."""

    def run_here(cmd, **kwargs):
        lab.main(cmd[3:])

    def truncating_kill(cmd, kills, seed, max_steps, after_kill=None, progress=None):
        lab.main(cmd[3:])
        newest = sorted((tmp_path / "run-000" / "checkpoints").glob("ckpt-*.pt"))[-1]
        newest.write_bytes(newest.read_bytes()[:100])
        after_kill()
        return [5]

    monkeypatch.setattr(kill_benchmark.subprocess, "run", run_here)
    monkeypatch.setattr(kill_benchmark, "run_with_kills", truncating_kill)
    totals = kill_benchmark.main(["--kills", "1", "--per-run", "1", "--epochs", "1", "--hidden", "16",
                                  "--out-dir", str(tmp_path)])
    bad = tmp_path / "run-000" / "checkpoints" / "ckpt-00000023.pt"
    message = f"{bad}: checksum mismatch: the file is truncated or corrupted"
    assert totals["ok"] is False and totals["unreadable_checkpoints"] == [message]
    err = capsys.readouterr().err
    assert f"unreadable checkpoint: {message}\n" in err
    assert err.splitlines()[-1] == "kill benchmark failed: 1 unreadable checkpoint(s), listed above"
