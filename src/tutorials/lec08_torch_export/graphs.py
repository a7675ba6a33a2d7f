"""Helpers of Lecture 8: the operators of an exported graph, a figure of them, a latency timer.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> ep = torch.export.export(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), (torch.randn(3, 2),))
    >>> call_targets(ep)
    ['linear', 'relu']
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["call_targets", "draw_graphs", "latency_us", "op_counts", "placeholder_kinds"]


def _short(target: object) -> str:
    """``aten.linear.default`` -> ``linear``; a higher-order op or a Python function keeps its name."""
    name = getattr(target, "__name__", None) or str(target)
    if isinstance(target, torch._ops.OpOverload):
        name = target.overloadpacket.__name__
    return name.split(".")[0]


def call_targets(ep: torch.export.ExportedProgram | torch.fx.GraphModule) -> list[str]:
    """The short names of the operators an exported program calls, in graph order.

    Args:
        ep: an ``ExportedProgram`` (its top-level graph is read) or an FX ``GraphModule``.

    Returns:
        One name per ``call_function`` node: ``"linear"`` for ``aten.linear.default``,
        ``"cond"`` for ``torch.ops.higher_order.cond``, ``"getitem"`` for ``operator.getitem``.
    """
    graph = ep.graph if hasattr(ep, "graph") else ep.graph_module.graph
    return [_short(n.target) for n in graph.nodes if n.op == "call_function"]


def op_counts(ep: torch.export.ExportedProgram) -> Counter:
    """How many times each operator appears in an exported program's graph.

    Args:
        ep: the exported program.

    Returns:
        A ``Counter`` of short operator names (see :func:`call_targets`).
    """
    return Counter(call_targets(ep))


def placeholder_kinds(ep: torch.export.ExportedProgram) -> list[tuple[str, str]]:
    """The graph's inputs in order, each with its kind from the graph signature.

    Args:
        ep: the exported program.

    Returns:
        ``(kind, name)`` pairs such as ``("PARAMETER", "lin.weight")`` or ``("USER_INPUT", "x")``:
        the target (the ``state_dict`` key) for lifted state, the argument name for user inputs.
    """
    return [(spec.kind.name, spec.target if spec.target is not None else spec.arg.name)
            for spec in ep.graph_signature.input_specs]


def _drawn_nodes(ep: torch.export.ExportedProgram) -> list[torch.fx.Node]:
    """User inputs, operator calls and the output, in graph order (lifted weights left out)."""
    user = set(ep.graph_signature.user_inputs)
    return [n for n in ep.graph.nodes
            if n.op in ("call_function", "output") or (n.op == "placeholder" and n.name in user)]


def draw_graphs(before: torch.export.ExportedProgram, after: torch.export.ExportedProgram,
                path: Path | str,
                titles: tuple[str, str] = ("export(): Torch IR", "run_decompositions(): core ATen")) -> Path:
    """Draw two exported graphs side by side as node/edge diagrams, in graph order.

    Each box is a node (a user input, an operator call, the output); an arrow joins a node
    to each drawn node it reads. Operators of one graph that the other does not have are
    coloured, so a decomposition shows as the boxes that change colour.

    Args:
        before: the exported program.
        after: the same program after ``run_decompositions()``.
        path: the PNG to write; its folder is created.
        titles: the two columns' titles.

    Returns:
        The path written.

    Raises:
        ValueError: a graph has no operator call to draw.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graphs = [_drawn_nodes(before), _drawn_nodes(after)]
    names = [{_short(n.target) for n in g if n.op == "call_function"} for g in graphs]
    if not names[0] or not names[1]:
        raise ValueError("draw_graphs: a graph has no call_function node to draw")
    rows = max(len(g) for g in graphs)
    fig, ax = plt.subplots(figsize=(8, 0.62 * rows + 1.0), dpi=100)
    colours = ("#4C72B0", "#DD8452")
    for col, (nodes, other) in enumerate(zip(graphs, reversed(names))):
        xc = 0.25 + 0.5 * col
        where = {}
        for row, node in enumerate(nodes):
            y = rows - 1 - row * (rows - 1) / max(len(nodes) - 1, 1)
            where[node] = y
            if node.op == "call_function":
                label, face = _short(node.target), (
                    "#EEEEEE" if _short(node.target) in other else colours[col])
            else:
                label, face = ("input " + node.name if node.op == "placeholder" else "output"), "white"
            ax.text(xc, y, label, ha="center", va="center", fontsize=9, fontfamily="monospace",
                    color="white" if face in colours else "black",
                    bbox={"boxstyle": "round,pad=0.35", "facecolor": face, "edgecolor": "#555555"})
            for arg in node.all_input_nodes:
                if arg in where:
                    ax.annotate("", xy=(xc, y + 0.28), xytext=(xc, where[arg] - 0.28),
                                arrowprops={"arrowstyle": "->", "color": "#555555",
                                            "connectionstyle": "arc3,rad=0.0" if where[arg] - y < 1.5
                                            else "arc3,rad=-0.4"})
        ax.text(xc, rows - 0.2, titles[col], ha="center", va="bottom", fontsize=10, fontweight="bold")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.7, rows + 0.3)
    ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def latency_us(fn: Callable[..., object], args: Sequence[Tensor], repeat: int = 200,
               warmup: int = 10, stat: str = "min") -> float:
    """Wall-clock time of one call ``fn(*args)``, in microseconds: the best or the median call.

    On a shared machine other processes only ever add time (a preempted OpenMP thread
    can make one call of a parallel kernel milliseconds slower), so the minimum is the
    stable estimate of what the code costs; the median is what a busy machine gives.

    Args:
        fn: what to time (an eager module, an ``ExportedProgram.module()``, an AOTI runner).
        args: its positional arguments.
        repeat: timed calls (at least 1).
        warmup: untimed calls first.
        stat: ``"min"`` (best call) or ``"median"``.

    Returns:
        The statistic over ``repeat`` calls, under ``torch.inference_mode()``.

    Raises:
        ValueError: ``repeat`` is below 1, or ``stat`` is not ``"min"`` or ``"median"``.
    """
    if repeat < 1:
        raise ValueError(f"latency_us: repeat must be at least 1, got {repeat}")
    if stat not in ("min", "median"):
        raise ValueError(f"latency_us: stat must be 'min' or 'median', got {stat!r}")
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            fn(*args)
        for _ in range(repeat):
            start = time.perf_counter()
            fn(*args)
            times.append(time.perf_counter() - start)
    times.sort()
    return (times[0] if stat == "min" else times[len(times) // 2]) * 1e6
