# %% [markdown]
# # Lab 14: FSDP2 against DDP, and a sharded checkpoint
#
# The same digits classifier (scikit-learn's 8×8 images, an MLP of `--depth` hidden
# layers of `--hidden` units) trained on 2 and 4 processes of a real `gloo` process
# group (`nccl` with `--device cuda`), twice per world size from the same initial
# weights on the same batches:
#
# * **DDP** (`DistributedDataParallel`): every rank holds the whole model, its
#   gradients and Adam's state, and all-reduces the gradients;
# * **FSDP2** (`fully_shard`, ZeRO stage 3): every rank holds 1/N of each, all-gathers a
#   layer's weights just before using them and reduce-scatters the gradients.
#
# For each world size the lab measures the bytes of training state per rank, the step
# time, and checks that both runs compute the same losses. The FSDP run saves a
# **sharded checkpoint** with `torch.distributed.checkpoint` halfway (every rank writes
# its own shards); fresh processes load it into a model built with *other* weights and
# finish the run: the losses after the resume must equal the uninterrupted run's.
#
# ```
# python -m tutorials.lec14_fsdp_pipeline.lab_14_fsdp_vs_ddp --out-dir lab14        # 2 and 4 ranks
# python -m tutorials.lec14_fsdp_pipeline.lab_14_fsdp_vs_ddp --dry-run --out-dir lab14   # 2 ranks, 6 steps
# ```
#
# Results go to `<out-dir>/lab_14_results.json`, the plot to `<out-dir>/fsdp_vs_ddp.png`,
# the checkpoints to `<out-dir>/checkpoint-<N>ranks/`.

# %%
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
import torch._dynamo  # noqa: F401  (DDP and FSDP2 import it on first use: once here, not in every rank)

from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    int_list,
    parse_args_and_device,
    positive_float,
    positive_int,
    script_argv,
    write_results,
)
from tutorials.core.datasets import digits_split
from tutorials.core.distributed import launch
from tutorials.core.reporting import format_table
from tutorials.core.runtime import describe_environment
from tutorials.lec14_fsdp_pipeline.fsdp_vs_ddp import compare_worker, median_ms, resume_worker

# %% [markdown]
# ## 1. One world size: DDP, FSDP2, and the resumed FSDP2 run
#
# `compare_worker` (in `tutorials.lec14_fsdp_pipeline.fsdp_vs_ddp`) runs on every rank:
# DDP first, then FSDP2, each for `--steps` steps of AdamW on a global batch of
# `--batch-size` samples split evenly over the ranks. The global loss of each step is
# the mean of the ranks' losses (an all-reduce). Bytes are what *this* rank holds; with
# FSDP2 a parameter's local shard is `p.to_local()` (the output layer's 10 rows do not
# split evenly over 4 ranks, so rank 0 holds a little more than rank 3). A step's time
# runs from a barrier to the end of `optimizer.step()`; the median skips the first step
# (lazy initialisation).

# %%
def run_world(world: int, config: dict, data, checkpoint: Path, threads: int) -> dict:
    """Compare DDP and FSDP2 on ``world`` ranks, then resume the FSDP2 run from its checkpoint."""
    start_method = "spawn" if config["device"] == "cuda" else "fork"
    backend = "nccl" if config["device"] == "cuda" else "gloo"
    runs = launch(compare_worker, world, args=(config, data, str(checkpoint)), threads=threads,
                  backend=backend, start_method=start_method, timeout=600, show=False)
    resumed = launch(resume_worker, world, args=(config, data, str(checkpoint)), threads=threads,
                     backend=backend, start_method=start_method, timeout=600, show=False)
    rows = []
    for strategy in ("DDP", "FSDP"):
        per_rank = [r[strategy] for r in runs]
        total = [r["params"] + r["grads"] + r["optimizer"] for r in per_rank]
        rows.append({"world": world, "strategy": strategy,
                     "params_bytes": max(r["params"] for r in per_rank),
                     "grads_bytes": max(r["grads"] for r in per_rank),
                     "optimizer_bytes": max(r["optimizer"] for r in per_rank),
                     "max_total_bytes": max(total), "sum_total_bytes": sum(total),
                     "step_ms": max(median_ms(r["step_ms"]) for r in per_rank),
                     "final_loss": per_rank[0]["losses"][-1]})
    ddp, fsdp = runs[0]["DDP"]["losses"], runs[0]["FSDP"]["losses"]
    after = resumed[0]["losses"]
    save_at = resumed[0]["resumed_at"]
    return {"rows": rows, "losses": {"DDP": ddp, "FSDP": fsdp, "resumed": after},
            "ddp_vs_fsdp_max_diff": max(abs(a - b) for a, b in zip(ddp, fsdp)),
            "resume": {"saved_at": save_at, "equal": after == fsdp[save_at:],
                       "max_diff": max(abs(a - b) for a, b in zip(after, fsdp[save_at:]))},
            "checkpoint_files": sorted(p.name for p in checkpoint.iterdir())}


# %% [markdown]
# ## 2. The plot
#
# Left: bytes of training state on the busiest rank; DDP's stay flat as ranks are
# added, FSDP2's fall as 1/N. Right: the median step time. On this CPU machine FSDP2's
# steps are *slower* than DDP's: for a model this small the time goes to FSDP2's and
# DTensor's per-layer Python work and to one all-gather per layer and step, which a
# GPU run hides behind the computation (prefetching the next layer while this one
# computes). FSDP2 is for models that do not fit on one device; it buys memory with
# communication.

