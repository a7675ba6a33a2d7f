"""Jacobians by forward and reverse mode, the empirical NTK, and the chapter's figures.

Lecture 11 measures when ``torch.func.jacfwd`` (one JVP per *input*) beats
``torch.func.jacrev`` (one VJP per *output*) and computes the empirical neural tangent
kernel of a small MLP (the reference loop here; the page shows the ``torch.func``
version). The figures are drawn here so that the chapter shows only the
part that teaches.

Examples:
    >>> import torch
    >>> f = deep_map(3, 5, hidden=8, depth=2)
    >>> f(torch.randn(3)).shape
    torch.Size([5])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.func import jacfwd, jacrev

from tutorials.core.benchmark import time_callable

__all__ = [
    "deep_map",
    "ntk_by_loop",
    "plot_jacobian_timings",
    "plot_ntk",
    "time_jacobian_modes",
]


def deep_map(n_in: int, n_out: int, hidden: int = 128, depth: int = 3,
             seed: int = 0) -> Callable[[Tensor], Tensor]:
    """A fixed smooth map R^n_in -> R^n_out with ``depth`` tanh layers of width ``hidden``.

    The cost of its Jacobian is dominated by the ``hidden x hidden`` layers, so forward
    mode costs about ``n_in`` passes through them and reverse mode about ``n_out``.

    Args:
        n_in: input size.
        n_out: output size.
        hidden: width of the hidden layers.
        depth: number of hidden ``hidden x hidden`` layers.
        seed: seed of the weights.

    Returns:
        A function of one 1-D tensor of size ``n_in``.
    """
    if min(n_in, n_out, hidden, depth) < 1:
        raise ValueError(f"deep_map: sizes must be >= 1, got n_in={n_in}, n_out={n_out}, "
                         f"hidden={hidden}, depth={depth}")
    g = torch.Generator().manual_seed(seed)
    first = torch.randn(hidden, n_in, generator=g) / n_in**0.5
    middle = [torch.randn(hidden, hidden, generator=g) / hidden**0.5 for _ in range(depth)]
    last = torch.randn(n_out, hidden, generator=g) / hidden**0.5

    def f(x: Tensor) -> Tensor:
        h = torch.tanh(first @ x)
        for w in middle:
            h = torch.tanh(w @ h)
        return last @ h

    return f


def time_jacobian_modes(shapes: Sequence[tuple[int, int]], hidden: int = 128, depth: int = 3,
                        min_run_time: float = 0.05, num_threads: int = 1) -> list[dict[str, float]]:
    """Time ``jacfwd`` and ``jacrev`` of :func:`deep_map` for each ``(n_in, n_out)``.

    Args:
        shapes: the ``(n_in, n_out)`` pairs; the Jacobian is ``n_out x n_in``.
        hidden: width of the hidden layers.
        depth: number of hidden layers.
        min_run_time: seconds of timed work per measurement.
        num_threads: CPU threads while timing (one thread: a loaded machine's other
            processes disturb a single thread least).

    Returns:
        One row per shape: ``n_in``, ``n_out``, ``jacfwd_ms``, ``jacrev_ms`` (medians) and
        ``rev_over_fwd`` (how many times slower reverse mode was).
    """
    rows = []
    for n_in, n_out in shapes:
        if n_in < 1 or n_out < 1:
            raise ValueError(f"time_jacobian_modes: shape {(n_in, n_out)} must be two sizes >= 1")
        f = deep_map(n_in, n_out, hidden=hidden, depth=depth)
        x = torch.randn(n_in, generator=torch.Generator().manual_seed(1))
        fwd, rev = jacfwd(f), jacrev(f)
        torch.testing.assert_close(fwd(x), rev(x), rtol=1e-4, atol=1e-5)
        t_fwd = time_callable(fwd, x, label=f"jacfwd {n_out}x{n_in}", min_run_time=min_run_time,
                              num_threads=num_threads)
        t_rev = time_callable(rev, x, label=f"jacrev {n_out}x{n_in}", min_run_time=min_run_time,
                              num_threads=num_threads)
        rows.append({"n_in": n_in, "n_out": n_out, "jacfwd_ms": t_fwd.median_us / 1e3,
                     "jacrev_ms": t_rev.median_us / 1e3,
                     "rev_over_fwd": t_rev.median_us / t_fwd.median_us})
    return rows


def ntk_by_loop(model: nn.Module, x1: Tensor, x2: Tensor) -> Tensor:
    """The empirical NTK of a scalar-output model the slow way: one ``autograd.grad`` per example.

    ``Θ(x, x') = ∇θ f(x) · ∇θ f(x')``: the reference the chapter's ``vmap(jacrev(...))``
    contraction is checked against.

    Args:
        model: a module mapping ``(N, ...)`` to ``(N, 1)``.
        x1: first batch.
        x2: second batch.

    Returns:
        The kernel, shape ``(N1, N2)``.
    """
    params = [p for p in model.parameters()]

    def grads(x: Tensor) -> Tensor:
        rows = []
        for xi in x:
            out = model(xi.unsqueeze(0)).squeeze()
            rows.append(torch.cat([g.flatten() for g in torch.autograd.grad(out, params)]))
        return torch.stack(rows)

    return grads(x1) @ grads(x2).T


def plot_ntk(kernel: Tensor, grid: Tensor, path: str | Path) -> Path:
    """Draw an NTK matrix over a 1-D input grid as a heatmap and save it.

    Args:
        kernel: ``(N, N)`` kernel values.
        grid: the ``N`` input values the rows and columns stand for.
        path: where to write the PNG.

    Returns:
        The path written.
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(4.6, 3.8), dpi=100)
    lo, hi = float(grid[0]), float(grid[-1])
    im = ax.imshow(kernel.numpy(), origin="lower", extent=(lo, hi, lo, hi), cmap="viridis")
    ax.set_xlabel("x'")
    ax.set_ylabel("x")
    ax.set_title("empirical NTK Θ(x, x') of a 1-64-64-1 MLP")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_jacobian_timings(rows: Sequence[Mapping[str, float]], path: str | Path) -> Path:
    """Plot ``jacfwd`` and ``jacrev`` times against the Jacobian's shape and save the PNG.

    Args:
        rows: the output of :func:`time_jacobian_modes`.
        path: where to write the PNG.

    Returns:
        The path written.
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    labels = [f"{int(r['n_out'])}×{int(r['n_in'])}" for r in rows]
    xs = range(len(rows))
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    ax.plot(xs, [r["jacfwd_ms"] for r in rows], "o-", label="jacfwd (forward mode)")
    ax.plot(xs, [r["jacrev_ms"] for r in rows], "s--", label="jacrev (reverse mode)")
    ax.set_xticks(list(xs), labels)
    ax.set_yscale("log")
    ax.set_xlabel("Jacobian shape (outputs × inputs): tall on the left, wide on the right")
    ax.set_ylabel("median time (ms)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
