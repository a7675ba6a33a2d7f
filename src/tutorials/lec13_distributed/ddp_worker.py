"""The worker Lecture 13's lab starts with ``torchrun``: DDP on 1, 2, 4 ... of its processes.

Run it as ``torchrun --standalone --nproc-per-node=4 -m tutorials.lec13_distributed.ddp_worker
--world-sizes 1,2,4 --out results.json`` (the lab does, through
:func:`tutorials.core.distributed.torchrun`). One launch serves every world size: for each
``W`` in ``--world-sizes`` all processes create the sub-group of ranks ``0 .. W-1``
(``dist.new_group``), those ranks train the same MLP on scikit-learn's digits with
``DistributedDataParallel`` on that group, and the others wait at a barrier. Starting
Python and importing torch costs seconds per process on a small machine; a sub-group
costs milliseconds.

Every world size sees the same *global* batch of ``--global-batch`` digits per step, split
evenly over its ranks, from the same initial weights: DDP averages the ranks' gradients,
so every world size follows the same trajectory up to float rounding. Each run records
the loss of every step, the time per step after ``--warmup`` steps, and, through a
communication hook (:mod:`tutorials.lec13_distributed.ddp_tools`), the launch-to-completion
time of each bucket's all-reduce. Rank 0 writes them all to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from tutorials.core.cli import int_list, positive_float, positive_int

__all__ = ["build_parser", "main", "make_model", "run_one", "step_indices", "train_world_sizes"]


def build_parser() -> argparse.ArgumentParser:
    """The worker's options (the lab passes them through torchrun)."""
    p = argparse.ArgumentParser(description="DDP training of a digits MLP on nested process groups.")
    p.add_argument("--world-sizes", type=int_list(minimum=1), default=[1, 2],
                   help="world sizes to train with, each <= the number of processes (default: 1,2)")
    p.add_argument("--steps", type=positive_int, default=20,
                   help="optimizer steps per run (default: %(default)s)")
    p.add_argument("--warmup", type=positive_int, default=3,
                   help="first steps left out of the timing; DDP rebuilds its buckets after step 1 "
                        "(default: %(default)s)")
    p.add_argument("--global-batch", type=positive_int, default=64,
                   help="digits per step over all ranks (default: %(default)s)")
    p.add_argument("--hidden", type=positive_int, default=128, help="MLP width (default: %(default)s)")
    p.add_argument("--depth", type=positive_int, default=2,
                   help="hidden-to-hidden layers of the MLP (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=0.05, help="SGD learning rate (default: %(default)s)")
    p.add_argument("--bucket-cap-mb", type=positive_float, default=0.1,
                   help="DDP bucket size in MiB (default: %(default)s)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="intra-op threads per process (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="weights and data order (default: %(default)s)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu: gloo; cuda: nccl, one GPU per process (default: %(default)s)")
    p.add_argument("--out", default=None, help="JSON file rank 0 writes (default: %(default)s, none)")
    return p


def make_model(hidden: int, depth: int = 1) -> nn.Sequential:
    """The lab's MLP: 64 pixels -> hidden, ``depth`` x (hidden -> hidden), -> 10 classes.

    No dropout: nothing random differs between the ranks.

    Examples:
        >>> [type(m).__name__ for m in make_model(8, depth=1)]
        ['Linear', 'ReLU', 'Linear', 'ReLU', 'Linear']
    """
    layers: list[nn.Module] = [nn.Linear(64, hidden), nn.ReLU()]
    for _ in range(depth):
        layers += [nn.Linear(hidden, hidden), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(hidden, 10))


def step_indices(step: int, global_batch: int, n: int, order: torch.Tensor, rank: int,
                 world_size: int) -> torch.Tensor:
    """The sample indices rank ``rank`` of ``world_size`` trains on at ``step``.

    The global batch of a step is the same whatever the world size: ``global_batch``
    consecutive entries of ``order`` (cycling over the ``n`` samples); rank ``r`` takes the
    ``r``-th of ``world_size`` equal slices of it.

    Examples:
        >>> order = torch.arange(10)
        >>> step_indices(0, 4, 10, order, 1, 2).tolist(), step_indices(3, 4, 10, order, 0, 1).tolist()
        ([2, 3], [2, 3, 4, 5])
    """
    if global_batch % world_size:
        raise ValueError(f"step_indices: global batch {global_batch} does not split over {world_size} ranks")
    per_rank = global_batch // world_size
    positions = (step * global_batch + rank * per_rank + torch.arange(per_rank)) % n
    return order[positions]


def run_one(group, args: argparse.Namespace, x: torch.Tensor, y: torch.Tensor,
            device: torch.device) -> dict:
    """Train one run with DDP on ``group`` (this rank is a member); return its measurements.

    Returns:
        ``{"world_size", "losses", "step_ms", "samples_per_s", "buckets"}``: the global
        mean loss of every step, the mean time of the steps after the warm-up, the
        throughput over all ranks, and per bucket ``{"bucket", "values", "bytes",
        "mean_ms", "count"}`` over the timed steps.
    """
    from torch.nn.parallel import DistributedDataParallel as DDP

    from tutorials.lec13_distributed.ddp_tools import BucketLog, recording_allreduce_hook

    rank, world_size = dist.get_rank(group), dist.get_world_size(group)
    torch.manual_seed(args.seed)  # the same initial weights in every run
    model = make_model(args.hidden, args.depth).to(device)
    ddp = DDP(model, process_group=group, bucket_cap_mb=args.bucket_cap_mb,
              device_ids=[device.index] if device.type == "cuda" else None)
    log = BucketLog(group=group)
    ddp.register_comm_hook(log, recording_allreduce_hook)
    opt = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=0.9)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))
    losses, start = [], 0.0
    for step in range(args.steps):
        if step == args.warmup:  # time from here, every rank starting together
            dist.barrier(group)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            log.records.clear()
            start = time.perf_counter()
        idx = step_indices(step, args.global_batch, len(x), order, rank, world_size)
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(ddp(xb), yb)  # this rank's mean
        loss.backward()  # DDP averages the gradients over the group, bucket by bucket
        opt.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean, group=group)  # equal slices: the mean of means is the global mean
        losses.append(mean.item() / world_size)  # .item() waits for the device: once per step
    dist.barrier(group)
    elapsed = time.perf_counter() - start
    timed = args.steps - args.warmup
    buckets: dict[int, dict] = {}
    for r in log.records:
        b = buckets.setdefault(r["bucket"], {"bucket": r["bucket"], "values": r["values"],
                                             "bytes": r["bytes"], "seconds": 0.0, "count": 0})
        if r["done"] is not None:
            b["seconds"] += r["done"] - r["launched"]
            b["count"] += 1
    return {
        "world_size": world_size,
        "losses": losses,
        "step_ms": 1e3 * elapsed / timed,
        "samples_per_s": args.global_batch * timed / elapsed,
        "buckets": [{"bucket": b["bucket"], "values": b["values"], "bytes": b["bytes"], "count": b["count"],
                     "mean_ms": 1e3 * b["seconds"] / max(b["count"], 1)} for _, b in sorted(buckets.items())],
    }


