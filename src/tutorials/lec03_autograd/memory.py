"""How many bytes does the autograd graph keep alive for backward?

:func:`saved_tensor_report` runs a function under
``torch.autograd.graph.saved_tensors_hooks`` and records every tensor the graph
saves for backward. Tensors that share storage with the inputs cost no new memory
(the caller holds the input anyway), so the report separates them.

Examples:
    >>> import torch
    >>> x = torch.randn(1000, requires_grad=True)
    >>> r = saved_tensor_report(torch.sigmoid, x)
    >>> r.count, r.extra_bytes   # sigmoid saves its output: 1000 float32 values
    (1, 4000)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["SavedTensorReport", "saved_tensor_report"]


@dataclass
class SavedTensorReport:
    """What a forward pass saved for backward.

    Attributes:
        count: number of tensors packed by the graph.
        total_bytes: their total size, counting each storage once.
        extra_bytes: bytes in storages that are not the inputs' (new memory held).
        shapes: shape of each saved tensor, in the order they were saved.
    """

    count: int = 0
    total_bytes: int = 0
    extra_bytes: int = 0
    shapes: list[tuple[int, ...]] = field(default_factory=list)


def saved_tensor_report(fn: Callable[..., Tensor], *inputs: Tensor) -> SavedTensorReport:
    """Run ``fn(*inputs)`` and measure the tensors its graph saves for backward.

    Args:
        fn: the forward computation, for example ``F.silu`` or ``SwishFunction.apply``.
        *inputs: its tensor inputs; at least one must require grad, or nothing is saved.

    Returns:
        A :class:`SavedTensorReport`. The output of ``fn`` is dropped afterwards.

    Raises:
        ValueError: no input requires grad (the report would be trivially empty).
    """
    if not any(isinstance(t, Tensor) and t.requires_grad for t in inputs):
        raise ValueError("saved_tensor_report: no input requires grad, so nothing is saved")
    input_storages = {t.untyped_storage().data_ptr() for t in inputs if isinstance(t, Tensor)}
    report = SavedTensorReport()
    seen: set[int] = set()

    def pack(t: Tensor) -> Tensor:
        report.count += 1
        report.shapes.append(tuple(t.shape))
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in seen:  # a storage saved twice is held once
            seen.add(ptr)
            report.total_bytes += storage.nbytes()
            if ptr not in input_storages:
                report.extra_bytes += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*inputs)
    del out
    return report
