"""Self-checks for the exercises of Lecture 8 (``torch.export``, dynamic shapes, ``torch.cond``).

Each ``check_*`` function takes *your* answer, tries it on inputs it builds itself,
prints a one-line confirmation when the answer is right, and raises an
``AssertionError`` that says what is wrong (with a hint) when it is not.

Examples:
    >>> check_specialised_dim(("x", 2, 12))
    ✓ Mystery specialises x.shape[2] to 12 (LayerNorm(12) fixes it); the other dims stay dynamic
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.export import Dim, export

__all__ = [
    "Mystery",
    "PairNet",
    "check_cond_rewrite",
    "check_dynamic_shapes",
    "check_specialised_dim",
    "scale_or_double",
]


class PairNet(nn.Module):
    """Exercise 1's model: ``x`` is ``(batch, 8)``, ``y`` is ``(batch, seq, 8)``.

    The projected ``x`` is broadcast over ``y``'s sequence and summed over it, so both
    inputs must share their batch size; the feature size 8 is fixed by the ``Linear``.
    """

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.proj = nn.Linear(8, 8)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """``(proj(x)[:, None, :] * y).sum(1)``: shape ``(batch, 8)``."""
        return (self.proj(x)[:, None, :] * y).sum(1)


def _first_line(err: BaseException) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0] if lines else ''}"


def check_dynamic_shapes(spec: Mapping[str, Any]) -> None:
    """Exercise 1: ``dynamic_shapes`` for :class:`PairNet` with a shared batch and a dynamic sequence.

    Args:
        spec: your ``dynamic_shapes`` dict, keyed by ``forward``'s argument names
            ``"x"`` and ``"y"``, each a ``{dim index: Dim}`` dict.

    Raises:
        AssertionError: export fails with your spec, or the exported program does not
            accept another batch size or sequence length.
    """
    assert isinstance(spec, Mapping), (
        f"dynamic_shapes must be a dict keyed by argument name, got {type(spec).__name__}")
    assert set(spec) == {"x", "y"}, (
        f"the keys must be forward's argument names ['x', 'y'], got {sorted(spec)}")
    net = PairNet().eval()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 8, generator=g), torch.randn(4, 6, 8, generator=g)
    try:
        ep = export(net, (x, y), dynamic_shapes=dict(spec))
    except Exception as err:
        msg = str(err)
        if "specialized it to be a constant (8)" in msg:
            raise AssertionError(
                f"export failed: {_first_line(err)} The feature size 8 is fixed by "
                "nn.Linear(8, 8): leave dims x[1] and y[2] static (do not list them).") from None
        if "batch" not in msg and ("==" in msg or "must be equal" in msg.lower() or "Suggested" in msg):
            raise AssertionError(
                f"export failed: {_first_line(err)} x.shape[0] and y.shape[0] must be equal: "
                "use the same Dim object for both, e.g. batch = Dim('batch').") from None
        raise AssertionError(f"export failed with your spec: {_first_line(err)}") from None
    gm = ep.module()
    for b, t in ((3, 7), (9, 2)):
        xs, ys = torch.randn(b, 8, generator=g), torch.randn(b, t, 8, generator=g)
        try:
            got = gm(xs, ys)
        except Exception as err:
            raise AssertionError(
                f"the exported program rejects batch={b}, seq={t}: {_first_line(err)} "
                "Mark dim 0 of both inputs (one shared Dim) and dim 1 of y dynamic.") from None
        assert torch.allclose(got, net(xs, ys), atol=1e-5), "the exported program disagrees with eager"
    print("✓ PairNet exports with a shared dynamic batch and a dynamic sequence; runs at (3, 7) and (9, 2)")


def scale_or_double(x: Tensor) -> Tensor:
    """Exercise 2's eager function: a data-dependent ``if`` that ``export`` cannot trace.

    Args:
        x: any float tensor.

    Returns:
        ``x / x.abs().max()`` when the largest magnitude is above 1, else ``2 * x``.
    """
    if x.abs().max() > 1:
        return x / x.abs().max()
    return x * 2


class _Wrap(nn.Module):
    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


def check_cond_rewrite(fn: Callable[[Tensor], Tensor]) -> None:
    """Exercise 2: :func:`scale_or_double` rewritten with ``torch.cond`` so that it exports.

    Args:
        fn: your function of one tensor ``x``.

    Raises:
        AssertionError: it does not export, has no ``cond`` in its graph, or disagrees
            with :func:`scale_or_double` on either branch.
    """
    g = torch.Generator().manual_seed(2)
    example = torch.randn(5, generator=g) * 3
    try:
        ep = export(_Wrap(fn), (example,), dynamic_shapes={"x": {0: Dim("n")}})
    except Exception as err:
        msg = str(err)
        if "aliasing" in msg:
            raise AssertionError(
                f"export failed: a branch returns its input (aliasing). {_first_line(err)} "
                "Each branch must return a new tensor: compute something, or use t.clone().") from None
        if "data-dependent" in msg.lower() or "Data-dependent" in msg:
            raise AssertionError(
                f"export failed on a data-dependent branch: {_first_line(err)} "
                "Replace the Python `if` with torch.cond(pred, true_fn, false_fn, (x,)).") from None
        raise AssertionError(f"export failed: {_first_line(err)}") from None
    targets = [getattr(n.target, "__name__", str(n.target)) for n in ep.graph.nodes
               if n.op == "call_function"]
    assert "cond" in targets, (
        f"the exported graph has no cond (ops: {targets}). The exercise is to keep both branches "
        "in the graph with torch.cond(pred, true_fn, false_fn, (x,)).")
    gm = ep.module()
    for label, x in (("max |x| > 1", torch.randn(7, generator=g) * 4),
                     ("max |x| <= 1", torch.rand(3, generator=g) * 0.5)):
        want = scale_or_double(x)
        got = gm(x)
        rounded = [[round(v, 3) for v in t.tolist()] for t in (want, got)]
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-6), (
            f"wrong result when {label}: expected {rounded[0]}, got {rounded[1]}. "
            "true_fn is the `if` side (x / x.abs().max()), false_fn the other (x * 2).")
    print("✓ the torch.cond version exports with a dynamic length and matches scale_or_double "
          "on both branches")


class Mystery(nn.Module):
    """Exercise 3's model: ``x`` is ``(batch, time, features)``; one dimension is secretly fixed."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.norm = nn.LayerNorm(12)

    def forward(self, x: Tensor) -> Tensor:
        """Normalise the last dimension and average over time: ``(batch, 12)``."""
        return self.norm(x).mean(dim=1)


