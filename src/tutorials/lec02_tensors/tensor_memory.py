"""How a tensor's shape and strides map onto its flat storage, in words and pictures.

A tensor is a *view*: a storage (one flat block of bytes), an offset into it, a
shape, and one stride per dimension. Element ``t[i, j, ...]`` lives at storage
position ``offset + i * stride[0] + j * stride[1] + ...`` (counted in elements).
:func:`layout` summarizes these numbers, :func:`shares_storage` tells a view from
a copy, and :func:`draw_memory_layout` draws where each element of a tensor sits
in its storage.

Examples:
    >>> import torch
    >>> x = torch.arange(12).view(3, 4)
    >>> layout(x.t())
    TensorLayout(shape=(4, 3), stride=(1, 4), offset=0, contiguous=False, channels_last=False)
    >>> element_offset(x.t(), (2, 1))   # x.t()[2, 1] is x[1, 2], storage position 6
    6
    >>> shares_storage(x, x.t()), shares_storage(x, x.t().contiguous())
    (True, False)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "TensorLayout",
    "draw_memory_layout",
    "element_offset",
    "layout",
    "shares_storage",
    "storage_positions",
]


@dataclass(frozen=True)
class TensorLayout:
    """The numbers that place a tensor in its storage.

    Attributes:
        shape: the logical shape.
        stride: elements to skip in storage to move one step along each dimension.
        offset: storage position of the first element (``storage_offset()``).
        contiguous: row-major with no gaps (``is_contiguous()``).
        channels_last: a 4-D tensor stored as NHWC
            (``is_contiguous(memory_format=torch.channels_last)``).
    """

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int
    contiguous: bool
    channels_last: bool


def layout(t: Tensor) -> TensorLayout:
    """Summarize how ``t`` sits in its storage.

    Args:
        t: any strided tensor.

    Returns:
        A :class:`TensorLayout`; ``channels_last`` is ``False`` unless ``t`` is 4-D.
    """
    return TensorLayout(
        shape=tuple(t.shape),
        stride=tuple(t.stride()),
        offset=t.storage_offset(),
        contiguous=t.is_contiguous(),
        channels_last=t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last),
    )


def element_offset(t: Tensor, index: Sequence[int]) -> int:
    """Storage position (in elements) of ``t[index]``: offset + Σ index·stride.

    Args:
        t: a strided tensor.
        index: one non-negative integer per dimension.

    Returns:
        The position in ``t.untyped_storage()``, counted in elements of ``t.dtype``.

    Raises:
        ValueError: ``index`` has the wrong length or lies outside ``t.shape``.
    """
    if len(index) != t.dim():
        raise ValueError(f"element_offset: index {tuple(index)} has {len(index)} entries, "
                         f"the tensor has {t.dim()} dimensions (shape {tuple(t.shape)})")
    for i, n in zip(index, t.shape):
        if not 0 <= i < n:
            raise ValueError(f"element_offset: index {tuple(index)} is outside shape "
                             f"{tuple(t.shape)}")
    return t.storage_offset() + sum(i * s for i, s in zip(index, t.stride()))


def shares_storage(a: Tensor, b: Tensor) -> bool:
    """Whether ``a`` and ``b`` are views of the same storage (writing one changes the other).

    Compares ``untyped_storage().data_ptr()``, the address where each storage starts;
    two views of one storage have the same address even when their own
    ``data_ptr()`` (the address of their first element) differs.
    """
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def storage_positions(t: Tensor) -> dict[tuple[int, ...], int]:
    """Map every index of ``t`` to its storage position (see :func:`element_offset`).

    Args:
        t: a small tensor (every element is listed).

    Returns:
        ``{index: position}`` in row-major order of the indices.
    """
    return {idx: element_offset(t, idx) for idx in product(*(range(n) for n in t.shape))}


_COLORS = ("#e4572e", "#4c9f38", "#2e86de", "#f3a712", "#8e44ad", "#17a2b8", "#7f8c8d")


def _color_key(idx: tuple[int, ...]) -> int:
    # 4-D: color by channel (dim 1); 2-D: by row; 1-D: one color
    if len(idx) == 4:
        return idx[1]
    return idx[0] if len(idx) >= 2 else 0


def draw_memory_layout(panels: Mapping[str, Tensor], cell: float = 0.42) -> Figure:
    """Draw each tensor as its logical grid above the storage strip it reads.

    Every element is drawn twice: in the tensor's grid (left) and at its position in
    the storage strip (right), with the same color and its storage position written
    in it. Rows of a 2-D tensor get one color each; channels of an ``N=1`` 4-D tensor
    are drawn as planes side by side and get one color each. The strip shows the
    whole storage; positions the view does not use are left grey.

    Args:
        panels: ``{title: tensor}``; each tensor 1-D, 2-D or 4-D with batch size 1,
            with a storage of at most 64 elements.
        cell: size of one cell in inches.

    Returns:
        A matplotlib figure with one row per panel.

    Raises:
        ValueError: a tensor has an unsupported shape or is too large to draw.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    specs = []
    for title, t in panels.items():
        if t.dim() not in (1, 2, 4) or (t.dim() == 4 and t.shape[0] != 1):
            raise ValueError(f"draw_memory_layout: panel {title!r} has shape {tuple(t.shape)}; "
                             "expected 1-D, 2-D, or 4-D with batch size 1")
        pos = storage_positions(t)
        used = max(pos.values()) + 1 if pos else 0
        width = max(used, t.untyped_storage().nbytes() // t.element_size())
        if width > 64:
            raise ValueError(f"draw_memory_layout: panel {title!r} spans {width} storage "
                             "positions; draw tensors of at most 64")
        specs.append((title, t, pos, width))

    def grid_xy(idx: tuple[int, ...], shape: tuple[int, ...]) -> tuple[float, float]:
        if len(idx) == 1:
            return idx[0], 0
        if len(idx) == 2:
            return idx[1], idx[0]
        _, c, h, w = idx  # channel planes side by side, one column apart
        return c * (shape[3] + 1) + w, h

    def grid_size(shape: tuple[int, ...]) -> tuple[int, int]:
        if len(shape) == 1:
            return shape[0], 1
        if len(shape) == 2:
            return shape[1], shape[0]
        return shape[1] * (shape[3] + 1) - 1, shape[2]

    grid_w = max(grid_size(tuple(t.shape))[0] for _, t, _, _ in specs)
    strip_w = max(w for *_, w in specs)
    heights = [grid_size(tuple(t.shape))[1] + (2.0 if t.dim() == 4 else 1.6)
               for _, t, _, _ in specs]
    total_w = grid_w + 3 + strip_w
    fig, ax = plt.subplots(figsize=(total_w * cell + 0.4, sum(heights) * cell + 0.3))
    ax.set_xlim(-0.5, total_w + 0.5)
    ax.set_ylim(sum(heights), -0.3)
    ax.axis("off")

    def box(x: float, y: float, color: str, text: str) -> None:
        ax.add_patch(Rectangle((x, y), 1, 1, facecolor=color, edgecolor="white", lw=1.5))
        ax.text(x + 0.5, y + 0.5, text, ha="center", va="center", fontsize=8,
                color="white" if color != "#dddddd" else "#555555")

    top = 0.0
    for (title, t, pos, width), h in zip(specs, heights):
        info = layout(t)
        ax.text(0, top + 0.35, f"{title}   shape {info.shape}  stride {info.stride}",
                fontsize=9, va="center", family="monospace")
        y0 = top + 0.9
        owner: dict[int, str] = {}
        for idx, p in pos.items():
            color = _COLORS[_color_key(idx) % len(_COLORS)]
            gx, gy = grid_xy(idx, tuple(t.shape))
            box(gx, y0 + gy, color, str(p))
            owner[p] = color
        if t.dim() == 4:  # name the channel planes
            for c in range(t.shape[1]):
                ax.text(c * (t.shape[3] + 1), y0 + t.shape[2] + 0.35, f"channel {c}",
                        fontsize=7, color="#555555", va="center")
        sx = grid_w + 3
        ax.annotate("", xy=(sx - 0.4, y0 + 0.5), xytext=(grid_w + 0.6, y0 + 0.5),
                    arrowprops={"arrowstyle": "->", "color": "#555555"})
        for p in range(width):
            box(sx + p, y0, owner.get(p, "#dddddd"), str(p))
        ax.text(sx, y0 + 1.35, "storage (position →)", fontsize=7, color="#555555")
        top += h
    fig.tight_layout()
    return fig
