"""Pictures of Lecture 13: the steps of a ring all-reduce, drawn from what the ranks recorded.

:func:`draw_ring_steps` takes what each rank of the chapter's ring all-reduce recorded
after every step (which chunk it sent, and for each chunk which ranks' contributions
it holds) and draws one grid per step: a row per rank, a column per chunk, the cell
coloured by how many ranks' values it has summed, and the chunk each rank sent in
that step outlined. :func:`contributors` reads a chunk's contributors from its value
when rank ``r`` contributed ``2**r`` (the sum's bits name the ranks in it).

Examples:
    >>> contributors(0b1011)
    [0, 1, 3]
    >>> chunk_label([0, 1, 3], world_size=4)
    '0+1+3'
    >>> chunk_label([0, 1, 2, 3], world_size=4)
    'all'
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["chunk_label", "contributors", "draw_ring_steps"]


def contributors(mask: int) -> list[int]:
    """The ranks whose contribution a chunk holds, read from the bits of its value.

    Args:
        mask: the chunk's value when rank ``r`` contributed ``2**r`` (a non-negative int).

    Returns:
        The ranks, in increasing order.
    """
    if mask < 0:
        raise ValueError(f"contributors: a sum of powers of two is >= 0, got {mask}")
    return [r for r in range(mask.bit_length()) if mask >> r & 1]


def chunk_label(ranks: list[int], world_size: int) -> str:
    """A cell's text: ``'0+2'``, or ``'all'`` once every rank's value is in the chunk."""
    return "all" if len(ranks) == world_size else "+".join(map(str, ranks))


def draw_ring_steps(records: list[list[dict]], path: str | Path) -> Path:
    """Draw every step of a ring all-reduce from the records of all ranks.

    Args:
        records: ``records[rank]`` is that rank's list of steps, each a dict with
            ``phase`` (``"start"``, ``"reduce-scatter"`` or ``"all-gather"``), ``step``
            (1-based within its phase), ``sent`` (the chunk index sent to the right
            neighbour, ``None`` at the start) and ``chunks`` (one int per chunk, read
            with :func:`contributors`).
        path: the PNG to write; its folder must exist.

    Returns:
        The path written.

    Raises:
        ValueError: the ranks recorded different numbers of steps, or none.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = len(records)
    steps = len(records[0]) if records else 0
    if not steps or any(len(r) != steps for r in records):
        raise ValueError(f"draw_ring_steps: every rank must record the same steps, got "
                         f"{[len(r) for r in records]}")
    first_row = 1 + (steps - 1) // 2  # the start and the reduce-scatter steps
    columns = max(first_row, steps - first_row)
    fig, axes = plt.subplots(2, columns, figsize=(2.3 * columns, 4.9))
    cmap = plt.get_cmap("Blues")
    for ax in axes.flat:
        ax.axis("off")
    for k in range(steps):
        ax = axes[0, k] if k < first_row else axes[1, k - first_row]
        head = records[0][k]
        title = "start" if head["phase"] == "start" else f"{head['phase']} {head['step']}"
        ax.set_title(title, fontsize=9)
        for rank in range(n):
            entry = records[rank][k]
            for c, mask in enumerate(entry["chunks"]):
                ranks = contributors(int(mask))
                shade = 0.12 + 0.75 * len(ranks) / n
                sent = entry["sent"] == c
                ax.add_patch(Rectangle((c, n - 1 - rank), 1, 1, fc=cmap(shade),
                                       ec="#c0392b" if sent else "white", lw=2.2 if sent else 1.0))
                ax.text(c + 0.5, n - 0.5 - rank, chunk_label(ranks, n), ha="center", va="center",
                        fontsize=6.5, color="white" if shade > 0.6 else "black")
        ax.set_xlim(0, n)
        ax.set_ylim(0, n)
        ax.set_aspect("equal")
        ax.axis("on")
        ax.set_xticks([c + 0.5 for c in range(n)], [f"c{c}" for c in range(n)], fontsize=7)
        ax.set_yticks([n - 0.5 - r for r in range(n)], [f"rank {r}" for r in range(n)], fontsize=7)
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
    spare = [axes[1, k] for k in range(steps - first_row, columns)]
    if spare:  # the free panel tells the story in words
        story = (f"reduce-scatter: after {n - 1} steps\neach rank holds one complete\nchunk ('all')\n\n"
                 f"all-gather: after {n - 1} more steps\nevery rank holds every chunk\n\n"
                 f"each rank sent {2 * (n - 1)} chunks of 1/{n}:\n2(n-1)/n of the tensor")
        spare[0].text(0.02, 0.5, story,
                      fontsize=8.5, va="center", transform=spare[0].transAxes)
    fig.suptitle(f"Ring all-reduce on {n} ranks: each cell is one chunk, its text the ranks summed "
                 "into it; red: the chunk a rank sends right in that step", fontsize=9)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
