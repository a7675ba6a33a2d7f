"""The kill harness of Lab 2.1.6: the child's command, kills that land, the checks after them."""

import sys
import textwrap

import torch

from tutorials.lec12_model_optimization.checkpoint import write_checkpoint
from tutorials.lec12_model_optimization.kill_resume import (
    LAB_MODULE,
    run_with_kills,
    same_weights,
    training_command,
    unreadable_checkpoints,
)


def test_training_command_passes_the_options_given_in_order(tmp_path):
    cmd = training_command(tmp_path / "run", batch_size=64, lr=0.05, device="cpu")
    assert cmd == [sys.executable, "-m", LAB_MODULE, "--out-dir", str(tmp_path / "run"),
                   "--batch-size", "64", "--lr", "0.05", "--device", "cpu", "--verbose"]
    assert training_command("r")[-3:] == ["--out-dir", "r", "--verbose"]


def test_same_weights_is_bit_for_bit():
    a = {"w": torch.ones(3), "b": torch.zeros(1)}
    assert same_weights(a, {k: v.clone() for k, v in a.items()})
    assert not same_weights(a, {"w": torch.ones(3) + 1e-7, "b": torch.zeros(1)})
    assert not same_weights(a, {"w": torch.ones(3)}), "a missing tensor differs"


def test_unreadable_checkpoints_names_each_bad_file(tmp_path):
    assert unreadable_checkpoints(tmp_path / "none") == {}
    good = write_checkpoint(tmp_path / "ckpt-00000001.pt", {"w": torch.ones(2)})
    bad = write_checkpoint(tmp_path / "ckpt-00000002.pt", {"w": torch.ones(2)})
    bad.write_bytes(bad.read_bytes()[:100])
    found = unreadable_checkpoints(tmp_path)
    assert list(found) == [str(bad)] and str(good) not in found
    assert found[str(bad)].startswith(f"{bad}: checksum mismatch")


# A stand-in for the lab: it resumes from a counter file, prints "step N" and sleeps a little.
_RESUMABLE = textwrap.dedent("""
    import pathlib, sys, time
    counter = pathlib.Path(sys.argv[1])
    done = int(counter.read_text()) if counter.exists() else 0
    if done:
        print(f"resumed from step-{done}: step {done}", flush=True)
    for step in range(done + 1, 31):
        time.sleep(0.03)
        counter.write_text(str(step))
        print(f"step {step}", flush=True)
""")


def test_run_with_kills_kills_restarts_and_finishes(tmp_path):
    counter = tmp_path / "counter"
    cmd = [sys.executable, "-c", _RESUMABLE, str(counter)]
    after, lines = [], []
    kills = run_with_kills(cmd, kills=3, seed=0, max_steps=30, after_kill=lambda: after.append(1),
                           progress=lines.append)
    assert counter.read_text() == "30", "the last, unkilled run finished"
    assert len(after) == 3 and len(lines) == 4
    assert lines[-1].startswith("the same command once more, not killed: resumed from step-")
    assert all(-1 <= k < 30 for k in kills) and any(k > 0 for k in kills), kills
    landed = [line for line in lines[:3] if "SIGKILL" in line]
    assert len(landed) == len(kills) and lines[0].startswith("kill 1/3: started from step 0; ")
