"""Helpers that let Lecture 9 look at what it builds: compiled graphs and memory traffic.

``GraphRecorder`` is a ``torch.compile`` backend that runs AOTAutograd (so fake
kernels and autograd formulas of custom operators are really used, as with
``backend="aot_eager"``) and keeps the forward and backward graphs it produced;
``op_names`` lists the operators a graph calls. ``plot_traffic`` draws the bytes
per element that an unfused and a fused chain of element-wise kernels move.

Examples:
    >>> import torch
    >>> rec = GraphRecorder()
    >>> f = torch.compile(lambda x: torch.sin(x) * 2, backend=rec, fullgraph=True)
    >>> _ = f(torch.randn(3))
    >>> op_names(rec.forward_graphs[0])
    ['aten.sin.default', 'aten.mul.Tensor']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import fx

__all__ = ["GraphRecorder", "op_names", "plot_traffic"]


class GraphRecorder:
    """A ``torch.compile`` backend that records AOTAutograd's graphs and runs them eagerly.

    Attributes:
        forward_graphs: the forward ``fx.GraphModule`` of each compiled graph, in order.
        backward_graphs: the backward graphs (compiled lazily, at the first backward).
    """

    def __init__(self) -> None:
        self.forward_graphs: list[fx.GraphModule] = []
        self.backward_graphs: list[fx.GraphModule] = []

    def _keep(self, graphs: list[fx.GraphModule]) -> Callable[..., Any]:
        from functorch.compile import make_boxed_func

        def compiler(gm: fx.GraphModule, example_inputs: Sequence[Any]) -> Callable[..., Any]:
            graphs.append(gm)
            return make_boxed_func(gm.forward)

        return compiler

    def __call__(self, gm: fx.GraphModule, example_inputs: Sequence[Any]) -> Callable[..., Any]:
        """Compile ``gm`` (Dynamo's graph) through AOTAutograd, keeping its graphs.

        Args:
            gm: the graph Dynamo captured.
            example_inputs: its example inputs (FakeTensors).

        Returns:
            The callable that ``torch.compile`` runs in place of the graph.
        """
        from torch._dynamo.backends.common import aot_autograd

        backend = aot_autograd(fw_compiler=self._keep(self.forward_graphs),
                               bw_compiler=self._keep(self.backward_graphs))
        return backend(gm, example_inputs)


def op_names(gm: fx.GraphModule) -> list[str]:
    """The operators a graph calls, in order, as ``namespace.name.overload`` strings.

    Args:
        gm: an FX graph module (for instance one of ``GraphRecorder``'s graphs).

    Returns:
        One name per ``call_function`` node, e.g. ``'aten.mul.Tensor'`` or
        ``'lec09.bias_gelu.default'``; higher-order operators by their name
        (``'auto_functionalized_v2'``), and ``operator.getitem`` left out.
    """
    names = []
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target.__name__ == "getitem":
            continue
        target = node.target
        if isinstance(target, torch._ops.OpOverload):
            names.append(f"{target.namespace}.{target._opname}.{target._overloadname}")
        else:
            names.append(getattr(target, "__name__", str(target)))
    return names


def plot_traffic(chains: Mapping[str, Sequence[tuple[str, float]]], path: str | Path,
                 title: str = "Bytes moved per element") -> Path:
    """Draw stacked bars: for each chain, the bytes per element each of its kernels moves.

    Args:
        chains: ``{bar label: [(kernel label, bytes per element), ...]}``, e.g. the
            eager chain's kernels and the single fused kernel.
        path: the PNG file to write (its folder must exist).
        title: the figure's title.

    Returns:
        The path written.

    Raises:
        ValueError: ``chains`` is empty or a kernel moves a negative number of bytes.
    """
    if not chains:
        raise ValueError("plot_traffic: chains is empty; give at least one bar")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.0, 3.2), dpi=100)
    colors = plt.get_cmap("tab20").colors
    seen: dict[str, Any] = {}
    for row, (label, kernels) in enumerate(chains.items()):
        left = 0.0
        for kernel, nbytes in kernels:
            if nbytes < 0:
                raise ValueError(
                    f"plot_traffic: kernel {kernel!r} of {label!r} moves {nbytes} bytes: negative")
            color = seen.setdefault(kernel, colors[len(seen) % len(colors)])
            ax.barh(row, nbytes, left=left, color=color, edgecolor="white",
                    label=kernel if kernel not in ax.get_legend_handles_labels()[1] else None)
            if nbytes >= 3:
                ax.text(left + nbytes / 2, row, f"{nbytes:g}", ha="center", va="center", fontsize=8)
            left += nbytes
        ax.text(left + 0.3, row, f"{left:g} B", va="center", fontsize=9, fontweight="bold")
    ax.set_yticks(range(len(chains)), list(chains))
    ax.invert_yaxis()
    ax.set_xlabel("bytes read + written per element (float32)")
    ax.set_title(title)
    ax.set_xlim(0, ax.get_xlim()[1] * 1.08)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