def check_specialised_dim(answer: tuple[str, int, int]) -> None:
    """Exercise 3: which dimension of :class:`Mystery`'s input does export specialise, and to what?

    Args:
        answer: ``(argument name, dimension index, value)``, read off the error that
            ``export(Mystery(), (x,), dynamic_shapes=...)`` raises when every dimension
            of ``x`` is marked dynamic.

    Raises:
        AssertionError: the argument, the dimension or the value is wrong.
    """
    assert isinstance(answer, tuple) and len(answer) == 3, (
        f"answer with a tuple (argument name, dim, value), such as ('x', 0, 5); got {answer!r}")
    name, dim, value = answer
    assert name == "x", f"Mystery.forward has one argument, named 'x'; got {name!r}"
    assert dim in (0, 1, 2), f"x has 3 dimensions (0, 1, 2); got dim {dim!r}"
    assert dim == 2, (
        f"x.shape[{dim}] stays dynamic. Read the error: 'Constraints violated (<name>)' names the Dim "
        "you gave that dimension, and 'specialized it to be a constant (N)' gives its value.")
    assert value == 12, (
        f"x.shape[2] is specialised, but not to {value!r}: the message says "
        "'specialized it to be a constant (N)'; N is the value.")
    print("✓ Mystery specialises x.shape[2] to 12 (LayerNorm(12) fixes it); the other dims stay dynamic")
