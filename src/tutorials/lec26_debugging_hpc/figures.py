"""The chapter's figures: gradient norms over a run, the loss scale of fp16 training, allocator segments.

Each function draws one figure with matplotlib (the Agg backend, no display) and
writes it as a PNG; the numbers come from the chapter's runs.

Examples:
    >>> import tempfile, pathlib
    >>> runs = {"plain": [(0, 1.0, 2.0), (1, float("inf"), float("nan"))]}
    >>> path = plot_grad_norms(runs, bad_step=0, path=pathlib.Path(tempfile.mkdtemp()) / "g.png")
    >>> path.name
    'g.png'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plot_grad_norms", "plot_loss_scale", "plot_segments"]

_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]


def plot_grad_norms(runs: Mapping[str, Sequence[tuple[int, float, float]]], bad_step: int,
                    path: str | Path) -> Path:
    """Loss and total gradient norm per step, log scale, the bad batch and each first non-finite step marked.

    Args:
        runs: ``{label: [(step, loss, grad_norm), ...]}``; a run ends at its first non-finite loss.
        bad_step: the step of the corrupted batch (a dotted line).
        path: the PNG to write.

    Returns:
        ``path``.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True)
    for i, ((label, history), color) in enumerate(zip(runs.items(), _COLORS)):
        steps = [h[0] for h in history]
        for ax, column, name in ((axes[0], 1, "loss"), (axes[1], 2, "gradient norm")):
            values = [h[column] for h in history]
            finite = [(s, v) for s, v in zip(steps, values) if math.isfinite(v)]
            ax.plot([s for s, _ in finite], [v for _, v in finite], color=color, label=label, lw=1.5,
                    marker="o" if len(finite) < 3 else None, ms=4)
            bad = [s for s, v in zip(steps, values) if not math.isfinite(v)]
            if bad:  # the first non-finite value: a cross at the top of the axis, in the run's colour
                ax.plot([bad[0]], [1.0], marker="x", color=color, ms=10, mew=2.5,
                        transform=ax.get_xaxis_transform(), clip_on=False)
                ax.annotate(f"{values[steps.index(bad[0])]} at step {bad[0]}", (bad[0], 1.0),
                            xycoords=("data", "axes fraction"), xytext=(6, -14 - 12 * i),
                            textcoords="offset points", ha="left", color=color, fontsize=9)
            ax.set_yscale("log")
            ax.set_title(name)
            ax.set_xlabel("step")
    for ax in axes:
        ax.axvline(bad_step, color="grey", ls=":", lw=1)
        ax.text(bad_step, 0.02, " corrupted batch", transform=ax.get_xaxis_transform(), color="grey",
                fontsize=8)
    axes[0].legend(loc="center left", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_loss_scale(scales: Sequence[float], skipped: Sequence[int], path: str | Path) -> Path:
    """The loss scale used at each step (log2), with the skipped steps marked.

    Args:
        scales: the scale at each step (what the step's ``scaler.scale(loss)`` multiplied by).
        skipped: the steps whose gradients held Inf/NaN, so ``scaler.step`` skipped the update.
        path: the PNG to write.

    Returns:
        ``path``.
    """
    fig, ax = plt.subplots(figsize=(8, 3.4))
    exps = [math.log2(s) for s in scales]
    ax.step(range(len(exps)), exps, where="post", color="tab:blue", label="log2(scale)")
    ax.plot(skipped, [exps[s] for s in skipped], "x", color="tab:red", ms=8, mew=2,
            label="Inf/NaN in the gradients: step skipped, scale halved")
    ax.set_xlabel("step")
    ax.set_ylabel("log2(loss scale)")
    ax.set_yticks(range(int(min(exps)), int(max(exps)) + 1))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_segments(layouts: Mapping[str, Sequence[Sequence[tuple[int, int, bool]]]], unit: int,
                  capacity: int, request: int, path: str | Path) -> Path:
    """The segments of a caching allocator, one row per scenario, blocks coloured allocated or free.

    Args:
        layouts: ``{title: [segment, ...]}``, each segment a list of ``(offset, size, allocated)``
            blocks in bytes, segments drawn one after another.
        unit: bytes per axis unit (``MiB``).
        capacity: the device's bytes (the axis ends there).
        request: the size of the request the figure is about (drawn as a bracket).
        path: the PNG to write.

    Returns:
        ``path``.
    """
    fig, axes = plt.subplots(len(layouts), 1, figsize=(9, 1.5 + 1.3 * len(layouts)), squeeze=False)
    for ax, (title, segments) in zip(axes[:, 0], layouts.items()):
        start = 0
        for segment in segments:
            for offset, size, allocated in segment:
                ax.barh(0, size / unit, left=(start + offset) / unit, height=0.6,
                        color="tab:red" if allocated else "tab:green", edgecolor="white",
                        alpha=0.9 if allocated else 0.45)
                ax.text((start + offset + size / 2) / unit, 0, f"{size // unit}", ha="center", va="center",
                        fontsize=8)
            seg_size = sum(b[1] for b in segment)
            gap = 0.004 * capacity / unit  # a small gap shows where one segment ends and the next begins
            ax.plot([start / unit + gap, (start + seg_size) / unit - gap], [0.42, 0.42], color="black", lw=2)
            ax.text((start + seg_size / 2) / unit, 0.47, f"segment of {seg_size // unit} MiB", ha="center",
                    va="bottom", fontsize=8)
            start += seg_size
        ax.barh(0, (capacity - start) / unit, left=start / unit, height=0.6, color="lightgrey", alpha=0.5)
        ax.set_xlim(0, capacity / unit)
        ax.set_yticks([])
        ax.set_ylim(-0.4, 0.65)
        ax.set_title(title, fontsize=10, loc="left")
    axes[-1, 0].set_xlabel(f"device memory (MiB); black bars: segments; the request: {request // unit} MiB")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=a) for c, a in
               (("tab:red", 0.9), ("tab:green", 0.45), ("lightgrey", 0.5))]
    axes[0, 0].legend(handles, ["allocated", "reserved, free (cached)", "not reserved"], fontsize=8,
                      loc="upper right", ncol=3, bbox_to_anchor=(1.0, 1.45))
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
