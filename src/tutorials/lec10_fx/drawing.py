"""Draw an FX graph as a small left-to-right DAG with matplotlib (no graphviz needed).

Graphviz (``dot``) and ``pydot``, which ``torch.fx.passes.graph_drawer.FxGraphDrawer`` needs,
are often not installed; this module lays the nodes out itself: each node goes in the column
of its longest path from an input, and nodes of one column are stacked in graph order.

Examples:
    >>> import torch
    >>> gm = torch.fx.symbolic_trace(lambda x: torch.relu(x) + 1)
    >>> [n.name for n in gm.graph.nodes]
    ['x', 'relu', 'add', 'output']
    >>> layers(gm.graph)
    {'x': 0, 'relu': 1, 'add': 2, 'output': 3}
"""

from __future__ import annotations

from pathlib import Path

import torch.fx

__all__ = ["OP_COLOURS", "draw_fx_graph", "layers", "node_label"]

#: fill colour of a node box, by ``Node.op``
OP_COLOURS: dict[str, str] = {
    "placeholder": "#cfe8ff",
    "get_attr": "#fde2c4",
    "call_module": "#d5f0d0",
    "call_function": "#fff3b0",
    "call_method": "#ead7f5",
    "output": "#e0e0e0",
}


def layers(graph: torch.fx.Graph) -> dict[str, int]:
    """The column of each node: the length of its longest path from a node without inputs.

    Args:
        graph: an FX graph (``gm.graph``).

    Returns:
        ``{node name: column}``, in graph order.
    """
    column: dict[str, int] = {}
    for node in graph.nodes:  # graph order is a topological order
        column[node.name] = 1 + max((column[i.name] for i in node.all_input_nodes), default=-1)
    for node in reversed(graph.nodes):  # a constant (get_attr) sits just before its first user
        if node.op == "get_attr" and node.users:
            column[node.name] = max(0, min(column[u.name] for u in node.users) - 1)
    return column


def node_label(node: torch.fx.Node) -> str:
    """A short two-line label: the node's name and what it calls.

    Args:
        node: a node of an FX graph.

    Returns:
        The name, a line break, then the op and the module path, function or method name.
    """
    if node.op in ("placeholder", "output"):
        return f"{node.name}\n{node.op}"
    target = node.target
    what = target if isinstance(target, str) else getattr(target, "__name__", str(target))
    return f"{node.name}\n{node.op}: {what}"


def draw_fx_graph(graph: torch.fx.Graph, path: str | Path, title: str = "") -> Path:
    """Draw ``graph`` as boxes (coloured by ``Node.op``) and arrows (data flow) into a PNG.

    Args:
        graph: an FX graph (``gm.graph``).
        path: the PNG file to write; its folder must exist.
        title: a title above the drawing.

    Returns:
        The path written.

    Raises:
        ValueError: the graph has no nodes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    nodes = list(graph.nodes)
    if not nodes:
        raise ValueError("draw_fx_graph: the graph has no nodes")
    column = layers(graph)
    rows: dict[int, int] = {}
    pos: dict[str, tuple[float, float]] = {}
    for node in nodes:
        c = column[node.name]
        pos[node.name] = (c * 2.6, -rows.get(c, 0) * 1.3)
        rows[c] = rows.get(c, 0) + 1
    width = max(x for x, _ in pos.values()) + 2.6
    height = max(rows.values()) * 1.3 + 0.6
    spans = [pos[n.name][0] - pos[i.name][0] for n in nodes for i in n.all_input_nodes]
    top = 0.6 + 0.14 * max(spans, default=0.0)  # room for the arcs of long edges
    fig, ax = plt.subplots(figsize=(min(0.5 * width, 16), 1.2 + 0.75 * (height + top)))
    box_w, box_h = 2.1, 0.8
    for node in nodes:
        x, y = pos[node.name]
        for src in node.all_input_nodes:
            sx, sy = pos[src.name]
            if column[node.name] - column[src.name] > 1 and sy == y:  # a long edge: arc above
                ax.annotate("", xy=(x - 0.3, y + box_h / 2), xytext=(sx + 0.3, sy + box_h / 2),
                            arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 1.0,
                                        "connectionstyle": "arc3,rad=-0.25"})
            else:
                ax.annotate("", xy=(x - box_w / 2, y), xytext=(sx + box_w / 2, sy),
                            arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 1.0})
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h,
                                    boxstyle="round,pad=0.05", fc=OP_COLOURS.get(node.op, "white"),
                                    ec="#333333", lw=0.8))
        ax.text(x, y, node_label(node), ha="center", va="center", fontsize=7.5)
    handles = [plt.Rectangle((0, 0), 1, 1, fc=c, ec="#333333") for c in OP_COLOURS.values()]
    ax.legend(handles, list(OP_COLOURS), loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=7.5,
              ncol=6, frameon=False)
    ax.set_xlim(-1.4, width - 1.2)
    ax.set_ylim(-height + 0.6, top)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
