"""Training-state memory per rank, measured by adding up the bytes each rank holds.

A rank's training state is its parameters, their gradients and the optimizer's state.
Under DDP every rank holds all of it; under FSDP2 (ZeRO stage 3) each parameter is a
``DTensor`` and a rank holds only its local shard (``to_local()``), and so do the
gradients and the optimizer state built from them. :func:`state_bytes` adds up what
one rank really holds; :func:`plot_memory` draws the measurements against world size.

Example:
    >>> import torch
    >>> model = torch.nn.Linear(4, 2)
    >>> opt = torch.optim.Adam(model.parameters())
    >>> model(torch.ones(1, 4)).sum().backward()
    >>> opt.step()
    >>> state_bytes(model, opt)
    {'params': 40, 'grads': 40, 'optimizer': 88}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

__all__ = ["local_bytes", "plot_memory", "state_bytes"]


def local_bytes(t: torch.Tensor | None) -> int:
    """Bytes of ``t`` that live on this rank: a DTensor's local shard, a tensor's all.

    Args:
        t: a tensor, a ``DTensor``, or ``None`` (a parameter without a gradient).
    """
    if t is None:
        return 0
    from torch.distributed.tensor import DTensor

    if isinstance(t, DTensor):
        t = t.to_local()
    return t.numel() * t.element_size()


def state_bytes(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, int]:
    """The bytes of training state this rank holds, by kind.

    Args:
        model: the model (plain, DDP-wrapped or FSDP-sharded).
        optimizer: its optimizer, after at least one ``step()`` (Adam creates its
            state lazily, in the first step).

    Returns:
        ``{"params": ..., "grads": ..., "optimizer": ...}`` in bytes. The optimizer's
        part counts every tensor in its state (for Adam: ``exp_avg``, ``exp_avg_sq``
        and the 4-byte ``step`` counter of each parameter tensor).
    """
    params = list(model.parameters())
    return {
        "params": sum(local_bytes(p) for p in params),
        "grads": sum(local_bytes(p.grad) for p in params),
        "optimizer": sum(local_bytes(v) for state in optimizer.state.values()
                         for v in state.values() if isinstance(v, torch.Tensor)),
    }


def plot_memory(rows: Sequence[Mapping], path: str | Path, title: str = "") -> Path:
    """Stacked bars of parameter, gradient and optimizer bytes per rank, DDP next to FSDP.

    Args:
        rows: one mapping per (world size, strategy) with keys ``world``, ``strategy``
            (``"DDP"`` or ``"FSDP"``), ``params``, ``grads``, ``optimizer`` (bytes).
        path: the PNG to write.
        title: the figure's title.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    worlds = sorted({r["world"] for r in rows})
    kinds = [("params", "parameters", "#4c72b0"), ("grads", "gradients", "#55a868"),
             ("optimizer", "Adam state", "#dd8452")]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.36
    for j, strategy in enumerate(("DDP", "FSDP")):
        for i, world in enumerate(worlds):
            (row,) = [r for r in rows if r["world"] == world and r["strategy"] == strategy]
            x = i + (j - 0.5) * (width + 0.04)
            bottom = 0.0
            for key, label, color in kinds:
                kib = row[key] / 1024
                ax.bar(x, kib, width, bottom=bottom, color=color, hatch="//" if strategy == "FSDP" else None,
                       edgecolor="white", label=label if (i, j) == (0, 0) else None)
                bottom += kib
            ax.text(x, bottom, strategy, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(worlds)), [f"{w} rank{'s' if w > 1 else ''}" for w in worlds])
    ax.set_ylabel("training state per rank (KiB)")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    ax.margins(y=0.12)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
