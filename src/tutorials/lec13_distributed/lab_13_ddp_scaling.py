# %% [markdown]
# # Lab 13: DDP on 1, 2 and 4 processes with torchrun
#
# `DistributedDataParallel` promises two things: the *same training* as one process
# on the whole batch, and *more samples per second* as processes are added. This lab
# measures both on a real small model (an MLP on scikit-learn's 8×8 handwritten
# digits), started the way real jobs start, with `torchrun`:
#
# * **same training**: every world size sees the same global batch per step (split
#   evenly over its ranks) from the same initial weights, so the loss of every step
#   must agree across world sizes up to float rounding; the lab checks it against
#   `--tolerance`;
# * **throughput and scaling efficiency**: samples per second over all ranks, the
#   speed-up over one process, and the efficiency `throughput(W) / (W × throughput(1))`;
# * **communication**: a DDP communication hook times the all-reduce of every
#   gradient bucket (from its launch during backward to its completion).
#
# ```
# python -m tutorials.lec13_distributed.lab_13_ddp_scaling --out-dir lab13        # 1, 2, 4 processes
# python -m tutorials.lec13_distributed.lab_13_ddp_scaling --dry-run --device cpu  # a few steps, 1 and 2
# ```
#
# The results go to `<out-dir>/lab_13_ddp_scaling_results.json` and a figure to
# `<out-dir>/lab_13_ddp_scaling.png`.

# %%
from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    int_list,
    pick_device_or_exit,
    positive_float,
    positive_int,
    script_argv,
    write_results,
)
from tutorials.core.distributed import torchrun
from tutorials.core.reporting import format_table

WORKER = "tutorials.lec13_distributed.ddp_worker"  # the module torchrun starts on every rank
RESULTS = "lab_13_ddp_scaling_results"
FIGURE = "lab_13_ddp_scaling.png"
WORKER_RESULTS = "lab_13_worker.json"  # what rank 0 of the torchrun job wrote

# %% [markdown]
# ## 1. One torchrun launch, every world size
#
# `torchrun --standalone --nproc-per-node=N` starts `N` Python processes with `RANK`,
# `LOCAL_RANK`, `WORLD_SIZE`, `MASTER_ADDR` and `MASTER_PORT` set (a rendezvous on a
# free port of this machine). Each of them imports torch — seconds per process on a
# small machine — so the lab launches once, with as many processes as the largest
# world size, and the worker (`tutorials.lec13_distributed.ddp_worker`) runs each
# world size `W` on the sub-group of ranks `0 … W-1` (`dist.new_group`) while the
# other ranks wait at a barrier. The worker's own options are the lab's, passed on.
#
# The thread count is set explicitly (`--threads`, one per process by default):
# `torchrun` sets `OMP_NUM_THREADS=1` only when the variable is unset, and processes
# that each use every core slow each other down (Lecture 13, "CPU threads").

# %%
def worker_args(args: argparse.Namespace, out: Path) -> list[str]:
    """The worker's command line for this lab run."""
    return ["--world-sizes", ",".join(map(str, args.world_sizes)), "--steps", str(args.steps),
            "--warmup", str(args.warmup), "--global-batch", str(args.global_batch),
            "--hidden", str(args.hidden), "--depth", str(args.depth), "--lr", str(args.lr),
            "--bucket-cap-mb", str(args.bucket_cap_mb),
            "--threads", str(args.threads), "--seed", str(args.seed), "--device", args.device_type,
            "--out", str(out)]


def launch_workers(args: argparse.Namespace, out: Path) -> tuple[dict, float]:
    """Run the worker under torchrun; return what rank 0 wrote and the seconds the launch took."""
    nproc = max(args.world_sizes)
    wargs = worker_args(args, out)
    print("$ " + shlex.join(["torchrun", "--standalone", f"--nproc-per-node={nproc}", "-m", WORKER, *wargs]),
          flush=True)
    start = time.perf_counter()
    done = torchrun(WORKER, nproc, args=wargs, timeout=args.timeout,
                    env={"OMP_NUM_THREADS": str(args.threads)})
    seconds = time.perf_counter() - start
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"torchrun exited with status {done.returncode}; its last lines:\n{tail}")
    return json.loads(out.read_text(encoding="utf-8")), seconds


# %% [markdown]
# ## 2. Same loss, more samples per second
#
# The losses are compared step by step with the first world size's. They are not
# bit-identical: with two ranks each computes the mean over 512 digits and DDP averages
# the two means, which rounds differently from one mean over 1024. The first steps
# differ by float32 rounding (about 1e-7); training then amplifies the differences,
# fastest while the loss falls fast (about threefold every 5 steps in the full run), so
# the lab prints the largest difference per window of steps and accepts up to
# `--tolerance` (1e-3 by default) over the whole run.
#
# Efficiency is `throughput(W) / (W × throughput(1))`: 1.0 is perfect scaling. On a
# machine with fewer cores than processes it cannot reach 1: the processes share the
# cores.