# %%
def plot(rows: list[dict], path: Path) -> Path:
    """Memory per rank and step time against world size, DDP and FSDP2."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for strategy, style in (("DDP", "o-"), ("FSDP", "s--")):
        mine = sorted((r for r in rows if r["strategy"] == strategy), key=lambda r: r["world"])
        worlds = [r["world"] for r in mine]
        left.plot(worlds, [r["max_total_bytes"] / 2**20 for r in mine], style, label=strategy)
        right.plot(worlds, [r["step_ms"] for r in mine], style, label=strategy)
    left.set(xlabel="ranks", ylabel="MiB per rank (params + grads + Adam)", title="training state per rank")
    right.set(xlabel="ranks", ylabel="median step (ms)", title="step time")
    for ax in (left, right):
        ax.set_xticks(sorted({r["world"] for r in rows}))
        ax.set_ylim(bottom=0)
        ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# %% [markdown]
# ## 3. The command line

# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(description="Lab 14: FSDP2 against DDP, and a sharded checkpoint.")
    p.add_argument("--world-sizes", type=int_list(minimum=1), default=[2, 4],
                   help="process counts to compare, comma-separated (default: 2,4)")
    p.add_argument("--steps", type=positive_int, default=30,
                   help="optimizer steps per run (default: %(default)s)")
    p.add_argument("--save-at", type=positive_int, default=None,
                   help="step after which the FSDP run saves its checkpoint (default: half of --steps)")
    p.add_argument("--batch-size", type=positive_int, default=64,
                   help="global batch, split evenly over the ranks (default: %(default)s)")
    p.add_argument("--hidden", type=positive_int, default=512,
                   help="hidden units per layer (default: %(default)s)")
    p.add_argument("--depth", type=positive_int, default=4, help="hidden layers (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=1e-3,
                   help="AdamW learning rate (default: %(default)s)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="intra-op threads per rank (default: %(default)s)")
    add_standard_options(p, device="cpu: gloo, forked ranks; cuda: nccl, one GPU per rank, spawned ranks",
                         device_default="cpu", seed="seed of the initial weights",
                         out_dir="write lab_14_results.json, fsdp_vs_ddp.png and the checkpoints here",
                         without_out_dir="checkpoints in a temporary folder, no other files",
                         dry_run="2 ranks, 6 steps, a small model, for a quick check")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the comparison and return its figures."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)
    if args.dry_run:
        args.world_sizes, args.steps, args.hidden, args.depth, args.batch_size = [2], 6, 128, 2, 32
    save_at = args.save_at if args.save_at is not None else args.steps // 2
    if not 0 < save_at < args.steps:
        parser.error(f"argument --save-at: must be between 1 and --steps - 1 = {args.steps - 1}, "
                     f"got {save_at}")
    for world in args.world_sizes:
        if args.batch_size % world:
            parser.error(f"argument --batch-size: {args.batch_size} does not split evenly over {world} ranks")
    if device.type == "cuda" and torch.cuda.device_count() < max(args.world_sizes):
        parser.error(f"--device cuda needs one GPU per rank: {max(args.world_sizes)} ranks, "
                     f"{torch.cuda.device_count()} GPU(s)")
    config = {"steps": args.steps, "save_at": save_at, "batch_size": args.batch_size, "hidden": args.hidden,
              "depth": args.depth, "lr": args.lr, "seed": args.seed, "device": device.type}
    x, y, _, _ = digits_split(seed=0)  # loaded once here; forked ranks share it
    with guard_run("Lab 14", args.out_dir):
        folder = Path(args.out_dir) if args.out_dir else Path(tempfile.mkdtemp(prefix="lab14-"))
        results = {"config": config, "environment": describe_environment(), "worlds": {}}
        rows = []
        for world in args.world_sizes:
            checkpoint = folder / f"checkpoint-{world}ranks"
            outcome = run_world(world, config, (x, y), checkpoint, args.threads)
            results["worlds"][str(world)] = outcome
            rows += outcome["rows"]
        results["rows"] = rows
        print(format_table([{"ranks": r["world"], "strategy": r["strategy"],
                             "MiB per rank": r["max_total_bytes"] / 2**20, "step ms": r["step_ms"],
                             "final loss": r["final_loss"]} for r in rows], floatfmt=".4g"))
        for world, outcome in results["worlds"].items():
            resume = outcome["resume"]
            diff = outcome["ddp_vs_fsdp_max_diff"]
            print(f"{world} ranks: DDP and FSDP losses differ by at most {diff:.1e}; "
                  f"resumed after step {resume['saved_at']}: losses equal to the uninterrupted run: "
                  f"{resume['equal']} ({', '.join(outcome['checkpoint_files'])})")
        if args.out_dir:
            print(f"wrote {plot(rows, folder / 'fsdp_vs_ddp.png')}")
            print(f"wrote {write_results(folder, 'lab_14_results', results)}")
    return results


# %%
if __name__ == "__main__":
    main(script_argv(notebook_default=["--out-dir", "lab_14_run"]))
