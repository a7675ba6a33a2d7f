"""The chapter's figures: what TensorBoard recorded, and the drift the monitor saw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["draw_drift", "draw_tensorboard"]


def draw_tensorboard(
    curves: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
    histograms: Sequence[tuple[int, np.ndarray, np.ndarray]],
    title: str,
    path: str | Path,
) -> Path:
    """Three panels read back from TensorBoard event files.

    Args:
        curves: ``{run label: {"loss/train": [(step, value)], "accuracy/val": [...]}}``.
        histograms: ``(step, bucket right edges, counts)`` of one weight tensor, by epoch.
        title: the histogram panel's title.
        path: the PNG to write.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for label, tags in curves.items():
        for ax, tag in zip(axes[:2], ("loss/train", "accuracy/val"), strict=True):
            steps, values = zip(*tags[tag], strict=True)
            ax.plot(steps, values, marker="o", markersize=3, label=label)
    axes[0].set(title="loss/train (scalar)", xlabel="epoch", ylabel="cross-entropy")
    axes[1].set(title="accuracy/val (scalar)", xlabel="epoch", ylabel="accuracy")
    axes[1].legend(fontsize=8)
    colours = plt.cm.viridis(np.linspace(0, 1, len(histograms)))
    ranges = [_range(edges, counts) for _, edges, counts in histograms]
    grid = np.linspace(min(r[0] for r in ranges), max(r[1] for r in ranges), 31)  # one grid for all epochs
    for colour, (step, edges, counts) in zip(colours, histograms, strict=True):
        centres, weights = _coarse(edges, counts, grid)
        axes[2].plot(centres, weights, color=colour, label=f"epoch {step}")
    axes[2].set(title=title, xlabel="weight value", ylabel="count per bin")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _range(edges: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """The values a TensorBoard histogram covers: first non-empty bucket's left edge to the last's right."""
    edges, counts = np.asarray(edges, dtype=float), np.asarray(counts, dtype=float)
    used = np.flatnonzero((counts > 0) & np.isfinite(edges))
    return float(edges[max(used[0] - 1, 0)]), float(edges[used[-1]])


def _coarse(edges: np.ndarray, counts: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TensorBoard's histogram (hundreds of exponential buckets) re-binned onto the edges ``grid``.

    The cumulative count at each bucket's right edge is interpolated at the new edges
    (linear inside a bucket), then differenced.
    """
    edges, counts = np.asarray(edges, dtype=float), np.asarray(counts, dtype=float)
    finite = np.isfinite(edges)
    cumulative = np.cumsum(counts[finite])
    summed = np.diff(np.interp(grid, edges[finite], cumulative))
    return (grid[:-1] + grid[1:]) / 2, summed


def draw_drift(
    reference: np.ndarray, batches: Mapping[str, np.ndarray], psis: Mapping[str, float], path: str | Path
) -> Path:
    """Histograms of the monitored feature: the training data and each production batch, with its PSI.

    Args:
        reference: the feature on the training data.
        batches: ``{label: the feature on a production batch}``.
        psis: ``{label: PSI against the reference}``.
        path: the PNG to write.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    grid = np.linspace(0, 0.8, 41)
    ax.hist(reference, grid, density=True, alpha=0.45, color="grey", label="training data (reference)")
    for label, values in batches.items():
        ax.hist(
            values, grid, density=True, histtype="step", linewidth=2, label=f"{label}: PSI {psis[label]:.2f}"
        )
    ax.set(
        xlabel="mean pixel value of an image (the monitored feature)",
        ylabel="density",
        title="Drift monitor: PSI > 0.25 triggers retraining",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