# %%
def compare_losses(runs: list[dict]) -> float:
    """The largest |loss(W, step) - loss(first W, step)| over every run and step."""
    return max(loss_diff_by_window(runs, window=len(runs[0]["losses"])) or [0.0])


def loss_diff_by_window(runs: list[dict], window: int = 10) -> list[float]:
    """The largest |loss(W, step) - loss(first W, step)| over the other runs, per window of steps."""
    first = runs[0]["losses"]
    diffs = [max((abs(r["losses"][s] - first[s]) for r in runs[1:]), default=0.0) for s in range(len(first))]
    return [max(diffs[i:i + window]) for i in range(0, len(diffs), window)]


def scaling_rows(runs: list[dict]) -> list[dict]:
    """One table row per world size: ms per step, samples per second, speed-up, efficiency."""
    base = next((r for r in runs if r["world_size"] == 1), runs[0])
    rows = []
    for r in runs:
        speedup = r["samples_per_s"] / base["samples_per_s"]
        rows.append({"world size": r["world_size"], "ms / step": r["step_ms"],
                     "samples / s": r["samples_per_s"], "speed-up": speedup,
                     "efficiency": speedup * base["world_size"] / r["world_size"]})
    return rows


def bucket_rows(run: dict) -> list[dict]:
    """One table row per gradient bucket of a run: its size and mean all-reduce time."""
    return [{"bucket": b["bucket"], "values": b["values"], "kB": b["bytes"] / 1e3,
             "all-reduce ms": b["mean_ms"], "timed": b["count"]} for b in run["buckets"]]


# %% [markdown]
# ## 3. The figure
#
# Loss per step for every world size (the curves lie on top of each other), the
# throughput against the ideal `W × throughput(1)`, and the all-reduce time of each
# bucket for the largest world size.

# %%
def plot(runs: list[dict], path: Path) -> None:
    """Draw the loss curves, the throughput and the per-bucket all-reduce times into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for r in runs:
        axes[0].plot(range(1, len(r["losses"]) + 1), r["losses"], label=f"{r['world_size']} process(es)",
                     lw=2.5 if r is runs[0] else 1.2, ls="-" if r is runs[0] else "--")
    axes[0].set(title="loss per step (same global batch)", xlabel="step", ylabel="cross-entropy")
    axes[0].legend(fontsize=8)
    sizes = [r["world_size"] for r in runs]
    base = scaling_rows(runs)[0]
    axes[1].bar([str(s) for s in sizes], [r["samples_per_s"] for r in runs], color="#4c72b0",
                label="measured")
    axes[1].plot([str(s) for s in sizes], [base["samples / s"] * s / base["world size"] for s in sizes],
                 "k--", marker="o", label="ideal")
    axes[1].set(title="throughput", xlabel="processes", ylabel="samples / s")
    axes[1].legend(fontsize=8)
    last = runs[-1]
    axes[2].bar([f"bucket {b['bucket']}\n{b['bytes'] / 1e3:.0f} kB" for b in last["buckets"]],
                [b["mean_ms"] for b in last["buckets"]], color="#dd8452")
    axes[2].set(title=f"all-reduce per bucket, {last['world_size']} processes", ylabel="ms (launch to done)")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# %% [markdown]
# ## Command line
#
# Bad values (`--world-sizes 0`, `--global-batch 30` with world size 4, `--device cuda`
# without enough GPUs) stop with a usage line naming the option (exit status 2) before
# anything is started.

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(description="Lab 13: DDP scaling on 1, 2, 4 processes with torchrun.")
    p.add_argument("--world-sizes", type=int_list(minimum=1), default=[1, 2, 4],
                   help="world sizes to compare, the first is the reference (default: 1,2,4)")
    p.add_argument("--steps", type=positive_int, default=40,
                   help="optimizer steps per run (default: %(default)s)")
    p.add_argument("--warmup", type=positive_int, default=5,
                   help="first steps left out of the timing (default: %(default)s)")
    p.add_argument("--global-batch", type=positive_int, default=1024,
                   help="digits per step over all ranks; must split evenly (default: %(default)s)")
    p.add_argument("--hidden", type=positive_int, default=512, help="MLP width (default: %(default)s)")
    p.add_argument("--depth", type=positive_int, default=3,
                   help="hidden-to-hidden layers of the MLP (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=0.1, help="SGD learning rate (default: %(default)s)")
    p.add_argument("--bucket-cap-mb", type=positive_float, default=1.0,
                   help="DDP bucket size in MiB (default 25), small so that the MLP has several "
                        "buckets (default: %(default)s)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="intra-op threads per process (default: %(default)s)")
    p.add_argument("--tolerance", type=positive_float, default=1e-3,
                   help="largest loss difference across world sizes accepted (default: %(default)s)")
    p.add_argument("--timeout", type=positive_float, default=600.0,
                   help="seconds before the whole torchrun job is killed (default: %(default)s)")
    add_standard_options(p, out_dir=f"write {RESULTS}.json and {FIGURE} here",
                         dry_run="world sizes 1 and 2, 6 steps of a small MLP, for a quick check",
                         device="cpu: gloo; cuda: nccl, one GPU per process; auto: cuda if there are "
                                "enough GPUs")
    return p


def _resolve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Apply --dry-run, check the sizes, and pick the device (importing torch only if needed)."""
    if args.dry_run:
        args.world_sizes, args.steps, args.warmup = [1, 2], 6, 2
        args.hidden, args.depth, args.global_batch, args.bucket_cap_mb = 64, 1, 32, 0.01
    if args.warmup >= args.steps:
        parser.error(f"argument --warmup: {args.warmup} leaves no timed step of the {args.steps} --steps")
    uneven = [w for w in args.world_sizes if args.global_batch % w]
    if uneven:
        parser.error(f"argument --global-batch: {args.global_batch} does not split evenly over "
                     f"world sizes {uneven}")
    if args.device == "cpu":
        args.device_type = "cpu"  # no torch import in this process: the workers import it
        return
    import torch

    device = pick_device_or_exit(parser, args.device)
    if device.type == "cuda" and torch.cuda.device_count() < max(args.world_sizes):
        if args.device == "cuda":
            parser.error(f"argument --device: cuda needs {max(args.world_sizes)} GPUs, "
                         f"this machine has {torch.cuda.device_count()}")
        device = torch.device("cpu")
    args.device_type = device.type


