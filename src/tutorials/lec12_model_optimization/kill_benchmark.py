"""Kill benchmark for Lab 2.1.6: many SIGKILLs, every resumed run bit-identical.

The test suite kills the checkpointing lab 3 times (about 20 seconds). This script
does the same at scale: one uninterrupted reference run, then ``--kills`` SIGKILLs
spread over several resumed runs (``--per-run`` kills each, each run in a fresh
directory with its own random kill moments). After every kill it checks that every
checkpoint on disk verifies, and notes whether the kill landed inside a checkpoint
write (a temporary file was left behind). After every run it compares the final
weights with the reference, tensor by tensor with ``torch.equal``::

    python -m tutorials.lec12_model_optimization.kill_benchmark --kills 200 --out-dir kill_bench

It prints a table per run and the totals, writes ``kill_benchmark.json`` into
``--out-dir``, and exits with status 1 if any run was not bit-identical or any
checkpoint was unreadable.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from tutorials.core.cli import add_standard_options, guard_run, positive_int, write_results
from tutorials.core.reporting import format_table
from tutorials.lec12_model_optimization.kill_resume import (
    FINAL_WEIGHTS,
    SUMMARY,
    run_with_kills,
    same_weights,
    training_command,
    unreadable_checkpoints,
)


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's command-line options."""
    p = argparse.ArgumentParser(description="SIGKILL the checkpointing lab many times; check bit-identity.")
    p.add_argument("--kills", type=positive_int, default=200, help="total SIGKILLs (default: %(default)s)")
    p.add_argument("--per-run", type=positive_int, default=20,
                   help="kills per resumed run; each run starts in a fresh directory (default: %(default)s)")
    p.add_argument("--epochs", type=positive_int, default=3,
                   help="epochs of each training run (default: %(default)s)")
    p.add_argument("--hidden", type=positive_int, default=128,
                   help="hidden width of the model (default: %(default)s)")
    p.add_argument("--save-every", type=positive_int, default=1,
                   help="optimizer steps between checkpoints; 1 makes kills inside writes common "
                        "(default: %(default)s)")
    p.add_argument("--keep", action="store_true",
                   help="keep every run's directory instead of deleting it once checked "
                        "(default: %(default)s)")
    add_standard_options(p, seed="seeds the kill moments", device=None, dry_run=None,
                         out_dir="working directory and results", out_dir_default="kill_bench")
    return p


def _command(args: argparse.Namespace, run_dir: Path) -> list[str]:
    """One training run of the lab in ``run_dir``: the lab's defaults but for these options."""
    return training_command(run_dir, epochs=args.epochs, hidden=args.hidden, save_every=args.save_every,
                            batch_size=64, device="cpu")


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark and return its figures (``ok`` is False on any failure)."""
    args = build_parser().parse_args(argv)  # bad values: a usage error (exit status 2)
    with guard_run("the kill benchmark", args.out_dir):  # Ctrl-C: a message and exit status 130
        return _run(args)


def _run(args: argparse.Namespace) -> dict:
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    ref_dir = out / "reference"
    shutil.rmtree(ref_dir, ignore_errors=True)
    subprocess.run(_command(args, ref_dir), check=True, stdout=subprocess.DEVNULL)
    steps = json.loads((ref_dir / SUMMARY).read_text())["global_step"]
    reference = torch.load(ref_dir / FINAL_WEIGHTS, weights_only=True)

    rows, unreadable = [], []
    for r in range(math.ceil(args.kills / args.per_run)):
        wanted = min(args.per_run, args.kills - r * args.per_run)
        run_dir = out / f"run-{r:03d}"
        shutil.rmtree(run_dir, ignore_errors=True)
        ckpt_dir = run_dir / "checkpoints"
        seen_tmp: set[str] = set()
        per_kill = {"mid_write": 0, "checked_files": 0}

        def after_kill(ckpt_dir=ckpt_dir, seen_tmp=seen_tmp, per_kill=per_kill) -> None:
            if not ckpt_dir.is_dir():
                return
            tmp = {p.name for p in ckpt_dir.glob(".*.tmp-*")}
            if tmp - seen_tmp:  # a temporary file this kill left behind: it landed inside a write
                per_kill["mid_write"] += 1
            seen_tmp |= tmp
            per_kill["checked_files"] += len(list(ckpt_dir.glob("*.pt")))
            # collect every unreadable file; the run fails below
            for path, err in unreadable_checkpoints(ckpt_dir).items():
                unreadable.append(err if err.startswith(path) else f"{path}: {err}")

        t0 = time.perf_counter()
        kills = run_with_kills(_command(args, run_dir), kills=wanted, seed=args.seed * 10_000 + r,
                               max_steps=steps, after_kill=after_kill)
        got = torch.load(run_dir / FINAL_WEIGHTS, weights_only=True)
        identical = same_weights(got, reference)
        rows.append({"run": r, "kills": len(kills), "before_first_step": sum(k < 0 for k in kills),
                     "inside_a_write": per_kill["mid_write"], "files_checked": per_kill["checked_files"],
                     "bit_identical": identical, "seconds": round(time.perf_counter() - t0, 1)})
        print(format_table([rows[-1]]), flush=True)
        if identical and not args.keep:
            shutil.rmtree(run_dir)

    totals = {
        "runs": len(rows),
        "kills": sum(r["kills"] for r in rows),
        "kills_before_first_step": sum(r["before_first_step"] for r in rows),
        "kills_inside_a_write": sum(r["inside_a_write"] for r in rows),
        "checkpoint_reads_checked": sum(r["files_checked"] for r in rows),
        "unreadable_checkpoints": unreadable,
        "runs_bit_identical": sum(r["bit_identical"] for r in rows),
        "steps_per_run": steps,
        "seconds": round(time.perf_counter() - started, 1),
    }
    totals["ok"] = totals["runs_bit_identical"] == len(rows) and not unreadable
    summary = (
        f"{totals['kills']} kills ({totals['kills_inside_a_write']} inside a checkpoint write, "
        f"{totals['kills_before_first_step']} before the first step) over {len(rows)} runs of "
        f"{steps} steps; {totals['checkpoint_reads_checked']} checkpoint reads after kills, "
        f"{len(unreadable)} unreadable; {totals['runs_bit_identical']}/{len(rows)} runs bit-identical; "
        f"{totals['seconds']:.0f} s"
    )
    print(format_table(rows))
    print(summary)
    for line in unreadable:  # each one contradicts the atomic write: name them
        print(f"unreadable checkpoint: {line}", file=sys.stderr)
    if not totals["ok"]:
        reasons = [f"{len(unreadable)} unreadable checkpoint(s), listed above"] if unreadable else []
        failed = [str(r["run"]) for r in rows if not r["bit_identical"]]
        if failed:
            reasons.append(f"run(s) {', '.join(failed)} not bit-identical (kept under {out})")
        print("kill benchmark failed: " + "; ".join(reasons), file=sys.stderr)
    environment = {"torch": torch.__version__, "python": platform.python_version(),
                   "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
                   "date": datetime.date.today().isoformat()}
    options = {k: v for k, v in vars(args).items() if k not in ("out_dir", "keep")}
    write_results(out, "kill_benchmark", {"options": options, "environment": environment, "runs": rows,
                                          "totals": totals, "summary": summary})
    return totals


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
