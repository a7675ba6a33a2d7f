"""Kill a training run at random moments, restart it, and check what it resumed to.

Lab 2.1.6 claims that a run killed with ``SIGKILL`` at any moment (in the middle
of a step, or of writing a checkpoint) and restarted with the same command ends
with the weights of a run that was never interrupted, bit for bit, and that no
kill leaves an unreadable checkpoint behind. Its kill demo and the kill benchmark
(:mod:`tutorials.lec12_model_optimization.kill_benchmark`) test the claim with
the pieces of this module:

* :func:`training_command`: the command line of one run of the lab, in its own
  process (a kill must not take the test down with it);
* :func:`run_with_kills`: start that command, kill it, start it again, …, then
  let it finish;
* :func:`unreadable_checkpoints` and :func:`same_weights`: what is checked after
  each kill and at the end.

Examples:
    >>> cmd = training_command("run1", epochs=2, batch_size=64)
    >>> cmd[1:]  # doctest: +NORMALIZE_WHITESPACE
    ['-m', 'tutorials.lec12_model_optimization.lab_12_checkpointing', '--out-dir', 'run1',
     '--epochs', '2', '--batch-size', '64', '--verbose']
    >>> import torch
    >>> same_weights({"w": torch.ones(2)}, {"w": torch.ones(2)})
    True
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from tutorials.lec12_model_optimization.checkpoint import read_checkpoint

__all__ = [
    "FINAL_WEIGHTS",
    "LAB_MODULE",
    "SUMMARY",
    "run_with_kills",
    "same_weights",
    "training_command",
    "unreadable_checkpoints",
]

#: The module ``python -m`` runs: the checkpointing lab.
LAB_MODULE = "tutorials.lec12_model_optimization.lab_12_checkpointing"
#: What a finished run writes into its ``--out-dir``, next to ``checkpoints/``:
#: the final ``state_dict`` and the summary.
FINAL_WEIGHTS = "final_model.pt"
SUMMARY = "summary.json"


def training_command(out_dir: str | Path, **options: object) -> list[str]:
    """The command line of one training run of Lab 2.1.6 in ``out_dir``, printing every step.

    Args:
        out_dir: the run's ``--out-dir`` (where it resumes from, if it holds checkpoints).
        **options: the lab's options by their ``argparse`` names (``batch_size=64``
            becomes ``--batch-size 64``), in the order given; the others keep the
            lab's defaults.

    Returns:
        ``[python, "-m", LAB_MODULE, "--out-dir", out_dir, ...options, "--verbose"]``:
        ``--verbose`` prints a ``step N`` line per step, which :func:`run_with_kills` reads.
    """
    flags = [item for key, value in options.items() for item in (f"--{key.replace('_', '-')}", str(value))]
    return [sys.executable, "-m", LAB_MODULE, "--out-dir", str(out_dir), *flags, "--verbose"]


def run_with_kills(cmd: list[str], kills: int, seed: int, max_steps: int,
                   after_kill: Callable[[], None] | None = None,
                   progress: Callable[[str], None] | None = None) -> list[int]:
    """Start ``cmd``, SIGKILL it at a random moment, repeat ``kills`` times, then let it finish.

    Most kills land a random number of steps into the run plus a random fraction of
    a step (often inside a checkpoint write); one in four lands at a random time
    after the process starts (during imports, or while loading the checkpoint).

    Args:
        cmd: the training command (it must print ``step N`` lines).
        kills: how many times to kill it.
        seed: seeds the choice of kill moments.
        max_steps: steps of a whole run, to spread the kills over it.
        after_kill: optional callback run after each kill (the tests check that
            every checkpoint on disk is still readable).
        progress: optional callback given one line per attempt and one for the
            final run (the demo prints them).

    Returns:
        The last step printed before each kill (-1 for a kill before any step).
    """
    rng = random.Random(seed)
    killed_at = []
    for attempt in range(1, kills + 1):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        last_step = None  # None: no kill was sent (the run finished first)
        started = time.perf_counter()
        printed = []
        if rng.random() < 0.25:
            time.sleep(rng.random() * 3.0)
            proc.send_signal(signal.SIGKILL)
            last_step = -1
        else:
            target, seen = rng.randint(1, max(1, max_steps // (2 * kills) + 1)), 0
            for line in proc.stdout:
                printed.append(line)
                if line.startswith("step "):
                    seen += 1
                    if seen >= target:
                        time.sleep(rng.random() * 0.02)  # somewhere inside the next step
                        proc.send_signal(signal.SIGKILL)
                        last_step = int(line.split()[1])
                        break
        printed += proc.communicate()[0].splitlines()
        if after_kill is not None:
            after_kill()
        landed = last_step is not None and proc.returncode == -signal.SIGKILL
        if landed:
            killed_at.append(last_step)
        if progress is not None:
            start = _start_of(printed)
            when = (f"{time.perf_counter() - started:.1f} s after start, before its first step"
                    if last_step == -1 else f"after step {last_step}")
            progress(f"kill {attempt}/{kills}: {start}; " + (f"SIGKILL {when}" if landed else
                                                             "the run finished before the kill"))
    final = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    if progress is not None:
        progress(f"the same command once more, not killed: {_start_of(final.stdout.splitlines())}; "
                 "ran to the end")
    return killed_at


def _start_of(printed: list[str]) -> str:
    """Where a run started, from the lines it printed ("resumed from ckpt-…pt" or step 0)."""
    resumed = [line.split(":")[0] for line in printed if line.startswith("resumed from ")]
    return resumed[0] if resumed else "started from step 0"


def same_weights(a: dict, b: dict) -> bool:
    """Whether two state_dicts hold the same tensors, bit for bit (``torch.equal``)."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def unreadable_checkpoints(ckpt_dir: Path) -> dict[str, str]:
    """Every checkpoint file in ``ckpt_dir`` that does not verify: path -> error.

    A missing directory holds no checkpoint, so none is unreadable.
    """
    found = {}
    for p in sorted(ckpt_dir.glob("*.pt")) if ckpt_dir.is_dir() else []:
        try:
            read_checkpoint(p)
        except Exception as err:  # report every unreadable file; the caller decides
            found[str(p)] = str(err)
    return found
