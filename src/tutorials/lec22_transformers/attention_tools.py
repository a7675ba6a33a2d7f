"""Helpers of Lecture 22 that the page uses but does not show line by line.

:func:`attention_matrix_bytes` is the exact size of the attention matrix a naive
implementation materializes; :func:`time_attention` times an attention function over
sequence lengths (the page's quadratic-cost sweep); :func:`reversal_batch` draws the
digit-reversal task of the seq2seq section; :func:`draw_heatmaps` and
:func:`draw_patch_grid` draw the chapter's figures.

Examples:
    >>> attention_matrix_bytes(batch=1, heads=8, length=1024)
    33554432
    >>> src, tgt_in, tgt = reversal_batch(2, 4, torch.Generator().manual_seed(0), bos=10)
    >>> bool((tgt == src.flip(1)).all()), tgt_in[:, 0].tolist()
    (True, [10, 10])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["attention_matrix_bytes", "draw_heatmaps", "draw_patch_grid", "reversal_batch", "time_attention"]


def attention_matrix_bytes(batch: int, heads: int, length: int, dtype: torch.dtype = torch.float32) -> int:
    """Bytes of one ``(batch, heads, length, length)`` attention matrix.

    Args:
        batch: batch size.
        heads: number of heads.
        length: sequence length (queries = keys).
        dtype: element type of the scores.

    Returns:
        ``batch * heads * length**2 * itemsize``, exactly.

    Raises:
        ValueError: a size is not positive.
    """
    if min(batch, heads, length) < 1:
        raise ValueError(f"batch, heads and length must be >= 1, got {batch}, {heads}, {length}")
    itemsize = torch.empty((), dtype=dtype).element_size()
    return batch * heads * length * length * itemsize


def time_attention(attend: Callable[[Tensor, Tensor, Tensor], Tensor], lengths: Sequence[int], *,
                   batch: int = 1, heads: int = 4, head_dim: int = 32, repeats: int = 5,
                   seed: int = 0, threads: int | None = 1) -> list[float]:
    """The fastest of ``repeats`` calls of ``attend(q, k, v)`` for each sequence length.

    ``q``, ``k`` and ``v`` are random ``(batch, heads, L, head_dim)`` tensors; one
    warm-up call per length is not timed; gradients are off. By default the calls run on
    one intra-op thread (restored afterwards): on a shared machine, threads that wait for
    each other measure the scheduler more than the algorithm.

    Args:
        attend: the attention function to time.
        lengths: the sequence lengths ``L``.
        batch: batch size.
        heads: number of heads.
        head_dim: size of each head.
        repeats: timed calls per length (the minimum is kept: the least disturbed run).
        seed: seed of the random inputs.
        threads: ``torch.set_num_threads`` during the timing; ``None`` keeps the current setting.

    Returns:
        Seconds per call, one per length.

    Raises:
        ValueError: ``repeats`` is not positive or a length is not positive.
    """
    if repeats < 1 or any(n < 1 for n in lengths):
        raise ValueError(f"repeats and lengths must be >= 1, got repeats={repeats}, lengths={list(lengths)}")
    gen = torch.Generator().manual_seed(seed)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        seconds = _time_lengths(attend, lengths, batch, heads, head_dim, repeats, gen)
    finally:
        torch.set_num_threads(before)
    return seconds


def _time_lengths(attend, lengths, batch, heads, head_dim, repeats, gen):
    seconds = []
    with torch.inference_mode():
        for length in lengths:
            q, k, v = torch.randn(3, batch, heads, length, head_dim, generator=gen).unbind(0)
            attend(q, k, v)  # warm-up
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                attend(q, k, v)
                best = min(best, time.perf_counter() - start)
            seconds.append(best)
    return seconds


def reversal_batch(n: int, length: int, generator: torch.Generator, *, bos: int = 10,
                   digits: int = 10) -> tuple[Tensor, Tensor, Tensor]:
    """A batch of the digit-reversal task: the target is the source read backwards.

    Args:
        n: number of sequences.
        length: digits per sequence.
        generator: the random generator (seeded by the caller).
        bos: the begin-of-sequence token that starts the decoder's input.
        digits: the digits are ``0 .. digits - 1``.

    Returns:
        ``src`` ``(n, length)``, ``tgt_in`` ``(n, length)`` (``bos`` then the target
        shifted right: what the decoder reads with teacher forcing) and ``tgt``
        ``(n, length)`` (``src`` reversed), all ``int64``.

    Raises:
        ValueError: ``bos`` is one of the digits.
    """
    if 0 <= bos < digits:
        raise ValueError(f"bos={bos} collides with the digits 0..{digits - 1}")
    src = torch.randint(0, digits, (n, length), generator=generator)
    tgt = src.flip(1)
    tgt_in = torch.cat([torch.full((n, 1), bos), tgt[:, :-1]], dim=1)
    return src, tgt_in, tgt


def draw_heatmaps(panels: Sequence[tuple[Tensor, str, str, str]], path: str | Path, *,
                  cmap: str = "viridis", width: float = 4.2, height: float = 3.4) -> Path:
    """Draw matrices side by side as heatmaps with colour bars and save the figure.

    Args:
        panels: ``(matrix, title, xlabel, ylabel)`` per panel; each matrix is 2-D.
        path: the PNG file to write (its folder must exist).
        cmap: the matplotlib colour map.
        width: width of one panel in inches.
        height: height of the figure in inches.

    Returns:
        The path written.

    Raises:
        ValueError: a matrix is not 2-D.
    """
    import matplotlib.pyplot as plt

    for matrix, title, _, _ in panels:
        if matrix.ndim != 2:
            raise ValueError(f"panel {title!r}: expected a 2-D matrix, got shape {tuple(matrix.shape)}")
    fig, axes = plt.subplots(1, len(panels), figsize=(width * len(panels), height), squeeze=False)
    for ax, (matrix, title, xlabel, ylabel) in zip(axes[0], panels):
        image = ax.imshow(matrix.detach().cpu().numpy(), cmap=cmap, aspect="auto", interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def draw_patch_grid(images: Sequence[tuple[Tensor, int, str]], path: str | Path) -> Path:
    """Draw images with the grid of their ViT patches and save the figure.

    Args:
        images: ``(image, patch, title)`` per panel; ``image`` is ``(H, W)`` grayscale or
            ``(H, W, 3)`` RGB (values in [0, 1] or 0..255), ``patch`` the patch side in pixels.
        path: the PNG file to write (its folder must exist).

    Returns:
        The path written.

    Raises:
        ValueError: an image's sides are not multiples of its patch size.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(images), figsize=(3.6 * len(images), 3.8), squeeze=False)
    for ax, (image, patch, title) in zip(axes[0], images):
        h, w = image.shape[:2]
        if h % patch or w % patch:
            raise ValueError(f"{title!r}: image of {h}x{w} pixels is not a whole number of "
                             f"{patch}-pixel patches")
        ax.imshow(image.cpu().numpy(), cmap="gray_r" if image.ndim == 2 else None, interpolation="nearest")
        for pos in range(0, w + 1, patch):
            ax.axvline(pos - 0.5, color="tab:red", linewidth=0.8)
        for pos in range(0, h + 1, patch):
            ax.axhline(pos - 0.5, color="tab:red", linewidth=0.8)
        rows, cols = h // patch, w // patch
        ax.set_title(f"{title}\n{rows}x{cols} = {rows * cols} patches of {patch}x{patch}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)