def main(argv: list[str] | None = None) -> dict:
    """Run the lab; return its results (also written to ``--out-dir``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _resolve(parser, args)
    with guard_run("Lab 13", args.out_dir):
        return _run(args)


def _run(args: argparse.Namespace) -> dict:
    """The body of :func:`main`, with the options checked."""
    with tempfile.TemporaryDirectory() as tmp:  # the worker's JSON: kept in --out-dir if given
        folder = Path(args.out_dir) if args.out_dir else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        data, seconds = launch_workers(args, folder / WORKER_RESULTS)
    runs = data["runs"]
    print(f"(torchrun ran {data['processes']} processes in {seconds:.1f} s, most of it starting Python "
          "and importing torch in each)")
    diff = compare_losses(runs)
    equal = diff <= args.tolerance
    window = 10
    growth = ", ".join(f"{i * window + 1}-{min((i + 1) * window, len(runs[0]['losses']))}: {d:.0e}"
                       for i, d in enumerate(loss_diff_by_window(runs, window)))
    print(f"\nlargest |loss(W) - loss({runs[0]['world_size']})| by steps: {growth}")
    print(f"loss of every step equal across world sizes {args.world_sizes}: max |diff| = {diff:.1e} "
          f"<= {args.tolerance:g}: {equal}")
    rows = scaling_rows(runs)
    print("\n" + format_table(rows, floatfmt=".3g"))
    for run in runs[1:]:
        print(f"\nall-reduce per gradient bucket, world size {run['world_size']} "
              f"(mean over the timed steps)\n" + format_table(bucket_rows(run), floatfmt=".3g"))
    results = {"config": {k: v for k, v in vars(args).items() if k != "device"}, "device": args.device_type,
               "threads": data["threads"], "runs": runs, "scaling": rows, "loss_max_diff": diff,
               "losses_equal": equal, "loss_diff_by_window": loss_diff_by_window(runs, window),
               "torchrun_seconds": seconds, "python": sys.version.split()[0]}
    if args.out_dir:
        out = Path(args.out_dir)
        plot(runs, out / FIGURE)
        path = write_results(out, RESULTS, results)
        print(f"\nwrote {path}, {out / FIGURE} and {out / WORKER_RESULTS}")
    if not equal:
        raise SystemExit(f"the losses differ by {diff:.2e} across world sizes, more than --tolerance "
                         f"{args.tolerance:g}")
    return results


# %%
if __name__ == "__main__":
    main(script_argv())

# %% [markdown]
# ## What to look for, and what to try
#
# * The losses agree to float rounding at first (about 1e-7): DDP on `W` processes *is*
#   one process on the global batch; training then amplifies the rounding differences.
#   Change `--global-batch` so that it no longer splits evenly and the lab refuses;
#   make the per-rank batch unequal in the worker and the losses drift apart
#   (Lecture 13, "unequal batch sizes").
# * On a CPU, gloo's all-reduce copies the gradients with the same cores that compute,
#   so efficiency stays below 1 even while `W × --threads` fits the cores, and falls
#   further beyond (4 processes on 2 cores share them). Try `--threads 2`, and a larger
#   `--global-batch`: more computation per step for the same communication.
# * The all-reduce of a bucket takes longer than its size alone suggests: it is
#   launched during backward and shares the cores with the backward still running,
#   and with the other buckets' all-reduces. Try a larger `--bucket-cap-mb` (fewer,
#   larger buckets) and a larger `--hidden`.
