"""Self-checks for the exercises of Lecture 4 (the dispatcher and custom operators).

Each ``check_*`` function takes *your* answer, exercises it on inputs it builds
itself, prints a one-line confirmation when the answer is right, and raises an
``AssertionError`` that says what is wrong (and usually a hint) when it is not.

Examples:
    >>> import torch
    >>> check_is_composite(lambda op: torch._C._dispatch_has_kernel_for_dispatch_key(
    ...     op, "CompositeImplicitAutograd"))
    ✓ is_composite: right for all 10 operators
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tutorials.lec04_dispatcher.dispatch import OpLog

__all__ = ["check_backward_op_counts", "check_is_composite", "check_mish_op"]


def _cases() -> list[tuple[str, Callable[[Tensor], Tensor], Tensor]]:
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    return [
        ("sin(x).sum()", lambda x: torch.sin(x).sum(), torch.randn(5, generator=g)),
        ("(x * x).mean()", lambda x: (x * x).mean(), torch.randn(4, generator=g)),
        ("mlp(x).pow(2).mean()", lambda x: net(x).pow(2).mean(), torch.randn(2, 3, generator=g)),
    ]


def check_backward_op_counts(
    fn: Callable[[Callable[[Tensor], Tensor], Tensor], Mapping[str, int]],
) -> None:
    """Exercise 1: count the ATen operators that run during ``backward()`` only.

    Args:
        fn: your ``backward_op_counts(f, x)``; it must call ``f(x)`` (a scalar),
            run backward, and return ``{short op name: count}`` (a ``Counter``)
            for the backward pass alone.

    Raises:
        AssertionError: the counts differ from the reference, or are not a mapping.
    """
    # fresh cases for each run: parameters with a .grad would accumulate (add_)
    for (label, f, x), (_, f_ref, _) in zip(_cases(), _cases()):
        mine = fn(f, x.clone().requires_grad_())
        assert isinstance(mine, Mapping), (
            f"backward_op_counts must return a mapping such as collections.Counter, "
            f"got {type(mine).__name__}"
        )
        loss = f_ref(x.clone().requires_grad_())
        with OpLog() as log:
            loss.backward()
        expected = log.counts()
        got = Counter({k: v for k, v in mine.items() if v})
        if got != expected:
            extra = sorted((got - expected).elements())
            missing = sorted((expected - got).elements())
            hint = ""
            if extra and not missing:
                hint = (" You count more than backward: run the forward pass "
                        "outside the mode and enter it only around loss.backward().")
            elif any("." in k for k in got):
                hint = (" Use short names: func.overloadpacket.__name__ gives 'mm' for "
                        "aten.mm.default.")
            raise AssertionError(
                f"{label}: backward op counts differ from the reference; extra "
                f"{extra[:6]}, missing {missing[:6]}.{hint}"
            )
    print(f"✓ backward_op_counts: right on {len(_cases())} functions, forward ops excluded")


_COMPOSITE_CASES = {
    "aten::linear": True,
    "aten::matmul": True,
    "aten::dropout": True,
    "aten::flatten.using_ints": True,
    "aten::addmm": False,
    "aten::relu": False,
    "aten::add.Tensor": False,
    "aten::mm": False,
    "aten::acos": False,  # no dispatch: section, but a structured_delegate
    "aten::ones": False,  # CompositeExplicitAutograd: no CPU kernel, not decomposed
}

# why an operator that is not CompositeImplicitAutograd might look like one
_NOT_COMPOSITE_WHY = {
    "aten::acos": (
        "Its native_functions.yaml entry has no dispatch: section, but it has a "
        "structured_delegate (acos.out), whose CPU kernel it uses; "
    ),
    "aten::ones": (
        "It has no CPU kernel, yet it is not decomposed: one CompositeExplicitAutograd "
        "kernel serves every backend, below autograd, so a TorchDispatchMode sees "
        "aten.ones. A missing CPU kernel does not make an operator "
        "CompositeImplicitAutograd; "
    ),
}


def check_is_composite(fn: Callable[[str], Any]) -> None:
    """Exercise 2: tell CompositeImplicitAutograd operators from the others.

    Args:
        fn: your ``is_composite(op)``, taking a name such as ``"aten::linear"`` and
            returning a bool.

    Raises:
        AssertionError: a wrong answer for one of the operators checked.
    """
    for op, expected in _COMPOSITE_CASES.items():
        got = fn(op)
        if expected:
            why = "It has no backend kernel of its own and decomposes into other ops; "
        else:
            why = _NOT_COMPOSITE_WHY.get(
                op, "It has its own CPU kernel and autograd formula; ")
        assert bool(got) is expected, (
            f"is_composite({op!r}) returned {got!r}, expected {expected}. {why}"
            "ask the dispatcher about the CompositeImplicitAutograd key itself: "
            "torch._C._dispatch_has_kernel_for_dispatch_key(op, key)"
        )
    print(f"✓ is_composite: right for all {len(_COMPOSITE_CASES)} operators")


def check_mish_op(op: Any) -> None:
    """Exercise 3: Mish registered as a custom operator with fake and autograd kernels.

    Args:
        op: the object ``@torch.library.custom_op`` returned (a ``CustomOpDef``).

    Raises:
        AssertionError: ``op`` is not a custom operator, its values or gradients
            differ from ``F.mish``, it fails on meta tensors, or ``opcheck`` fails.
    """
    from torch._library.custom_ops import CustomOpDef

    assert isinstance(op, CustomOpDef), (
        f"expected the result of @torch.library.custom_op (a CustomOpDef), got "
        f"{type(op).__name__}; decorate your function with "
        "@torch.library.custom_op('ex04::mish', mutates_args=())"
    )
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, generator=g) * 3
    d = float((op(x) - F.mish(x)).abs().max())
    assert d < 1e-5, (
        f"{op._qualname} differs from F.mish by up to {d:.3g}; "
        "mish(x) = x * tanh(softplus(x)), softplus(x) = log(1 + exp(x)) = np.logaddexp(0, x)"
    )
    try:
        out = op(torch.empty(2, 5, device="meta"))
    except Exception as err:  # the learner's fake kernel may raise anything
        raise AssertionError(
            f"{op._qualname} fails on a meta tensor ({err}); register a fake kernel with "
            "@mish.register_fake returning torch.empty_like(x)"
        ) from err
    assert out.shape == (2, 5), (
        f"the fake kernel returned shape {tuple(out.shape)} for an input of shape (2, 5)"
    )
    xr = x.clone().requires_grad_()
    xf = x.clone().requires_grad_()
    try:
        op(xr).sum().backward()
    except RuntimeError as err:
        raise AssertionError(
            f"backward through {op._qualname} failed ({str(err).split('. ')[0]}); "
            "add mish.register_autograd(backward, setup_context=setup_context)"
        ) from err
    F.mish(xf).sum().backward()
    d = float((xr.grad - xf.grad).abs().max())
    assert d < 1e-4, (
        f"the gradient of {op._qualname} differs from F.mish's by up to {d:.3g}; "
        "d/dx mish = t + x * (1 - t^2) * sigmoid(x) with t = tanh(softplus(x)), "
        "times grad"
    )
    for sample in (torch.randn(4, generator=g),
                   torch.randn(2, 3, dtype=torch.float64, generator=g).requires_grad_()):
        try:
            torch.library.opcheck(op, (sample,))
        except Exception as err:
            raise AssertionError(
                f"opcheck failed on an input of shape {tuple(sample.shape)}: "
                f"{str(err).split(' (scroll')[0]}"
            ) from err
    print(f"✓ {op._qualname}: matches F.mish in value and gradient; fake kernel and opcheck pass")