def train_world_sizes(args: argparse.Namespace, device: torch.device) -> list[dict]:
    """Inside a process group: one DDP run per world size in ``args.world_sizes``, on sub-groups.

    Every process must call it (creating a group is collective); ranks outside a run's
    group wait at a barrier. Rank 0 takes part in every run and prints one line per run.

    Returns:
        This rank's results of :func:`run_one`, one per run it took part in.
    """
    from tutorials.core.datasets import digits_split

    x, y, _, _ = digits_split(seed=args.seed)
    x, y = x.to(device), y.to(device)
    results = []
    for w in args.world_sizes:
        group = dist.new_group(list(range(w)))  # every process takes part in creating it
        if dist.get_rank() < w:
            result = run_one(group, args, x, y, device)
            results.append(result)
            if dist.get_rank() == 0:
                print(f"world size {w}: loss {result['losses'][0]:.4f} -> {result['losses'][-1]:.4f}, "
                      f"{result['step_ms']:.2f} ms/step", flush=True)
        dist.barrier()  # the others wait here (blocked in a receive, not spinning)
    return results


def main(argv: list[str] | None = None) -> list[dict] | None:
    """Join the process group torchrun prepared, train every world size, write the results on rank 0.

    Returns:
        On rank 0, one result of :func:`run_one` per world size; ``None`` on the other ranks.

    Raises:
        SystemExit: not started by torchrun (no ``RANK``), or a world size larger than the
            number of processes, or ``--global-batch`` that does not split over a world size.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if "RANK" not in os.environ:
        parser.error("start it with torchrun: torchrun --standalone --nproc-per-node=N "
                     "-m tutorials.lec13_distributed.ddp_worker ...")
    torch.set_num_threads(args.threads)  # torchrun sets OMP_NUM_THREADS=1 only when it is unset
    if args.device == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")  # env:// from torchrun
    try:
        world = dist.get_world_size()
        too_big = [w for w in args.world_sizes if w > world]
        uneven = [w for w in args.world_sizes if args.global_batch % w]
        if too_big or uneven:
            parser.error(f"world sizes {too_big} exceed the {world} processes" if too_big else
                         f"--global-batch {args.global_batch} does not split over world sizes {uneven}")
        results = train_world_sizes(args, device)
        if dist.get_rank() != 0:
            return None
        if args.out:
            Path(args.out).write_text(json.dumps({"runs": results, "processes": world,
                                                  "threads": torch.get_num_threads(),
                                                  "device": device.type}, indent=1) + "\n")
        return results
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
