"""Latency and throughput of several ways to run one model, by batch size, and their plot.

Each *runner* is a callable that takes a float32 NumPy batch and returns the model's
output; :func:`latency_rows` times each one with
:func:`tutorials.core.benchmark.time_callable` (median of repeated blocks) at every
batch size, and :func:`plot_latency` draws latency and throughput side by side.

Example:
    >>> import numpy as np
    >>> rows = latency_rows({"copy": np.copy}, [1, 4], lambda b: np.zeros((b, 3), np.float32),
    ...                     min_run_time=0.01)
    >>> [(r["runner"], r["batch"]) for r in rows] == [("copy", 1), ("copy", 4)]
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from tutorials.core.benchmark import time_callable

__all__ = ["latency_rows", "plot_latency", "speedups"]


def latency_rows(runners: Mapping[str, Callable[[np.ndarray], object]], batch_sizes: Sequence[int],
                 make_batch: Callable[[int], np.ndarray], min_run_time: float = 0.1) -> list[dict]:
    """Time every runner at every batch size.

    Args:
        runners: ``{name: fn}``; ``fn(batch)`` runs the model on a NumPy batch.
        batch_sizes: the batch sizes, in order.
        make_batch: ``make_batch(b)`` returns the input of batch size ``b``.
        min_run_time: seconds of timed calls per (runner, batch size).

    Returns:
        One row per (batch size, runner): ``batch``, ``runner``, ``ms`` (median latency of one
        call), ``iqr_ms`` and ``samples_per_s`` (``batch / latency``).
    """
    rows = []
    for batch in batch_sizes:
        x = make_batch(batch)
        for name, fn in runners.items():
            fn(x)  # warm-up: first-call allocations, lazy initialization
            t = time_callable(fn, x, label=f"{name} b={batch}", min_run_time=min_run_time)
            ms = t.median_us / 1e3
            rows.append({"batch": batch, "runner": name, "ms": ms, "iqr_ms": t.iqr_us / 1e3,
                         "samples_per_s": batch / (ms / 1e3)})
    return rows


def speedups(rows: Sequence[Mapping[str, object]], baseline: str) -> dict[tuple[str, int], float]:
    """``{(runner, batch): baseline latency / runner latency}`` for every row.

    Args:
        rows: rows of :func:`latency_rows`.
        baseline: the runner the others are compared with.

    Raises:
        KeyError: a batch size has no row for ``baseline``.
    """
    base = {r["batch"]: r["ms"] for r in rows if r["runner"] == baseline}
    return {(r["runner"], r["batch"]): base[r["batch"]] / r["ms"] for r in rows}


def plot_latency(rows: Sequence[Mapping[str, object]], path: str | Path, title: str) -> Path:
    """Two panels, latency per call and samples per second against the batch size (log-log).

    Args:
        rows: rows of :func:`latency_rows`.
        path: the PNG to write (its folder is created).
        title: the figure's title.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name in dict.fromkeys(r["runner"] for r in rows):
        mine = [r for r in rows if r["runner"] == name]
        batches = [r["batch"] for r in mine]
        ax1.plot(batches, [r["ms"] for r in mine], "o-", label=name)
        ax2.plot(batches, [r["samples_per_s"] for r in mine], "o-", label=name)
    ticks = sorted({r["batch"] for r in rows})
    for ax, label in ((ax1, "latency per call (ms)"), (ax2, "throughput (samples / s)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(ticks, [str(t) for t in ticks])  # the batch sizes measured, as plain numbers
        ax.set_xlabel("batch size")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    ax1.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
