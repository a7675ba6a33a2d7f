"""The figures of Lecture 17, drawn with matplotlib (Agg): attribution grids, tokens, curves.

Every function returns the matplotlib figure after saving it to ``path`` (the
caller prints the path). Attribution maps are drawn with a diverging colormap
centred on 0 (red: evidence for the target class, blue: against), each map
scaled to its own largest absolute value, because the methods' units differ.

Examples:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "grid.png"
    >>> fig = attribution_grid(torch.zeros(2, 16, 16), {"a": torch.randn(2, 16, 16)}, ["0", "1"], path)
    >>> path.is_file()
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import Tensor  # noqa: E402

__all__ = ["attribution_grid", "curves", "embedding_scatter", "pathology_panels", "token_colors"]


def _signed(ax: plt.Axes, amap: np.ndarray) -> None:
    bound = float(np.abs(amap).max()) or 1.0
    ax.imshow(amap, cmap="RdBu_r", vmin=-bound, vmax=bound)


def attribution_grid(images: Tensor, maps: Mapping[str, Tensor], row_labels: Sequence[str],
                     path: Path, title: str | None = None) -> Figure:
    """Inputs × methods: one row per image, the input first, then one column per method.

    Args:
        images: ``(N, H, W)`` inputs, drawn in grey.
        maps: method name → ``(N, h, w)`` attributions (signed, or absolute for saliency).
        row_labels: one label per image (e.g. ``"label 3"``).
        path: where to save the PNG.
        title: optional figure title.
    """
    n, cols = len(images), 1 + len(maps)
    fig, axes = plt.subplots(n, cols, figsize=(1.35 * cols, 1.4 * n + (0.3 if title else 0)), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i].detach().numpy(), cmap="gray")
        axes[i, 0].set_ylabel(row_labels[i], fontsize=8)
        for j, (name, amap) in enumerate(maps.items(), start=1):
            _signed(axes[i, j], amap[i].detach().numpy())
            if i == 0:
                axes[0, j].set_title(name, fontsize=8)
    axes[0, 0].set_title("input", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig


def token_colors(sentences: Sequence[Sequence[str]], scores: Sequence[Sequence[float]],
                 captions: Sequence[str], path: Path) -> Figure:
    """Sentences as rows of coloured word boxes: red for positive attribution, blue for negative.

    Each sentence is scaled to its own largest absolute score.
    """
    cmap = plt.get_cmap("RdBu_r")
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(sentences) + 0.3))
    ax.set_xlim(0, 1)
    ax.set_ylim(len(sentences) - 0.5, -0.5)
    ax.axis("off")
    for row, (words, vals, caption) in enumerate(zip(sentences, scores, captions, strict=True)):
        bound = max(abs(v) for v in vals) or 1.0
        x = 0.0
        for word, v in zip(words, vals, strict=True):
            ax.text(x, row, word, fontsize=10, va="center", ha="left", family="monospace",
                    color="white" if abs(v) > 0.6 * bound else "black",
                           bbox={"facecolor": cmap(0.5 + 0.5 * v / bound), "edgecolor": "none", "pad": 2})
            x += 0.012 * (len(word) + 1.6)  # monospace: advance by the word's length
        ax.text(1.0, row, caption, fontsize=8, va="center", ha="right", color="0.3")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig


def pathology_panels(grad_norms: Mapping[str, Sequence[float]], stds: Mapping[str, Sequence[float]],
                     dead: Mapping[str, Sequence[float]], drift: Sequence[float],
                     drift_labels: Sequence[str], path: Path) -> Figure:
    """Four panels: gradient norm per layer, activation std per layer, dead units, batch-norm drift."""
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.3))
    for name, values in grad_norms.items():
        axes[0].semilogy(range(1, len(values) + 1), values, marker="o", label=name)
    axes[0].set(xlabel="layer (input → output)", ylabel="‖∂loss/∂layer input‖", title="gradient norm")
    for name, values in stds.items():
        axes[1].semilogy(range(1, len(values) + 1), values, marker="o", label=name)
    axes[1].set(xlabel="layer (input → output)", ylabel="std of activations", title="activation scale")
    axes[0].legend(fontsize=7)
    width = 0.8 / max(len(dead), 1)
    for k, (name, values) in enumerate(dead.items()):
        axes[2].bar(np.arange(len(values)) + (k - (len(dead) - 1) / 2) * width, values, width, label=name)
    axes[2].set(xlabel="hidden ReLU layer", ylabel="share of dead units", ylim=(0, 1.05),
                title="dead ReLUs after training")
    axes[2].set_xticks(range(max(len(v) for v in dead.values())),
                       [str(i + 1) for i in range(max(len(v) for v in dead.values()))])
    axes[2].legend(fontsize=7)
    colors = ["C3" if "clean" not in lab else "C0" for lab in drift_labels]
    axes[3].bar(range(len(drift)), drift, color=colors)
    axes[3].set_xticks(range(len(drift)), drift_labels, rotation=35, ha="right", fontsize=7)
    axes[3].set(ylabel="drift (running std)", title="batch vs BN running stats")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig


def curves(xs: Sequence[str], series: Mapping[str, Sequence[float]], ylabel: str, title: str,
           path: Path, ylim: tuple[float, float] | None = None) -> Figure:
    """One line per series over categorical ``xs`` (layers), with markers."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for name, values in series.items():
        ax.plot(range(len(values)), values, marker="o", label=name)
    ax.set_xticks(range(len(xs)), xs)
    ax.set(ylabel=ylabel, title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig


def embedding_scatter(points: Mapping[str, np.ndarray], labels: np.ndarray, path: Path) -> Figure:
    """Side-by-side 2-D scatters (e.g. PCA and t-SNE), points coloured by class with the digit drawn."""
    fig, axes = plt.subplots(1, len(points), figsize=(4.6 * len(points), 4.2), squeeze=False)
    for ax, (name, xy) in zip(axes[0], points.items(), strict=True):
        for c in range(10):
            sel = labels == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=7, color=plt.get_cmap("tab10")(c), alpha=0.7)
            cx, cy = np.median(xy[sel], axis=0)
            ax.text(cx, cy, str(c), fontsize=12, weight="bold", ha="center", va="center")
        ax.set(title=name, xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return fig
