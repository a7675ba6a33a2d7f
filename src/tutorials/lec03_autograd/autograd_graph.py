"""Walk and draw the backward graph that autograd records for a tensor.

Every tensor produced by a differentiable operation points at a node of the
backward graph through ``.grad_fn``; each node lists the nodes it sends gradients
to in ``.next_functions``. Leaves that require grad end in an ``AccumulateGrad``
node, which writes into ``leaf.grad``.

Examples:
    >>> import torch
    >>> x = torch.tensor(2.0, requires_grad=True)
    >>> y = (x * x).sin()
    >>> [n.label for n in backward_graph(y).nodes]
    ['SinBackward0', 'MulBackward0', 'AccumulateGrad']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from torch import Tensor

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BackwardGraph", "GraphNode", "backward_graph", "draw_backward_graph"]


@dataclass
class GraphNode:
    r"""One node of the backward graph.

    Attributes:
        label: the node's class name, e.g. ``MulBackward0``; for an
            ``AccumulateGrad`` node of a named leaf, ``AccumulateGrad\\n(w)``.
        depth: distance from the root (the tensor ``backward`` starts from).
        is_leaf: whether this node accumulates into a leaf tensor's ``.grad``.
    """

    label: str
    depth: int
    is_leaf: bool


@dataclass
class BackwardGraph:
    """Nodes (in breadth-first order from the root) and edges ``(parent, child)`` by index."""

    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)


def backward_graph(root: Tensor, names: Mapping[str, Tensor] | None = None) -> BackwardGraph:
    """Collect the backward graph reachable from ``root.grad_fn``.

    Args:
        root: a tensor produced by differentiable operations.
        names: optional ``{"w": w}`` mapping used to label the leaves' nodes.

    Returns:
        The graph, with each node's depth set to its longest distance from the root
        so that a drawing reads top (output) to bottom (leaves).

    Raises:
        ValueError: ``root`` has no ``grad_fn`` (a leaf, or made without grad).
    """
    if root.grad_fn is None:
        raise ValueError(
            "backward_graph: the tensor has no grad_fn; it is a leaf or was computed "
            "without requires_grad=True inputs"
        )
    leaf_names = {id(t): n for n, t in (names or {}).items()}
    index: dict[int, int] = {}
    graph = BackwardGraph()
    order = [root.grad_fn]
    depth = {id(root.grad_fn): 0}
    # Breadth-first walk; depths are relaxed to the longest path so that shared
    # sub-expressions sit below every node that uses them.
    i = 0
    while i < len(order):
        fn = order[i]
        i += 1
        for child, _ in fn.next_functions:
            if child is None:  # an input that does not require grad
                continue
            d = depth[id(fn)] + 1
            if id(child) not in depth:
                order.append(child)
                depth[id(child)] = d
            elif depth[id(child)] < d:
                depth[id(child)] = d
    # Second pass: longest-path depths may need propagating again after relaxation.
    for _ in range(len(order)):
        changed = False
        for fn in order:
            for child, _ in fn.next_functions:
                if child is not None and depth[id(child)] < depth[id(fn)] + 1:
                    depth[id(child)] = depth[id(fn)] + 1
                    changed = True
        if not changed:
            break
    for fn in order:
        label = type(fn).__name__
        is_leaf = label == "AccumulateGrad"
        if is_leaf and id(fn.variable) in leaf_names:
            label = f"AccumulateGrad\n({leaf_names[id(fn.variable)]})"
        index[id(fn)] = len(graph.nodes)
        graph.nodes.append(GraphNode(label=label, depth=depth[id(fn)], is_leaf=is_leaf))
    for fn in order:
        for child, _ in fn.next_functions:
            if child is not None:
                graph.edges.append((index[id(fn)], index[id(child)]))
    return graph


def draw_backward_graph(
    root: Tensor, names: Mapping[str, Tensor] | None = None, title: str = ""
) -> Figure:
    """Draw the backward graph of ``root`` with matplotlib (no Graphviz needed).

    Args:
        root: the tensor whose ``grad_fn`` starts the graph.
        names: optional labels for leaf tensors, e.g. ``{"x": x, "w": w}``.
        title: optional figure title.

    Returns:
        The figure; save it with ``fig.savefig(path)``.
    """
    import matplotlib.pyplot as plt

    graph = backward_graph(root, names)
    levels: dict[int, list[int]] = {}
    for i, node in enumerate(graph.nodes):
        levels.setdefault(node.depth, []).append(i)
    n_levels = max(levels) + 1
    width = max(len(v) for v in levels.values())
    pos = {}
    for d, members in levels.items():
        for k, i in enumerate(members):
            pos[i] = ((k + 0.5) / len(members) * width, n_levels - 1 - d)

    fig, ax = plt.subplots(figsize=(2.4 * width + 1, 1.1 * n_levels + 0.6))
    for parent, child in graph.edges:
        (x0, y0), (x1, y1) = pos[parent], pos[child]
        ax.annotate(
            "", xy=(x1, y1 + 0.22), xytext=(x0, y0 - 0.22),
            arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 1.2},
        )
    for i, node in enumerate(graph.nodes):
        x, y = pos[i]
        color = "#cfe8cf" if node.is_leaf else "#d6e4f5"
        ax.text(
            x, y, node.label, ha="center", va="center", fontsize=9, family="monospace",
            bbox={"boxstyle": "round,pad=0.4", "fc": color, "ec": "#333333"},
        )
    ax.set_xlim(-0.2, width + 0.2)
    ax.set_ylim(-0.6, n_levels - 0.4)
    ax.axis("off")
    ax.set_title(title or "backward graph: gradients flow from the output (top) to the leaves")
    fig.tight_layout()
    return fig
