"""Self-checks for the exercises of Lecture 9 (custom Functions, custom operators, fusion arithmetic).

Each ``check_*`` function takes *your* answer, exercises it on inputs it builds
itself, prints a one-line confirmation when the answer is right, and raises an
``AssertionError`` that says what is wrong (and usually a hint) when it is not.

Examples:
    >>> check_chain_traffic(lambda n_ops, dtype_bytes, fused: 2 * dtype_bytes * (1 if fused else n_ops))
    ✓ chain_traffic: right for 12 chains (unfused 2·s·n, fused 2·s bytes per element)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["check_chain_traffic", "check_scaled_tanh", "check_sqdist_op"]


def check_scaled_tanh(fn: type) -> None:
    """Exercise 1: ``y = tanh(x * w)`` as a new-style ``torch.autograd.Function``.

    Args:
        fn: your ``ScaledTanh`` class, with ``forward(x, w)`` (no ``ctx``), ``setup_context``
            and ``backward``; ``x`` is ``(N, H)`` and ``w`` is ``(H,)``, broadcast over rows.

    Raises:
        AssertionError: not a Function, the old ``forward(ctx, ...)`` style, wrong values,
            a wrong gradient, or a wrong number of gradients.
    """
    assert isinstance(fn, type) and issubclass(fn, torch.autograd.Function), (
        f"ScaledTanh must be a subclass of torch.autograd.Function, got {fn!r}")
    params = list(inspect.signature(fn.forward).parameters)
    assert params[:1] != ["ctx"] and "setup_context" in vars(fn), (
        "use the new style: forward(x, w) takes no ctx, and a separate "
        "setup_context(ctx, inputs, output) saves what backward needs")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(3, dtype=torch.float64, generator=g, requires_grad=True)
    y = fn.apply(x, w)
    assert torch.allclose(y, torch.tanh(x * w)), "forward must return torch.tanh(x * w)"
    try:
        ok = torch.autograd.gradcheck(fn.apply, (x, w), raise_exception=False)
    except RuntimeError as err:
        if "incorrect number of gradients" in str(err):
            raise AssertionError(
                f"{str(err).split(' (')[0]}: backward returns one gradient per input of forward, "
                "here (grad_x, grad_w), None for an input that needs none") from None
        raise
    assert ok, ("gradcheck fails: the derivative of tanh(x * w) is (1 - y**2) * w for x "
                "and (1 - y**2) * x for w, summed over rows")
    x_only = x.detach().requires_grad_()
    fn.apply(x_only, w.detach()).sum().backward()  # w frozen: must not break
    assert x_only.grad is not None
    print("✓ ScaledTanh: new style (setup_context), values right, gradcheck passes for x and w")


def check_sqdist_op(op: Callable[..., Any]) -> None:
    """Exercise 2: squared distances as a custom operator with a fake kernel.

    Args:
        op: your ``torch.library.custom_op`` ``sqdist(a, b)``: ``a`` is ``(n, d)``, ``b`` is
            ``(m, d)``, the result ``(n, m)`` holds ``((a[i] - b[j]) ** 2).sum()``; computed in
            NumPy (or anything), with ``register_fake``.

    Raises:
        AssertionError: not a custom operator, wrong values, no fake kernel, or a fake kernel
            whose output shape or dtype differs from the real one.
    """
    assert hasattr(op, "register_fake") or isinstance(op, torch._ops.OpOverload), (
        "sqdist must be a custom operator: decorate it with @torch.library.custom_op(\"ex09::sqdist\", "
        "mutates_args=())")
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 3, generator=g), torch.randn(4, 3, generator=g)
    got = op(a, b)
    assert got.shape == (5, 4) and torch.allclose(got, torch.cdist(a, b) ** 2, atol=1e-5), (
        "sqdist(a, b) must return the (n, m) matrix of squared distances, "
        "((a[:, None] - b[None]) ** 2).sum(-1)")
    try:
        fake = op(a.to("meta"), b.to("meta"))  # a meta tensor runs the fake kernel
    except (RuntimeError, NotImplementedError) as err:
        raise AssertionError(
            f"no fake kernel ({str(err).split('.')[0]}): add @sqdist.register_fake returning "
            "a.new_empty(a.shape[0], b.shape[0])") from None
    assert fake.shape == (5, 4) and fake.dtype == got.dtype, (
        f"the fake kernel returns shape {tuple(fake.shape)}, the real one (5, 4): the output is "
        "(a.shape[0], b.shape[0]), not a's shape")
    try:
        torch.library.opcheck(op, (a, b))
    except Exception as err:
        raise AssertionError(f"opcheck fails: {str(err).split(' (scroll')[0]}") from None
    print("✓ sqdist: values right; fake kernel gives (n, m); opcheck passes")


def check_chain_traffic(fn: Callable[[int, int, bool], float]) -> None:
    """Exercise 3: bytes per element moved by a chain of unary element-wise ops.

    Args:
        fn: your ``chain_traffic(n_ops, dtype_bytes, fused)``: bytes read + written per
            element by ``n_ops`` unary element-wise ops applied one after another, run as
            ``n_ops`` kernels (``fused=False``) or as one fused kernel (``fused=True``).

    Raises:
        AssertionError: a wrong count, with a hint.
    """
    cases = [(n, s, f) for n in (1, 3, 8) for s in (2, 4) for f in (False, True)]
    for n, s, fused in cases:
        want = 2 * s * (1 if fused else n)
        got = fn(n, s, fused)
        if got == want:
            continue
        hint = ""
        if got == want / 2:
            hint = " Count both directions: each kernel reads its input and writes its output."
        elif fused and got == 2 * s * n:
            hint = " Fused, the intermediates stay in registers: one read of x, one write of y."
        elif not fused and got == 2 * s:
            hint = " Unfused, every op is a kernel that reads and writes a whole tensor."
        raise AssertionError(f"chain_traffic({n}, {s}, fused={fused}) = {got}, expected {want}.{hint}")
    print(f"✓ chain_traffic: right for {len(cases)} chains (unfused 2·s·n, fused 2·s bytes per element)")
