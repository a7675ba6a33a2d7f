# %% [markdown]
# # Lab 26: hunting the NaN in a training run
#
# A training run prints `loss: nan` at step 3,000 of a 10,000-step job. This lab
# turns Lecture 26's tools into a procedure and runs it on faults injected into a
# small sequence classifier (an attention-pooling model, the kind that pads):
#
# 1. **Watch** every step: the loss and the total gradient norm (one float each),
#    keeping the weights and the batch of the current step.
# 2. **Stop** at the first step whose loss or gradient norm is not finite.
# 3. **Replay** that step from the kept weights and batch: the forward pass with a
#    hook on every module (`first_nonfinite`: the first module that returned
#    NaN/Inf, and whether its inputs were finite); if the forward pass was finite,
#    the backward pass under `torch.autograd.detect_anomaly` (the backward function
#    that returned NaN, and the forward line that created it); if neither made a
#    NaN, the parameters whose gradients overflowed.
# 4. **Look back** for the step where the gradient norm spiked: the cause is often
#    there, steps before anything was non-finite.
#
# The faults (`--faults`): `bad-batch` (one batch of data in the wrong unit),
# `empty-sequence` (a sequence without a real token: a softmax over an all `-inf`
# row), `sqrt-where` (a feature layer written as `where(h > 0, sqrt(h), 0)`: finite
# forward, NaN backward) and `none` (the control run).
#
# ```
# python -m tutorials.lec26_debugging_hpc.lab_26_nan_hunt --out-dir results/
# python -m tutorials.lec26_debugging_hpc.lab_26_nan_hunt --faults bad-batch --steps 2000 --fault-step 1500
# ```
#
# It writes `lab_26_nan_hunt.json` (each run's history and diagnosis) and
# `lab_26_grad_norms.png` into `--out-dir`. The procedure is in
# `tutorials.lec26_debugging_hpc.nan_hunt`; nothing is downloaded.

# %%
from __future__ import annotations

import argparse
import time

import torch

from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    non_negative_int,
    parse_args_and_device,
    positive_float,
    positive_int,
    script_argv,
    write_results,
)
from tutorials.core.reporting import format_table
from tutorials.core.runtime import device_label
from tutorials.lec26_debugging_hpc.figures import plot_grad_norms
from tutorials.lec26_debugging_hpc.nan_hunt import FAULTS, diagnose, train_until_nonfinite

RESULTS = "lab_26_nan_hunt"
FIGURE = "lab_26_grad_norms.png"

# %% [markdown]
# ## 1. One run: watch, stop, replay
#
# `train_until_nonfinite` keeps a copy of the weights before every step, which
# costs one copy of the model per step: fine for a small model, and in a large job
# the same idea is a checkpoint every N steps plus the indices of the batches since.
# `diagnose` needs only that copy and the batch: the replay is deterministic.

# %%
def verdict(d: dict) -> str:
    """One line: where the first non-finite value came from, per the diagnosis."""
    if d["failed_at"] is None:
        return "finite to the end"
    if d["forward"]:
        f = d["forward"]
        made = "made" if f["inputs_finite"] else "passed on"
        return f"forward: {f['module']} ({f['kind']}) {made} {f['nan']} NaN, {f['inf']} Inf"
    if d["backward"]:
        b = d["backward"]
        return f"backward: {b['function']}, from {b['forward_function']}: {b['forward_line']}"
    return f"backward: Inf gradients in {', '.join(d['overflow']) or 'the norm only'}"


def hunt(fault: str, args: argparse.Namespace, device: torch.device) -> dict:
    """Train with one fault, stop at the first non-finite value, diagnose it."""
    start = time.perf_counter()
    run = train_until_nonfinite(fault, args.steps, args.fault_step, batch_size=args.batch_size,
                                lr=args.lr, seed=args.seed, device=device)
    d = diagnose(run)
    return {"fault": fault, "steps run": len(run.history), "failed at": d["failed_at"],
            "what": d["what"], "spike at": d["spike_at"], "verdict": verdict(d), "diagnosis": d,
            "history": run.history, "seconds": time.perf_counter() - start}


# %% [markdown]
# ## Command line
#
# Bad option values (`--steps 0`, `--lr -1`, an unknown fault, a `--fault-step`
# past the last step) stop with a usage line that names the option (exit status 2).

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(
        description="Lab 26: find where the first NaN/Inf of a training run comes from.")
    p.add_argument("--faults", nargs="+", choices=FAULTS, default=list(FAULTS),
                   help="the injected faults, one run each (default: %(default)s)")
    p.add_argument("--steps", type=positive_int, default=300,
                   help="most training steps per run (default: %(default)s)")
    p.add_argument("--fault-step", type=non_negative_int, default=150,
                   help="the step whose batch the fault corrupts (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=32,
                   help="sequences per batch (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=0.05, help="SGD learning rate (default: %(default)s)")
    p.add_argument("--threads", type=non_negative_int, default=1,
                   help="intra-op CPU threads; 0 keeps torch's default (default: %(default)s)")
    add_standard_options(p, out_dir=f"write {RESULTS}.json and {FIGURE} here",
                         dry_run="40 steps per run, the fault at step 20")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab and return its results (see the table it prints)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)  # bad values: a usage error (exit status 2)
    if args.dry_run:
        args.steps, args.fault_step = 40, 20
    if args.fault_step >= args.steps:
        parser.error(f"argument --fault-step: must be below --steps ({args.steps}), got {args.fault_step}")
    with guard_run("Lab 26", args.out_dir):  # Ctrl-C: a message and exit status 130
        return _run(args, device)


def _run(args: argparse.Namespace, device: torch.device) -> dict:
    """The body of :func:`main`, with the options checked."""
    if args.threads:  # a small model: more threads only wait for each other
        torch.set_num_threads(args.threads)
    print(f"device: {device_label(device)} · torch {torch.__version__} · {args.steps} steps, "
          f"fault at step {args.fault_step}")
    runs = [hunt(fault, args, device) for fault in dict.fromkeys(args.faults)]
    columns = ("fault", "steps run", "failed at", "what", "spike at", "verdict")
    print(format_table([{k: ("-" if r[k] is None else r[k]) for k in columns} for r in runs]))
    results = {"device": device_label(device), "torch": torch.__version__, "dry_run": args.dry_run,
               "config": {k: getattr(args, k) for k in ("steps", "fault_step", "batch_size", "lr", "seed",
                                                       "threads")},
               "runs": runs}
    path = write_results(args.out_dir, RESULTS, results)
    if path is not None:
        figure = plot_grad_norms({r["fault"]: r["history"] for r in runs}, bad_step=args.fault_step,
                                 path=path.parent / FIGURE)
        print(f"wrote {path} and {figure}")
    return results


# %%
if __name__ == "__main__":
    main(script_argv())

# %% [markdown]
# ## What to try
#
# * **Bound it**: copy `train_until_nonfinite` and add `torch.nn.utils.clip_grad_norm_`
#   (Lecture 26, section 2): the `bad-batch` run then survives its spike.
# * **Skip it**: skip `opt.step()` when the norm is not finite, as `GradScaler` does,
#   and count the skipped steps; log the batch indices so the data can be fixed.
# * **Fix it**: give padding `torch.finfo(dtype).min` instead of `-inf`
#   (`empty-sequence`), and use the double `where` (`sqrt-where`); the verdicts
#   become "finite to the end".
# * **Late failures**: `--steps 2000 --fault-step 1500` shows how far from the spike
#   the first non-finite value can be, and why the spike is the thing to look for.
