"""Stop a forward pass at the first module that returns NaN or Inf, and name it.

:func:`first_nonfinite` registers a forward hook on every submodule of a model. A
hook runs right after its module's ``forward`` returns, and a child module returns
before its parent, so the first hook that sees a non-finite value belongs to the
innermost module that produced it. The hook raises :class:`NonFiniteError`, which
stops the forward pass there and says which module it was, how many values are NaN
or Inf, the shape of the output, and whether the module's *inputs* were finite (if
they were, this module made the bad values; if not, they came in from the data).

Each check calls ``torch.isfinite(...).all()`` and reads the answer on the CPU: on a
GPU that is a synchronisation per module, so this is a debugging tool for the step
that fails, not something to leave on in training.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    >>> with first_nonfinite(net):
    ...     _ = net(torch.ones(1, 2))
    >>> class Log(nn.Module):
    ...     def forward(self, x):
    ...         return x.log()
    >>> bad = nn.Sequential(nn.Identity(), Log())
    >>> try:
    ...     with first_nonfinite(bad):
    ...         bad(torch.tensor([[-1.0, 2.0]]))
    ... except NonFiniteError as err:
    ...     print(err.module, err.nan, err.inputs_finite)
    1 1 True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["NonFiniteError", "first_nonfinite", "iter_tensors", "nonfinite_counts"]


class NonFiniteError(RuntimeError):
    """A module returned NaN or Inf.

    Attributes:
        module: the module's qualified name in the model (``"encoder.2"``; ``""`` is the model).
        kind: the module's class name.
        index: which tensor of the output (0 for a plain tensor output).
        nan: how many values are NaN.
        inf: how many values are +Inf or -Inf.
        shape: the shape of that output tensor.
        inputs_finite: whether every floating-point input of the module was finite.
    """

    def __init__(self, module: str, kind: str, index: int, nan: int, inf: int, shape: tuple[int, ...],
                 inputs_finite: bool) -> None:
        self.module, self.kind, self.index = module, kind, index
        self.nan, self.inf, self.shape, self.inputs_finite = nan, inf, shape, inputs_finite
        origin = ("its inputs were finite, so it made them" if inputs_finite
                  else "its inputs were already non-finite")
        name = repr(module) if module else "the model itself"
        super().__init__(
            f"module {name} ({kind}) returned {nan + inf} non-finite values ({nan} NaN, {inf} Inf) "
            f"in output {index} of shape {tuple(shape)}; {origin}")


def iter_tensors(value: Any) -> Iterator[Tensor]:
    """Every tensor inside ``value``, depth first: a tensor, or tuples, lists and dicts of them.

    Args:
        value: a module's output (or inputs).

    Yields:
        The tensors, in order.
    """
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from iter_tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_tensors(item)


def nonfinite_counts(t: Tensor) -> tuple[int, int]:
    """``(number of NaN, number of ±Inf)`` in a tensor; ``(0, 0)`` for integer and bool tensors.

    Args:
        t: any tensor.

    Returns:
        The two counts.
    """
    if not (t.is_floating_point() or t.is_complex()):
        return 0, 0
    return int(torch.isnan(t).sum()), int(torch.isinf(t).sum())


def _finite(value: Any) -> bool:
    return all(nonfinite_counts(t) == (0, 0) for t in iter_tensors(value))


@contextlib.contextmanager
def first_nonfinite(model: nn.Module) -> Iterator[nn.Module]:
    """Within the ``with`` block, a forward pass of ``model`` stops at the first non-finite output.

    Args:
        model: the model; every submodule (and the model itself) is hooked.

    Yields:
        The model.

    Raises:
        NonFiniteError: raised by the hook of the first module whose output holds NaN or Inf.
    """

    def make_hook(name: str):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            for index, t in enumerate(iter_tensors(output)):
                nan, inf = nonfinite_counts(t)
                if nan or inf:
                    raise NonFiniteError(name, type(module).__name__, index, nan, inf, tuple(t.shape),
                                         _finite((args, kwargs)))
        return hook

    handles = [module.register_forward_hook(make_hook(name), with_kwargs=True)
               for name, module in model.named_modules()]
    try:
        yield model
    finally:
        for handle in handles:  # hooks never outlive the block, even when it raised
            handle.remove()
