"""Self-checks for the exercises of Lecture 15: each prints ✓ or raises an AssertionError with a hint."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["check_bounded_export", "check_largest_batch"]


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).relu().flatten(1))


def check_bounded_export(export_for_edge: Callable[[nn.Module, torch.Tensor, int], object]) -> None:
    """Exercise 1: ``export_for_edge(model, example, max_batch)`` exports with a bounded dynamic batch.

    The returned ``ExportedProgram`` must keep every other dimension of the input static
    and let its first dimension range over ``1 .. max_batch``: ExecuTorch's memory
    planner sizes the buffers for the upper bound (without one, for the example's size).

    Args:
        export_for_edge: the reader's function.

    Raises:
        AssertionError: the program is not an ``ExportedProgram``, its batch is static,
            unbounded, or bounded by something else than ``max_batch``.
    """
    torch.manual_seed(0)
    model = _Tiny().eval()
    example = torch.randn(4, 1, 8, 8)
    for max_batch in (16, 40):
        ep = export_for_edge(model, example, max_batch)
        assert isinstance(ep, torch.export.ExportedProgram), (
            f"return the ExportedProgram that torch.export.export gives, got {type(ep).__name__}")
        user_inputs = ep.graph_signature.user_inputs
        node = next(n for n in ep.graph.nodes if n.op == "placeholder" and n.name in user_inputs)
        shape = node.meta["val"].shape
        assert all(isinstance(d, int) for d in shape[1:]), (
            f"only the batch may be dynamic, got input shape {tuple(shape)}")
        batch = shape[0]
        assert not isinstance(batch, int), (
            f"the batch is static ({batch}): pass dynamic_shapes={{'x': {{0: Dim(...)}}}} "
            "to torch.export.export")
        bounds = ep.range_constraints[batch.node.expr]
        upper = int(bounds.upper) if bounds.upper.is_Integer else None  # int_oo when no max= was given
        assert upper is not None, ("the batch has no upper bound: give the Dim a max= (without one the "
                                   "memory planner sizes the buffers for the example's batch)")
        assert upper == max_batch, (
            f"the batch's upper bound is {upper}, expected max_batch={max_batch}: use the argument, "
            "not a constant")
        assert int(bounds.lower) <= 1, f"a batch of 1 must be allowed, the lower bound is {bounds.lower}"
        with torch.no_grad():
            for n in (1, max_batch):
                x = torch.randn(n, 1, 8, 8)
                assert torch.allclose(ep.module()(x), model(x), atol=1e-5), (
                    f"the exported program does not compute the model's output at batch {n}")
    print("✓ export_for_edge: batch dynamic in 1..max_batch, every other dimension static")


def check_largest_batch(largest_batch: Callable[[dict[int, float], float, float], int]) -> None:
    """Exercise 2: ``largest_batch(latency_ms, fps, deadline_ms)``: the largest batch that is real-time.

    Frames arrive every ``1000 / fps`` ms. A batch of ``b`` frames starts when its
    last frame has arrived and takes ``latency_ms[b]``. It is real-time when both

    * it keeps up: ``latency_ms[b] <= b * 1000 / fps`` (done before the next ``b`` frames are in);
    * it meets the deadline: ``(b - 1) * 1000 / fps + latency_ms[b] <= deadline_ms`` (the batch's
      first frame waited for the other ``b - 1``).

    The answer is the largest measured ``b`` meeting both, or 0 when none does.

    Args:
        largest_batch: the reader's function.

    Raises:
        AssertionError: a case gives another answer; the message names the case and the hint.
    """
    # (latency per batch in ms, fps, deadline ms) -> answer, and the hint for the usual wrong answer
    cases = [
        ({1: 5.0, 2: 12.0, 4: 30.0}, 100.0, 1000.0, 4,
         "a batch of b has b frame intervals (b * 1000 / fps) to finish in, not one"),
        ({1: 5.0, 2: 6.0, 4: 8.0, 8: 12.0}, 100.0, 82.0, 8, "a batch that fits both limits exactly counts"),
        ({1: 5.0, 2: 6.0, 4: 8.0, 8: 12.0}, 100.0, 40.0, 4,
         "the first frame of a batch waits (b - 1) frame intervals before the batch starts: add it"),
        ({1: 50.0, 2: 60.0, 4: 90.0}, 30.0, 1000.0, 4,
         "do not stop at the first batch that fails: a batch of 1 is too slow, larger ones keep up"),
        ({1: 50.0, 2: 70.0, 4: 150.0}, 30.0, 1000.0, 0,
         "no batch keeps up with 30 fps here (each takes longer than its frames' 33.3 ms each): return 0"),
        ({4: 8.0, 1: 5.0, 8: 70.0, 2: 6.0}, 100.0, 100.0, 4,
         "compare each batch on its own (the dict is not sorted, and latency is per batch, not per frame)"),
    ]
    for latency, fps, deadline, expected, hint in cases:
        got = largest_batch(dict(latency), fps, deadline)
        assert got == expected, (
            f"largest_batch({latency}, fps={fps:g}, deadline_ms={deadline:g}) returned {got!r}, "
            f"expected {expected}: {hint}")
    print("✓ largest_batch: keeps up with the camera and meets the deadline")
