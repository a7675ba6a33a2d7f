"""Helpers for Lecture 1: a setup check, a graph-size counter and a layer diagram.

Examples:
    >>> import torch
    >>> from tutorials.lec01_big_picture.big_picture import count_graph_nodes, setup_check
    >>> report = setup_check("cpu")
    >>> report.ok, report.problems
    (True, [])
    >>> x = torch.ones(3, requires_grad=True)
    >>> count_graph_nodes((x * 2).sum())  # SumBackward0, MulBackward0, AccumulateGrad
    3
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field

import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from tutorials.core.runtime import device_label, pick_device

__all__ = ["SetupReport", "count_graph_nodes", "draw_layer_diagram", "setup_check"]


@dataclass
class SetupReport:
    """What :func:`setup_check` found.

    Attributes:
        python: the Python version, e.g. ``"3.11.7"``.
        torch: the torch version, e.g. ``"2.14.1+cu130"``.
        cuda: the CUDA version torch was built with, or ``"none"``.
        cuda_available: whether a CUDA GPU can be used now.
        device: the device the course code will run on.
        device_name: ``"CPU"`` or the GPU's product name.
        problems: one sentence per failed check; empty when all is well.
    """

    python: str
    torch: str
    cuda: str
    cuda_available: bool
    device: torch.device
    device_name: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.problems

    def format(self) -> str:
        """The report as aligned ``name  value`` lines, for printing."""
        rows = [
            ("python", self.python),
            ("torch", self.torch),
            ("built with CUDA", self.cuda),
            ("CUDA available", str(self.cuda_available)),
            ("device", f"{self.device} ({self.device_name})"),
            ("status", "OK" if self.ok else "; ".join(self.problems)),
        ]
        return "\n".join(f"{name:16s} {value}" for name, value in rows)


def setup_check(
    device: str = "auto", min_torch: str = "2.4", min_python: tuple[int, int] = (3, 10)
) -> SetupReport:
    """Check that this environment can run the course, and say what it runs on.

    The check compares the Python and torch versions with the minimums, then runs
    a small matrix product on the chosen device and compares it with a float64
    result computed on the CPU.

    Args:
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        min_torch: the oldest torch version accepted, e.g. ``"2.4"``.
        min_python: the oldest Python accepted, as ``(major, minor)``.

    Returns:
        A :class:`SetupReport`; its ``problems`` list names every failed check.

    Raises:
        ValueError: ``device`` is not one of ``auto``, ``cpu``, ``cuda``.
        RuntimeError: ``device="cuda"`` on a machine without a usable GPU.
    """
    dev = pick_device(device)
    problems = []
    if sys.version_info[:2] < min_python:
        problems.append(
            f"Python {platform.python_version()} is older than "
            f"{min_python[0]}.{min_python[1]}; install a newer Python"
        )
    if torch.__version__ < min_torch:  # TorchVersion compares numerically
        problems.append(
            f"torch {torch.__version__} is older than {min_torch}; "
            "reinstall with `pip install -c constraints.txt -e .`"
        )
    g = torch.Generator().manual_seed(0)
    a = torch.randn(64, 64, generator=g, dtype=torch.float64)
    expected = a @ a
    got = (a.float().to(dev) @ a.float().to(dev)).cpu().double()
    err = float((got - expected).abs().max() / expected.abs().max())
    if err > 1e-2:  # loose: if TF32 matmuls are switched on, ~1e-3 is normal
        problems.append(f"a 64x64 matmul on {dev} is off by {err:.2g} (relative)")
    return SetupReport(
        python=platform.python_version(),
        torch=str(torch.__version__),
        cuda=torch.version.cuda or "none",
        cuda_available=torch.cuda.is_available(),
        device=dev,
        device_name=device_label(dev),
        problems=problems,
    )


def count_graph_nodes(output: torch.Tensor) -> int:
    """Number of distinct autograd nodes reachable from ``output.grad_fn``.

    A node used by several later operations is counted once; the
    ``AccumulateGrad`` nodes of leaves are included.

    Args:
        output: a tensor produced by operations on tensors that require grad.

    Returns:
        The number of nodes in the backward graph (0 when ``output`` has none).
    """
    seen: set[int] = set()
    stack = [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend(next_node for next_node, _ in node.next_functions)
    return len(seen)


def draw_layer_diagram(
    layers: list[tuple[str, str]], title: str = "", width: float = 8.0
) -> Figure:
    """Draw a stack of labelled boxes, top layer first, with arrows between them.

    Args:
        layers: ``(name, note)`` per layer, from the top (closest to the user) down;
            ``note`` may hold several lines.
        title: the figure title.
        width: the figure width in inches.

    Returns:
        The matplotlib figure (not shown; save it with ``fig.savefig``).

    Raises:
        ValueError: ``layers`` is empty.
    """
    if not layers:
        raise ValueError("draw_layer_diagram needs at least one (name, note) layer")
    box_h, gap = 1.0, 0.45
    height = len(layers) * (box_h + gap)
    fig = Figure(figsize=(width, 0.7 * height + 0.5))
    ax = fig.add_subplot()
    colors = ["#dbe9f6", "#e3f1dc", "#fcefd6", "#f6dede", "#ece2f4", "#e8e8e8"]
    for i, (name, note) in enumerate(layers):
        y = height - (i + 1) * (box_h + gap) + gap
        ax.add_patch(FancyBboxPatch(
            (0.0, y), 10.0, box_h, boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=colors[i % len(colors)], edgecolor="#444444", linewidth=1.0,
        ))
        ax.text(0.25, y + box_h / 2, name, va="center", ha="left",
                fontsize=10.5, fontweight="bold")
        ax.text(3.3, y + box_h / 2, note, va="center", ha="left",
                fontsize=8.5, family="monospace")
        if i + 1 < len(layers):
            ax.annotate("", xy=(1.4, y - gap + 0.03), xytext=(1.4, y - 0.03),
                        arrowprops={"arrowstyle": "->", "color": "#444444"})
    ax.set_xlim(-0.1, 10.1)
    ax.set_ylim(gap - 0.1, height + 0.1)  # boxes span [gap, height]
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    print(setup_check().format())
