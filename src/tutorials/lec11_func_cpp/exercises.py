"""Self-checks for the exercises of Lecture 11 (``torch.func`` and forward-mode AD).

Each ``check_*`` function takes *your* answer, exercises it on inputs it builds
itself, prints a one-line confirmation when the answer is right, and raises an
``AssertionError`` that says what is wrong (and usually a hint) when it is not.

Examples:
    >>> check_choose_jacobian(lambda n_in, n_out: "jacfwd" if n_in < n_out else "jacrev")
    ✓ choose_jacobian: the cheaper transform for all 6 shapes
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import jvp

__all__ = [
    "check_choose_jacobian",
    "check_jvp_by_dual_numbers",
    "check_per_sample_grads",
    "check_predict_with",
]


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))


def _reference_per_sample(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, list[Tensor]]:
    rows: dict[str, list[Tensor]] = {k: [] for k, _ in model.named_parameters()}
    for i in range(len(x)):
        model.zero_grad()
        F.mse_loss(model(x[i:i + 1]), y[i:i + 1]).backward()
        for k, p in model.named_parameters():
            rows[k].append(p.grad.clone())
    model.zero_grad()
    return rows


def check_per_sample_grads(fn: Callable[[nn.Module, Tensor, Tensor], Mapping[str, Tensor]]) -> None:
    """Exercise 1: per-sample gradients with ``vmap(grad(...))``.

    Args:
        fn: your ``per_sample_grads(model, x, y)``; it returns ``{name: (N, *shape)}``,
            the gradient of each example's own MSE loss for every parameter.

    Raises:
        AssertionError: a missing parameter, a wrong shape, or wrong values (with a hint).
    """
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 4, generator=g), torch.randn(7, 2, generator=g)
    model = _model(1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    mine = fn(model, x, y)
    assert isinstance(mine, Mapping), (
        f"per_sample_grads must return a dict {{name: tensor}}, got {type(mine).__name__}")
    names = [k for k, _ in model.named_parameters()]
    assert set(mine) == set(names), (
        f"per_sample_grads: expected the keys {names}, got {sorted(mine)}; "
        "key the result like model.named_parameters()")
    ref = _reference_per_sample(model, x, y)
    for k, p in model.named_parameters():
        want = (len(x), *p.shape)
        got = tuple(mine[k].shape)
        assert got == want, (
            f"per_sample_grads[{k!r}] has shape {got}, expected {want}: one gradient per "
            "example, with a leading batch dimension (vmap over the examples, in_dims=(None, 0, 0))")
        ref_k = torch.stack(ref[k])
        if not torch.allclose(mine[k].detach(), ref_k, rtol=1e-4, atol=1e-6):
            batch = ref_k.mean(0)
            if torch.allclose(mine[k].detach(), batch.expand_as(ref_k), rtol=1e-4, atol=1e-6):
                raise AssertionError(
                    f"per_sample_grads[{k!r}]: every example got the same gradient, the batch's "
                    "mean gradient. Write the loss for ONE example and vmap(grad(...)) over the batch.")
            if torch.allclose(mine[k].detach(), ref_k / len(x), rtol=1e-4, atol=1e-7):
                raise AssertionError(
                    f"per_sample_grads[{k!r}] is 1/N of the right value: each example's loss is its "
                    "own mean, not divided by the batch size.")
            raise AssertionError(
                f"per_sample_grads[{k!r}] differs from one backward() per example "
                f"(max difference {(mine[k].detach() - ref_k).abs().max().item():.3g}).")
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), (
        "per_sample_grads changed the model's parameters; only compute gradients")
    print(f"✓ per_sample_grads: {len(x)} examples, {len(names)} parameters, "
          "equal to one backward() per example")


def _tall(x: Tensor) -> Tensor:
    return torch.stack([torch.sin(x[0]) * x[1], x[0] ** 2, x.prod(), torch.exp(x[1])])


def _wide(x: Tensor) -> Tensor:
    return torch.stack([(x**2).sum(), torch.tanh(x).sum() * x[0]])


def check_jvp_by_dual_numbers(fn: Callable[[Callable[[Tensor], Tensor], Tensor, Tensor],
                                           tuple[Tensor, Tensor]]) -> None:
    """Exercise 2: a Jacobian-vector product with ``torch.autograd.forward_ad``.

    Args:
        fn: your ``jvp_dual(f, x, v)`` returning ``(f(x), J(x) v)``.

    Raises:
        AssertionError: the value or the tangent is wrong, or missing (with a hint).
    """
    g = torch.Generator().manual_seed(0)
    cases = [(_tall, torch.randn(2, generator=g), torch.randn(2, generator=g)),
             (_wide, torch.randn(5, generator=g), torch.randn(5, generator=g))]
    for f, x, v in cases:
        out = fn(f, x, v)
        assert isinstance(out, tuple) and len(out) == 2, (
            "jvp_dual must return a pair (value, tangent)")
        value, tangent = out
        ref_value, ref_tangent = jvp(f, (x,), (v,))
        assert tangent is not None, (
            f"{f.__name__}: the tangent is None. Call fwAD.unpack_dual inside "
            "`with fwAD.dual_level():`; when the level closes, the tangents are gone.")
        if not torch.allclose(value, ref_value, atol=1e-6):
            if value.shape == ref_value.shape and torch.allclose(value, f(v), atol=1e-6):
                raise AssertionError(
                    f"{f.__name__}: the value is f(v), not f(x): make_dual(x, v) takes the primal "
                    "first and the tangent second.")
            raise AssertionError(
                f"{f.__name__}: the value differs from f(x); return the primal of unpack_dual")
        if tangent.shape != ref_tangent.shape:
            raise AssertionError(
                f"{f.__name__}: the tangent has shape {tuple(tangent.shape)}, expected "
                f"{tuple(ref_tangent.shape)} (the output's shape). A vector-Jacobian product "
                "(vᵀJ, reverse mode) has the input's shape: push v forward with make_dual(x, v).")
        assert torch.allclose(tangent, ref_tangent, rtol=1e-5, atol=1e-6), (
            f"{f.__name__}: the tangent differs from J v (max difference "
            f"{(tangent - ref_tangent).abs().max().item():.3g}); make_dual(x, v) takes the "
            "primal first and the tangent second.")
    print(f"✓ jvp_dual: value and J·v right on {len(cases)} functions (tall and wide Jacobians)")


_SHAPES = [(1, 100), (3, 50), (10, 10), (50, 3), (1000, 1), (7, 8)]


def check_choose_jacobian(fn: Callable[[int, int], str]) -> None:
    """Exercise 3: pick ``"jacfwd"`` or ``"jacrev"`` from the Jacobian's shape.

    Args:
        fn: your ``choose_jacobian(n_in, n_out)``.

    Raises:
        AssertionError: a shape where the choice needs more passes than the other (with a hint).
    """
    for n_in, n_out in _SHAPES:
        choice = fn(n_in, n_out)
        assert choice in ("jacfwd", "jacrev"), (
            f"choose_jacobian({n_in}, {n_out}) returned {choice!r}; return 'jacfwd' or 'jacrev'")
        if n_in == n_out:
            continue
        best = "jacfwd" if n_in < n_out else "jacrev"
        if choice != best:
            raise AssertionError(
                f"choose_jacobian({n_in}, {n_out}) = {choice!r}, but {best} needs "
                f"{min(n_in, n_out)} passes and {choice} {max(n_in, n_out)}. jacfwd runs one JVP per "
                "INPUT (a column of J); jacrev one VJP per OUTPUT (a row).")
    print(f"✓ choose_jacobian: the cheaper transform for all {len(_SHAPES)} shapes")


def check_predict_with(fn: Callable[[nn.Module, Mapping[str, Tensor], Tensor], Tensor]) -> None:
    """Exercise 4: run a module with another set of weights, leaving it unchanged.

    Args:
        fn: your ``predict_with(model, state, x)``.

    Raises:
        AssertionError: wrong outputs, or the model was changed (with a hint).
    """
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2)).eval()
    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.parameters():
            p.normal_()
        other[1].running_mean.uniform_(-1, 1)
        other[1].running_var.uniform_(0.5, 2)
    state = {k: v.clone() for k, v in other.state_dict().items()}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(4))
    out = fn(model, state, x)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert not changed, (
        f"predict_with changed the model ({changed[:3]}...): load_state_dict or copy_ writes into "
        "it. functional_call(model, state, (x,)) uses the weights for one call only.")
    assert isinstance(out, Tensor) and out.shape == (5, 2), "predict_with must return the model's output"
    with torch.no_grad():
        want = other(x)
        mine_model = model(x)
    if torch.allclose(out, mine_model, atol=1e-6) and not torch.allclose(want, mine_model, atol=1e-6):
        raise AssertionError("predict_with returned the model's own prediction; pass `state` to "
                             "functional_call so its tensors replace the parameters")
    assert torch.allclose(out, want, rtol=1e-5, atol=1e-5), (
        "predict_with's output differs from the model loaded with `state`; include the buffers "
        "(BatchNorm's running statistics) too: functional_call accepts the whole state_dict")
    print("✓ predict_with: the other weights' output (buffers too), the model unchanged")
