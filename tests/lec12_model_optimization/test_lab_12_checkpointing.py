"""Lab 2.1.6: resume by re-running, bit-identical after SIGKILLs, corrupt checkpoints skipped.

Resuming with other options is refused (naming option, saved and new value);
--allow-config-change applies the changes it permits; a finished run says so;
Ctrl-C names the checkpoint to resume from; the kill demo fails on an unreadable
checkpoint.
"""

import json
import math
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

import docs_support
from tutorials.lec12_model_optimization import lab_12_checkpointing as lab
from tutorials.lec12_model_optimization.checkpoint import CheckpointError, read_checkpoint

FAST = ["--epochs", "3", "--batch-size", "64", "--save-every", "1", "--hidden", "32",
        "--device", "cpu"]


def test_dry_run_writes_documented_files(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    summary = docs_support.lab_dry_run("lab_12_checkpointing", lab.SUMMARY, sessions_root)
    out = summary["_out"]
    assert summary["epochs_run"] == 1 and summary["final_val_acc"] > 0.2  # chance is 0.1
    # no terminal here, so no bar: one line per epoch is the progress a log shows
    assert summary["_stdout"].startswith(f"epoch 1/1: val_acc {summary['final_val_acc']:.4f} (best so far), "
                                         "checkpoint saved at step 23\n"), summary["_stdout"]
    assert "training" not in summary["_stderr"], "no progress bar when standard error is not a terminal"
    weights = torch.load(out / lab.FINAL_WEIGHTS, weights_only=True)
    assert set(weights) == set(lab.make_model().state_dict())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, in its own process like the runs that get killed."""
    import subprocess

    out = tmp_path_factory.mktemp("reference")
    args = lab.build_parser().parse_args([*FAST, "--out-dir", str(out)])
    subprocess.run(lab.child_command(args, out), check=True, stdout=subprocess.DEVNULL)
    summary = json.loads((out / lab.SUMMARY).read_text())
    return summary, torch.load(out / lab.FINAL_WEIGHTS, weights_only=True)


# Three kills at random moments (about 5 s each: a new interpreter imports torch every
# time); the kill benchmark the page renders recorded hundreds.
SUITE_KILLS = 3


@pytest.mark.slow
def test_sigkills_then_bit_identical(reference, tmp_path):
    summary, ref_weights = reference
    args = lab.build_parser().parse_args([*FAST, "--out-dir", str(tmp_path)])
    ckpts = tmp_path / "checkpoints"
    checked = []

    def every_checkpoint_readable():
        for p in sorted(ckpts.glob("*.pt")) if ckpts.is_dir() else []:
            read_checkpoint(p)  # raises if any file on disk is unreadable
            checked.append(p.name)

    kills = lab.run_with_kills(lab.child_command(args, tmp_path), kills=SUITE_KILLS, seed=1,
                               max_steps=summary["global_step"], after_kill=every_checkpoint_readable)
    assert len(kills) >= SUITE_KILLS, f"only {len(kills)} kills landed before the run finished: {kills}"
    assert any(k > 0 for k in kills) and checked
    got = torch.load(tmp_path / lab.FINAL_WEIGHTS, weights_only=True)
    assert lab.same_weights(got, ref_weights), f"weights differ after kills at steps {kills}"


def test_corrupt_and_truncated_checkpoints_are_skipped_and_named(reference, tmp_path):
    summary, ref_weights = reference
    lab.main([*FAST, "--out-dir", str(tmp_path)])  # in this process: --threads pins the threads
    ckpts = sorted((tmp_path / "checkpoints").glob("ckpt-*.pt"))
    assert len(ckpts) == 3, "keep_last=3"
    # pretend the run was killed at the second-to-last checkpoint's step, with the
    # newest file truncated and the next one corrupted: resume must use the oldest
    ckpts[-1].write_bytes(ckpts[-1].read_bytes()[:100])
    raw = bytearray(ckpts[-2].read_bytes())
    raw[-50] ^= 0xFF
    ckpts[-2].write_bytes(bytes(raw))
    (tmp_path / lab.FINAL_WEIGHTS).unlink()
    again = lab.main([*FAST, "--out-dir", str(tmp_path)])
    assert {p.rsplit("/", 1)[-1] for p in again["skipped_checkpoints"]} == {ckpts[-1].name, ckpts[-2].name}
    got = torch.load(tmp_path / lab.FINAL_WEIGHTS, weights_only=True)
    assert lab.same_weights(got, ref_weights)


def test_early_stopping_stops_on_the_patience_th_epoch_without_improvement(tmp_path, capsys):
    """An lr too small to change a float32 weight: epoch 1 sets the best, every later epoch
    ties it; with --patience 2 the run stops on the second of them (Keras/Lightning)."""
    summary = lab.main(["--epochs", "8", "--lr", "1e-12", "--patience", "2", "--hidden", "16",
                        "--save-every", "100", "--out-dir", str(tmp_path)])
    assert summary["epochs_run"] == 3 and summary["stopped_early"] is True
    assert summary["best_epoch"] == 0 and summary["final_val_acc"] == summary["best_val_acc"]
    out = capsys.readouterr().out
    assert "epoch 3/8: val_acc" in out
    assert "; stopping early: no improvement for 2 epochs (--patience 2)" in out
    help_text = next(a.help for a in lab.build_parser()._actions if "--patience" in a.option_strings)
    assert "stop on the patience-th consecutive epoch" in help_text
    assert lab.main(["--epochs", "8", "--lr", "1e-12", "--patience", "2", "--hidden", "16",
                     "--save-every", "100", "--out-dir", str(tmp_path)])["already_finished"] is True
    assert "already finished (stopped early after epoch 3), nothing to train" in capsys.readouterr().out


def test_foreign_checkpoint_names_the_mismatch(tmp_path):
    lab.main(["--dry-run", "--out-dir", str(tmp_path)])
    state = read_checkpoint(sorted((tmp_path / "checkpoints").glob("ckpt-*.pt"))[-1])
    from tutorials.lec12_model_optimization.checkpoint import load_model_state

    msg = r"shape mismatches 0.bias: checkpoint \(128,\) vs model \(16,\)"
    with pytest.raises(CheckpointError, match=msg):
        load_model_state(lab.make_model(hidden=16), state["model"], source="x.pt")


# ---- one checkpoint, one configuration ---------------------------------------------

BASE = ["--epochs", "1", "--hidden", "16", "--save-every", "10", "--device", "cpu"]  # 23 steps


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    lab.main([*BASE, "--out-dir", str(out)])
    return out


@pytest.fixture
def run_copy(finished_run, tmp_path):
    """A private copy of a finished one-epoch run (checkpoints at steps 10, 20, 23)."""
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    return out


def _contents(out):
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("change, message", [
    (["--lr", "0.1"], "--lr 0.1 differs from the checkpoint's lr 0.05 in {ckpt}; "
                      "use the same value, another --out-dir, or --allow-config-change"),
    (["--epochs", "2"], "--epochs 2 differs from the checkpoint's epochs 1 in {ckpt}; "
                        "use the same value, another --out-dir, or --allow-config-change"),
    (["--batch-size", "32"], "--batch-size 32 differs from the checkpoint's batch_size 64 in {ckpt}; "
                             "use the same value or another --out-dir (--allow-config-change cannot "
                             "change --batch-size: "),
    (["--patience", "0", "--threads", "2"],
     "--patience 0 differs from the checkpoint's patience 3, --threads 2 differs from the checkpoint's "
     "threads 1 in {ckpt}; use the same values, another --out-dir, or --allow-config-change"),
    (["--seed", "1", "--allow-config-change"],
     "--seed 1 differs from the checkpoint's seed 0 in {ckpt}; use the same value or another --out-dir "
     "(--allow-config-change cannot change --seed: it chooses the train/validation split"),
])
def test_resuming_with_other_options_is_refused(run_copy, change, message, usage_error):
    before = _contents(run_copy)
    err = usage_error(lab.main, [*BASE, *change, "--out-dir", str(run_copy)])
    assert message.format(ckpt=run_copy / "checkpoints" / "ckpt-00000023.pt") in err
    assert _contents(run_copy) == before, "a refused resume leaves the run untouched"


def test_options_that_do_not_shape_training_may_change(run_copy, capsys):
    again = lab.main([*BASE, "--save-every", "3", "--keep-last", "1", "--progress", "off", "--verbose",
                      "--step-delay", "0", "--out-dir", str(run_copy)])
    assert again["already_finished"] is True


def test_a_finished_run_says_so(run_copy, capsys):
    before = _contents(run_copy)
    again = lab.main([*BASE, "--out-dir", str(run_copy)])
    out = capsys.readouterr().out
    assert (f"the run in {run_copy} is already finished (1 of 1 epochs done), nothing to train: final model "
            f"{run_copy / lab.FINAL_WEIGHTS}, summary {run_copy / lab.SUMMARY}; use another --out-dir") in out
    assert again["already_finished"] is True and again["global_step"] == 23
    assert _contents(run_copy) == before


def test_allow_config_change_continues_with_the_new_values(run_copy, capsys):
    argv = [*BASE, "--epochs", "2", "--lr", "0.1", "--allow-config-change", "--progress", "on",
            "--out-dir", str(run_copy)]
    summary = lab.main(argv)
    captured = capsys.readouterr()
    assert summary["epochs_run"] == 2 and summary["global_step"] == 46
    assert summary["config_changes"] == [{"step": 23, "option": "epochs", "from": 1, "to": 2},
                                         {"step": 23, "option": "lr", "from": 0.05, "to": 0.1}]
    assert "note: --allow-config-change: lr 0.05 -> 0.1 from step 23 on" in captured.out
    assert "/46" in captured.err, "the progress bar counts the steps of the longer run"
    state = read_checkpoint(run_copy / "checkpoints" / "ckpt-00000046.pt")
    assert state["config"]["lr"] == 0.1 and state["config"]["epochs"] == 2
    assert state["scheduler"]["base_lrs"] == [0.1] and state["scheduler"]["T_max"] == 46
    # the new values are now the run's: the same command finds it finished
    assert lab.main(argv)["already_finished"] is True


def test_replanned_schedule_follows_the_new_cosine():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        opt.step()
        sched.step()
    lab.replan_schedule(opt, sched, lr=0.1, total_steps=20)
    lrs = []
    for _ in range(16):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.1 * (1 + math.cos(math.pi * t / 20)) / 2 for t in range(4, 20)], abs=1e-12)


def test_bad_option_is_a_usage_error(usage_error, tmp_path):
    err = usage_error(lab.main, ["--save-every", "0", "--out-dir", str(tmp_path / "run")])
    assert "argument --save-every: expected a positive integer, got '0'" in err
    assert not (tmp_path / "run").exists()


# ---- Ctrl-C and the kill demo -------------------------------------------------------


def test_ctrl_c_names_the_checkpoint_and_the_command_to_resume(reference, tmp_path):
    """SIGINT after the first checkpoint: exit 130, one line, no traceback; the command resumes."""
    out = tmp_path / "run"
    argv = [*FAST, "--step-delay", "0.05", "--out-dir", str(out)]
    # a shell may start background jobs with SIGINT ignored: give the child the default
    proc = subprocess.Popen([sys.executable, "-m", lab.MODULE, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list(out.glob("checkpoints/ckpt-*.pt")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and not (out / lab.FINAL_WEIGHTS).exists()
    newest = sorted(out.glob("checkpoints/ckpt-*.pt"))[-1]
    assert stderr.splitlines()[-1] == (f"interrupted: resume from {newest} by running the same command "
                                       f"again: python -m {lab.MODULE} {shlex.join(argv)}")
    summary = lab.main([*FAST, "--out-dir", str(out)])  # same options (--step-delay may differ)
    got = torch.load(out / lab.FINAL_WEIGHTS, weights_only=True)
    assert summary["global_step"] == reference[0]["global_step"]
    assert lab.same_weights(got, reference[1]), "resumed after Ctrl-C: bit-identical"


def _demo_in_this_process(monkeypatch, tmp_path, damage=None):
    """The demo's runs in this process; ``damage(ckpt_dir)`` plays the part of a harmful kill."""
    def run_here(cmd, **kwargs):  # the reference run, without a subprocess
        lab.main(cmd[3:])

    def fake_kills(cmd, kills, seed, max_steps, after_kill=None, progress=None):
        lab.main(cmd[3:])
        if damage is not None:
            damage(tmp_path / "interrupted" / "checkpoints")
        after_kill()
        progress("kill 1/1: started from step 0; SIGKILL after step 5")
        return [5]

    monkeypatch.setattr(lab.subprocess, "run", run_here)
    monkeypatch.setattr(lab, "run_with_kills", fake_kills)
    return ["--demo-kill", "--dry-run", "--hidden", "16", "--out-dir", str(tmp_path)]


def test_kill_demo_fails_on_an_unreadable_checkpoint(tmp_path, monkeypatch, capsys):
    def truncate_newest(ckpts):
        newest = sorted(ckpts.glob("ckpt-*.pt"))[-1]
        newest.write_bytes(newest.read_bytes()[:100])

    argv = _demo_in_this_process(monkeypatch, tmp_path, damage=truncate_newest)
    with pytest.raises(SystemExit) as exc:
        lab.main(argv)
    ckpts = tmp_path / "interrupted" / "checkpoints"
    assert exc.value.code == f"kill demo failed: 1 unreadable checkpoint(s) in {ckpts}: ckpt-00000023.pt"
    captured = capsys.readouterr()
    assert f"unreadable checkpoint: {ckpts / 'ckpt-00000023.pt'}: checksum mismatch" in captured.err
    assert "  kill 1/1: started from step 0; SIGKILL after step 5\n" in captured.out
    assert "unreadable: 1\n" in captured.out


def test_kill_demo_run_again_starts_afresh(tmp_path, monkeypatch, capsys):
    argv = _demo_in_this_process(monkeypatch, tmp_path)
    first = lab.main(argv)
    assert first["identical"] is True and first["unreadable_checkpoints"] == []
    capsys.readouterr()
    again = lab.main(argv)  # without clearing, both runs would say "already finished"
    out = capsys.readouterr().out
    assert out.startswith(f"removed the previous demo's run in {tmp_path / 'reference'}\n"
                          f"removed the previous demo's run in {tmp_path / 'interrupted'}\n")
    assert "already finished" not in out and again["identical"] is True
    (tmp_path / "reference" / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match="holds files a training run does not write \\(notes.txt\\)"):
        lab.main(argv)
    assert (tmp_path / "reference" / "notes.txt").read_text() == "mine"


def test_ctrl_c_before_the_first_checkpoint_leaves_no_directory(tmp_path, monkeypatch, capsys):
    out = tmp_path / "new" / "run"

    def interrupted(args):
        (out / "checkpoints").mkdir(parents=True)  # what the run creates before its first save
        raise KeyboardInterrupt

    monkeypatch.setattr(lab, "train", interrupted)
    with pytest.raises(SystemExit) as exc:
        lab.main([*BASE, "--out-dir", str(out)])
    assert exc.value.code == 130 and not (tmp_path / "new").exists()
    assert capsys.readouterr().err.startswith("interrupted before the first checkpoint: nothing to resume; "
                                              f"this command starts over: python -m {lab.MODULE} ")
