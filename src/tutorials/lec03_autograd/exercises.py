"""Self-checks for the exercises of Lecture 3 (autograd).

Each ``check_*`` function takes *your* answer, exercises it on inputs it builds
itself, prints a one-line confirmation when the answer is right, and raises an
``AssertionError`` that says what is wrong (and usually a hint) when it is not.

Examples:
    >>> from tutorials.lec03_autograd.activations import MishRecompute
    >>> check_mish_function(MishRecompute)
    ✓ MishRecompute: forward and backward match F.mish; gradcheck and gradgradcheck pass

"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "check_accumulated_gradients",
    "check_clip_hook",
    "check_jvp",
    "check_mish_function",
]


def _max_diff(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max())


def _mish_backward_hint(x: Tensor, grad_out: Tensor, got: Tensor) -> str:
    """Name the mistake whose wrong formula ``got`` matches, without the right formula."""
    local = torch.func.grad(lambda u: F.mish(u).sum())(x)  # d mish/dx, elementwise
    t = torch.tanh(F.softplus(x))
    flat = t + x * (1 - t * t)  # d mish/dx with d softplus(x)/dx taken as 1
    chain = "backward must return grad_output times d mish/dx, by the chain rule"
    softplus = ("d softplus(x)/dx is not 1: differentiate softplus(x) = log(1 + exp(x)) "
                "as well")
    mistakes = [
        (local, f"it returns d mish/dx without grad_output: {chain}"),
        (grad_out * flat, f"a factor of d mish/dx is missing: {softplus}"),
        (flat, f"grad_output is unused and a factor is missing: {chain}; and {softplus}"),
    ]
    for wrong, message in mistakes:
        if _max_diff(got, wrong) < 1e-4:
            return message
    return ("hint: with t = tanh(softplus(x)), differentiate x * t by the product rule and "
            "t by the chain rule (through tanh, then softplus), then multiply by grad_output")


def check_mish_function(fn_cls: type) -> None:
    """Exercise 1: a ``torch.autograd.Function`` computing Mish with a hand-written backward.

    Args:
        fn_cls: your class, used as ``fn_cls.apply(x)``.

    Raises:
        AssertionError: it is not an autograd Function, its values or gradients
            differ from ``F.mish``, or ``gradcheck`` / ``gradgradcheck`` fail.
    """
    name = getattr(fn_cls, "__name__", repr(fn_cls))
    assert isinstance(fn_cls, type) and issubclass(fn_cls, torch.autograd.Function), (
        f"{name} must be a subclass of torch.autograd.Function (got {fn_cls!r}); "
        "define `class MyMish(torch.autograd.Function)` with static forward/backward"
    )
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(64, generator=g) * 4).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    y = fn_cls.apply(x)
    assert isinstance(y, Tensor) and y.shape == x.shape, (
        f"{name}.apply(x) must return a tensor of x's shape {tuple(x.shape)}, "
        f"got {type(y).__name__} {tuple(getattr(y, 'shape', ()))}"
    )
    y_ref = F.mish(x_ref)
    d = _max_diff(y.detach(), y_ref.detach())
    assert d < 1e-5, (
        f"{name} forward differs from F.mish by up to {d:.3g}; "
        "mish(x) = x * tanh(softplus(x)), softplus(x) = log(1 + exp(x))"
    )
    w = torch.randn(64, generator=g)
    (y * w).sum().backward()
    (y_ref * w).sum().backward()
    assert x.grad is not None, f"{name}.backward returned no gradient for x"
    d = _max_diff(x.grad, x_ref.grad)
    if d >= 1e-5:
        raise AssertionError(f"{name} backward differs from autograd's gradient of F.mish "
                             f"by up to {d:.3g}; {_mish_backward_hint(x.detach(), w, x.grad)}")
    x64 = torch.randn(8, dtype=torch.float64, generator=g).requires_grad_()
    assert torch.autograd.gradcheck(fn_cls.apply, (x64,), raise_exception=False), (
        f"{name} fails torch.autograd.gradcheck in float64 (backward disagrees with "
        "finite differences)"
    )
    assert torch.autograd.gradgradcheck(fn_cls.apply, (x64,), raise_exception=False), (
        f"{name} passes gradcheck but fails gradgradcheck: its backward is not "
        "differentiable. Compute intermediates in backward from the saved input "
        "(tensors made inside forward are constants to autograd)"
    )
    print(f"✓ {name}: forward and backward match F.mish; gradcheck and gradgradcheck pass")


def check_clip_hook(hook: Callable[[Tensor], Tensor | None]) -> None:
    """Exercise 2: a tensor hook that clamps every gradient entry to ``[-1, 1]``.

    The hook must *return* the new gradient and leave the incoming one untouched.

    Args:
        hook: your function, to be passed to ``tensor.register_hook``.

    Raises:
        AssertionError: gradients are not clamped, the hook modified its argument
            in place, or it returned nothing.
    """
    x = torch.tensor([-3.0, -0.5, 0.0, 0.5, 3.0], requires_grad=True)
    h = x * 1.0  # a non-leaf: the hook sees the gradient flowing into x through h
    incoming = torch.tensor([4.0, -4.0, 2.0, 0.25, -0.5])
    modified_in_place: list[bool] = []

    def wrapped(grad: Tensor) -> Tensor | None:
        before = grad.clone()
        result = hook(grad)
        modified_in_place.append(not torch.equal(grad, before))
        return result

    h.register_hook(wrapped)
    (h * incoming).sum().backward()
    assert x.grad is not None, "no gradient reached x: did the hook raise or return a non-tensor?"
    assert not modified_in_place[0], (
        "the incoming gradient was changed in place; return a new tensor, e.g. grad.clamp(-1, 1)"
    )
    expected = torch.tensor([1.0, -1.0, 1.0, 0.25, -0.5])
    assert torch.equal(x.grad, expected), (
        f"expected gradient {expected.tolist()} after clamping to [-1, 1], got "
        f"{x.grad.tolist()}; a hook changes the gradient only through its return value"
    )
    print("✓ clip hook: gradients clamped to [-1, 1] without touching the original")


def _accumulation_task() -> tuple[nn.Module, Tensor, Tensor]:
    g = torch.Generator().manual_seed(3)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    x = torch.randn(12, 6, generator=g)
    y = torch.randint(0, 3, (12,), generator=g)
    return model, x, y


def check_accumulated_gradients(fn: Callable[[nn.Module, Tensor, Tensor, int], None]) -> None:
    """Exercise 3: gradient accumulation over micro-batches.

    ``fn(model, x, y, micro_batch)`` must leave in ``p.grad`` exactly the gradient of
    ``F.cross_entropy(model(x), y)`` (mean over the *whole* batch), computed in
    chunks of ``micro_batch`` rows.

    Args:
        fn: your accumulation function; it must not call ``optimizer.step``.

    Raises:
        AssertionError: gradients differ from the full-batch ones, for example
            because each micro-batch loss was not scaled by its share of the batch.
    """
    model, x, y = _accumulation_task()
    F.cross_entropy(model(x), y).backward()
    reference = [p.grad.clone() for p in model.parameters()]
    for micro in (4, 5):  # 5 leaves a short last chunk: scale by rows, not by count
        model.zero_grad(set_to_none=True)
        fn(model, x, y, micro)
        for (name, p), ref in zip(model.named_parameters(), reference):
            assert p.grad is not None, f"parameter {name!r} has no .grad after fn(...)"
            d = _max_diff(p.grad, ref)
            ratio = float(p.grad.norm() / ref.norm())
            assert d < 1e-5, (
                f"micro_batch={micro}: gradient of {name!r} differs from the full batch by "
                f"{d:.3g} (norm ratio {ratio:.3f}). Scale each chunk's mean loss by "
                "len(chunk) / len(x) before backward, and do not zero grads between chunks"
            )
    print("✓ accumulation: micro-batch gradients equal the full-batch gradient")


def check_jvp(fn: Callable[[Callable[[Tensor], Tensor], Tensor, Tensor], tuple[Tensor, Tensor]]):
    """Exercise 4: a Jacobian-vector product with forward-mode AD (dual numbers).

    ``fn(f, x, v)`` must return ``(f(x), J_f(x) @ v)`` computed in one forward pass
    with ``torch.autograd.forward_ad``.

    Args:
        fn: your function.

    Raises:
        AssertionError: the output or the JVP differs from ``torch.func.jvp``.
    """

    def f(t: Tensor) -> Tensor:
        return torch.stack([t[0] * t[1], torch.sin(t[2]), t.pow(2).sum()])

    x = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    v = torch.tensor([0.3, 1.0, -1.0], dtype=torch.float64)
    out = fn(f, x, v)
    assert isinstance(out, tuple) and len(out) == 2, (
        f"fn must return a tuple (f(x), jvp), got {type(out).__name__}"
    )
    primal, tangent = out
    ref_primal, ref_tangent = torch.func.jvp(f, (x,), (v,))
    assert torch.allclose(primal, ref_primal), f"f(x) should be {ref_primal.tolist()}, got {primal}"
    assert tangent is not None, (
        "the tangent is None: did you read it with fwAD.unpack_dual(y).tangent inside "
        "the `with fwAD.dual_level():` block?"
    )
    assert torch.allclose(tangent, ref_tangent), (
        f"J @ v should be {ref_tangent.tolist()}, got {tangent.tolist()}; make the dual "
        "input with fwAD.make_dual(x, v)"
    )
    print("✓ jvp: forward-mode result matches torch.func.jvp")
