"""A two-process job for ``torchrun``: what a TorchX ``dist.ddp`` component launches, without TorchX.

Run it with::

    torchrun --standalone --nproc-per-node=2 -m tutorials.lec08_torch_export.torchrun_job

``torchrun`` starts one Python process per rank with ``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` set (``--standalone``: a rendezvous
on this machine, on a free port). Each process joins the same ``gloo`` process group
(``init_method="env://"`` reads those variables), adds its rank + 1 into a tensor with
``all_reduce``, and sends rank 0 what it saw of its environment; only rank 0 prints, so
the output does not depend on which process writes first.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["LAUNCH_VARIABLES", "main", "missing_launch_variables"]

#: What ``torchrun`` (and TorchX's schedulers, and Slurm/Kubernetes launchers) set for each process.
LAUNCH_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def missing_launch_variables(environ: dict[str, str] | None = None) -> list[str]:
    """The launch variables absent from ``environ`` (default: this process's environment)."""
    environ = os.environ if environ is None else environ
    return [name for name in LAUNCH_VARIABLES if name not in environ]


def main() -> dict:
    """Join the process group, all-reduce, report from rank 0; return what this rank computed.

    Returns:
        ``{"rank", "world_size", "sum", "seen"}``: ``seen`` is every rank's
        ``(RANK, LOCAL_RANK, WORLD_SIZE)`` as rank 0 gathered them.

    Raises:
        SystemExit: not started by a launcher (a launch variable is missing); the message
            says which and how to start the script.
    """
    missing = missing_launch_variables()
    if missing:
        raise SystemExit(
            f"torchrun_job: {', '.join(missing)} not set: start it with "
            "`torchrun --standalone --nproc-per-node=2 -m tutorials.lec08_torch_export.torchrun_job`"
        )
    dist.init_process_group("gloo", init_method="env://")  # CPU collectives; "nccl" on GPUs
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        total = torch.tensor([float(rank + 1)])
        dist.all_reduce(total, op=dist.ReduceOp.SUM)  # every rank ends with the same sum
        mine = tuple(int(os.environ[name]) for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
        seen = [None] * world
        dist.all_gather_object(seen, mine)
        if rank == 0:
            print(f"one gloo process group, world size {world}")
            for r, local, size in seen:
                print(f"rank {r}: LOCAL_RANK={local} WORLD_SIZE={size}")
            print(f"all_reduce(SUM) of rank + 1 over the ranks: {total.item():.0f}")
        return {"rank": rank, "world_size": world, "sum": total.item(), "seen": seen}
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
