"""Swish and Mish as custom ``torch.autograd.Function`` objects (Lab 2.1.3).

Two variants of each activation show the classic trade-off of a custom backward:

* ``SwishFunction`` / ``MishFunction`` save what the backward formula needs
  (the input *and* intermediate results), so backward does little work but the
  graph keeps extra tensors alive until ``backward`` runs.
* ``SwishRecompute`` / ``MishRecompute`` save only the input and recompute the
  intermediates in backward: less memory held by the graph, a little more compute.
  This is what PyTorch's own ``F.silu`` and ``F.mish`` do.

All four support double backward (``gradgradcheck``): their backward is written
with differentiable tensor operations on tensors that autograd can trace back to
the input.

Examples:
    >>> import torch
    >>> x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    >>> torch.autograd.gradcheck(swish, (x,))
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "MishFunction",
    "MishRecompute",
    "SwishFunction",
    "SwishRecompute",
    "mish",
    "mish_recompute",
    "swish",
    "swish_recompute",
    "Swish",
    "Mish",
]

# --8<-- [start:swish_function]
class SwishFunction(torch.autograd.Function):
    """swish(x) = x * sigmoid(x); saves x and sigmoid(x) for a cheap backward."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        s = torch.sigmoid(x)
        # Two tensors stay alive until backward: the input and sigmoid(x).
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tensor:
        x, s = ctx.saved_tensors
        if torch.is_grad_enabled():
            # Double backward (create_graph=True): `s` was made inside
            # forward, where autograd was off, so it is a constant to the
            # new graph. Recompute it from x so the 2nd derivative is right.
            s = torch.sigmoid(x)
        # d/dx [x * s(x)] = s + x * s * (1 - s)
        return grad_out * (s * (1 + x * (1 - s)))
# --8<-- [end:swish_function]


# --8<-- [start:swish_recompute]
class SwishRecompute(torch.autograd.Function):
    """swish(x), saving only the input and recomputing sigmoid(x) in backward."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)  # the input is alive anyway: no new memory held
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)  # recomputed: one extra elementwise kernel
        return grad_out * (s * (1 + x * (1 - s)))
# --8<-- [end:swish_recompute]


# --8<-- [start:mish_function]
class MishFunction(torch.autograd.Function):
    """mish(x) = x * tanh(softplus(x)), saving x, tanh(softplus(x)) and sigmoid(x)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        t = torch.tanh(F.softplus(x))
        ctx.save_for_backward(x, t, torch.sigmoid(x))
        return x * t

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tensor:
        x, t, s = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: trace t and s to x
            t, s = torch.tanh(F.softplus(x)), torch.sigmoid(x)
        # softplus'(x) = sigmoid(x), tanh'(u) = 1 - tanh(u)^2, so
        # d/dx [x * t] = t + x * (1 - t^2) * sigmoid(x)
        return grad_out * (t + x * (1 - t * t) * s)
# --8<-- [end:mish_function]


class MishRecompute(torch.autograd.Function):
    """mish(x), saving only the input and recomputing everything in backward."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x * torch.tanh(F.softplus(x))

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        t, s = torch.tanh(F.softplus(x)), torch.sigmoid(x)
        return grad_out * (t + x * (1 - t * t) * s)


def swish(x: Tensor) -> Tensor:
    """Apply :class:`SwishFunction` (saves the input and sigmoid of it)."""
    return SwishFunction.apply(x)


def swish_recompute(x: Tensor) -> Tensor:
    """Apply :class:`SwishRecompute` (saves only the input)."""
    return SwishRecompute.apply(x)


def mish(x: Tensor) -> Tensor:
    """Apply :class:`MishFunction` (saves the input and two intermediates)."""
    return MishFunction.apply(x)


def mish_recompute(x: Tensor) -> Tensor:
    """Apply :class:`MishRecompute` (saves only the input)."""
    return MishRecompute.apply(x)


class Swish(nn.Module):
    """``nn.Module`` wrapper so the custom Swish drops into ``nn.Sequential``.

    Args:
        recompute: save only the input and recompute sigmoid in backward.
    """

    def __init__(self, recompute: bool = False) -> None:
        super().__init__()
        self.recompute = recompute

    def forward(self, x: Tensor) -> Tensor:
        """Apply Swish elementwise."""
        return swish_recompute(x) if self.recompute else swish(x)

    def extra_repr(self) -> str:
        return f"recompute={self.recompute}"


class Mish(nn.Module):
    """``nn.Module`` wrapper for the custom Mish.

    Args:
        recompute: save only the input and recompute intermediates in backward.
    """

    def __init__(self, recompute: bool = False) -> None:
        super().__init__()
        self.recompute = recompute

    def forward(self, x: Tensor) -> Tensor:
        """Apply Mish elementwise."""
        return mish_recompute(x) if self.recompute else mish(x)

    def extra_repr(self) -> str:
        return f"recompute={self.recompute}"
