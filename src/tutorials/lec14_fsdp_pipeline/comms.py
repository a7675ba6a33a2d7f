"""Which collectives FSDP2 issues, read from a ``torch.profiler`` profile.

FSDP2 labels its work with ``record_function``: ``FSDP::all_gather (blocks.0)`` before
a group's forward, ``FSDP::post_backward_reduce (blocks.0)`` after its backward (the
root's labels carry no module name). Inside each label the process group's operator
runs: ``c10d::_allgather_base_`` or ``c10d::_reduce_scatter_base_``. On a CPU profile
both show as CPU events with their tensors' shapes (``record_shapes=True``), so a
profile of one step says which collective ran for which group, in which order, and
how many elements it moved. :func:`fsdp_collectives` reads them out.

On a machine without a GPU, kineto (the profiler's C++ library) logs
``gpuGetDeviceCount failed`` and its ``profiler_start`` probes to standard error when a
profile ends; ``KINETO_LOG_LEVEL=6``, set before the first profile of a process, turns
that log off (Lecture 7).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


__all__ = ["OPS", "fsdp_collectives", "format_collectives"]

#: c10d operator -> the collective's name, and which input is the full (unsharded) tensor.
OPS = {
    "c10d::_allgather_base_": ("all-gather", 0),  # inputs: (output = full, input = shard)
    "c10d::_reduce_scatter_base_": ("reduce-scatter", 1),  # inputs: (output = shard, input = full)
    "c10d::allreduce_": ("all-reduce", 0),
}


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def fsdp_collectives(prof: torch.profiler.profile) -> list[dict]:
    """The collectives in a profile, in the order they were issued, with their FSDP group.

    Args:
        prof: a finished ``torch.profiler.profile`` (CPU activity,
            ``record_shapes=True``).

    Returns:
        One dict per collective: ``op`` (``"all-gather"``, ``"reduce-scatter"``,
        ``"all-reduce"``), ``group`` (the module whose parameters it moved, ``"root"``
        for the root's own), ``full`` and ``shard`` (elements of the unsharded tensor
        and of this rank's shard; ``shard`` is ``full`` for an all-reduce).
    """
    found = []
    for event in prof.events():
        if event.name not in OPS:
            continue
        op, full_at = OPS[event.name]
        parent = event.cpu_parent
        while parent is not None and not parent.name.startswith("FSDP::"):
            parent = parent.cpu_parent
        m = re.search(r"\((.+)\)$", parent.name) if parent is not None else None
        group = m.group(1) if m else ("root" if parent is not None else "-")
        shapes = [s for s in event.input_shapes if s]
        full = _numel(shapes[full_at])
        shard = full if op == "all-reduce" else _numel(shapes[1 - full_at])
        found.append({"start": event.time_range.start, "op": op, "group": group, "full": full,
                      "shard": shard})
    found.sort(key=lambda c: c["start"])
    for c in found:
        del c["start"]
    return found


def format_collectives(collectives: list[dict]) -> str:
    """One line per collective: ``all-gather     blocks.0   8256 -> 16512 elements``."""
    lines = []
    for c in collectives:
        a, b = (c["shard"], c["full"]) if c["op"] == "all-gather" else (c["full"], c["shard"])
        lines.append(f"{c['op']:14} {c['group']:9} {a:6} -> {b:6} elements")
    return "\n".join(lines)
