"""Self-checks for the exercises of Lecture 1 (philosophy and the big picture).

Each ``check_*`` function takes *your* answer, runs it on inputs it builds itself,
prints a one-line confirmation when the answer is right, and raises an
``AssertionError`` that says what is wrong (and usually a hint) when it is not.

Examples:
    >>> def normalize(x):
    ...     return x / x.abs().max()
    >>> check_no_graph_break(normalize)
    ✓ normalize: one graph, no graph break, same values as eager
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["check_backward_ops", "check_exportable_scale", "check_no_graph_break"]


def _reference_scale(x: Tensor) -> Tensor:
    """The eager function of exercise 1, with its data-dependent ``if``."""
    peak = x.abs().max()
    if peak > 1:
        return x / peak
    return x * 2


def _fmt(t: Tensor) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in t.flatten().tolist()) + "]"


class _Wrap(nn.Module):
    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


def check_exportable_scale(fn: Callable[[Tensor], Tensor]) -> None:
    """Exercise 1: ``scale(x)`` without a Python ``if``, so that ``torch.export`` takes it.

    ``scale(x)`` divides ``x`` by ``x.abs().max()`` when that peak exceeds 1, and
    doubles ``x`` otherwise. The check exports your function (wrapped in an
    ``nn.Module``) once, with an input whose peak exceeds 1, and runs the exported
    program on inputs that take *each* branch.

    Args:
        fn: your function of one tensor.

    Raises:
        AssertionError: the export fails, or the exported program differs from the
            eager reference on either branch.
    """
    name = getattr(fn, "__name__", repr(fn))
    example = torch.tensor([3.0, -1.0, 0.5])
    try:
        program = torch.export.export(_Wrap(fn), (example,))
    except Exception as err:  # noqa: BLE001 - any export failure is the learner's to fix
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise AssertionError(
            f"torch.export.export failed on {name}: {type(err).__name__}: {first}. "
            "A Python `if` on a tensor's value cannot be exported; put both branches "
            "in the graph with torch.cond(pred, true_fn, false_fn, (x,)) or torch.where"
        ) from None
    exported = program.module()
    cases = {
        "peak > 1 (divide)": torch.tensor([4.0, -2.0, 1.0]),
        "peak <= 1 (double)": torch.tensor([0.8, -0.25, 0.1]),
        "peak > 1, negative peak": torch.tensor([-8.0, 0.0, 2.0]),
        "peak exactly 1 (double)": torch.tensor([0.5, -1.0, 0.25]),
    }
    for label, x in cases.items():
        got, want = exported(x), _reference_scale(x)
        hint = ("An export keeps only the branch the example took unless both are "
                "in the graph")
        if label.startswith("peak exactly 1"):
            hint = ("The function divides only when the peak *exceeds* 1; check the "
                    "comparison in your condition")
        assert got.shape == want.shape and torch.allclose(got, want), (
            f"{name}: exported with an example whose peak exceeds 1, then run on "
            f"{_fmt(x)} ({label}): got {_fmt(got)}, expected {_fmt(want)}. {hint}"
        )
    print(f"✓ {name}: exports, and the exported program is right on both branches")


def check_no_graph_break(fn: Callable[[Tensor], Tensor]) -> None:
    """Exercise 2: ``normalize(x) = x / x.abs().max()`` captured by Dynamo in one graph.

    Args:
        fn: your function of one tensor.

    Raises:
        AssertionError: its values are wrong, or ``torch._dynamo.explain`` reports
            a graph break or more than one graph.
    """
    name = getattr(fn, "__name__", repr(fn))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, generator=g) * 3
    got, want = fn(x), x / x.abs().max()
    assert isinstance(got, Tensor) and torch.allclose(got, want), (
        f"{name}(x) must equal x / x.abs().max() (eager check failed)"
    )
    torch._dynamo.reset()  # start from a clean cache: count only this function
    explanation = torch._dynamo.explain(fn)(x)
    reasons = [str(r.reason).splitlines()[0] for r in explanation.break_reasons]
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1, (
        f"{name}: Dynamo captured {explanation.graph_count} graph(s) with "
        f"{explanation.graph_break_count} graph break(s): {reasons}. Keep the scale "
        "as a tensor: .item(), .tolist() and print() break the graph"
    )
    print(f"✓ {name}: one graph, no graph break, same values as eager")


class _OpLog(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def _reference_backward_ops(f: Callable[[Tensor], Tensor], x: Tensor) -> list[str]:
    out = f(x).sum()
    with _OpLog() as log:
        out.backward()
    return log.ops


def check_backward_ops(backward_ops: Callable[[Callable[[Tensor], Tensor], Tensor], list[str]]) -> None:
    """Exercise 3: list the ATen operators that *backward* runs, and only those.

    ``backward_ops(f, x)`` gets a function and a leaf ``x`` with
    ``requires_grad=True``; it must return the names (``str(func)``, e.g.
    ``"aten.mul.Tensor"``) of the ATen operators executed by
    ``f(x).sum().backward()``, in order, without the forward pass's operators.

    Args:
        backward_ops: your function.

    Raises:
        AssertionError: the list is missing, includes forward operators, or differs
            from what the backward pass ran.
    """
    name = getattr(backward_ops, "__name__", repr(backward_ops))
    functions = {
        "sin(x) * x": lambda t: torch.sin(t) * t,
        "exp(x).sum(0)": lambda t: torch.exp(t).sum(0),
    }
    for label, f in functions.items():
        x = torch.linspace(-1, 1, 6).reshape(2, 3).requires_grad_()
        got = backward_ops(f, x)
        want = _reference_backward_ops(f, x.detach().clone().requires_grad_())
        assert isinstance(got, list) and all(isinstance(s, str) for s in got), (
            f"{name} must return a list of str such as 'aten.mul.Tensor', got {type(got).__name__}"
        )
        bad_form = [op for op in got if len(op.split(".")) != 3]
        assert not bad_form, (
            f"{name} on {label}: {bad_form[:3]} are not full operator names. Return "
            "str(func) for each call, of the form 'namespace.name.overload' such as "
            "'aten.mul.Tensor', not the short name 'mul'"
        )
        forward_like = [op for op in got if op.split(".")[1] in ("sin", "exp")]
        assert not forward_like, (
            f"{name} on {label}: {forward_like} ran in the *forward* pass; enter the "
            "dispatch mode only around .backward()"
        )
        assert got == want, (
            f"{name} on {label}: got {got}, the backward pass ran {want}. Record "
            "str(func) for every call of __torch_dispatch__ while .backward() runs"
        )
    print(f"✓ {name}: exactly the ATen operators of the backward pass")
