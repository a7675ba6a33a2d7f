"""What each stage of ``torch.compile`` hands to the next, counted, and the picture of it.

:func:`capture_stages` compiles a function with a backend that records Dynamo's FX graph
and, through AOTAutograd, the forward and backward ATen graphs (no code generation);
:func:`draw_pipeline` draws Dynamo -> AOTAutograd -> Inductor with those counts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch


def _call_targets(gm: torch.fx.GraphModule) -> list[str]:
    # a function's or an OpOverload's name (matmul, mm.default); a method's name as it is (sum)
    return [getattr(n.target, "__name__", str(n.target))
            for n in gm.graph.nodes if n.op in ("call_function", "call_method")]


def capture_stages(fn: Callable, *args: torch.Tensor) -> dict[str, list[str]]:
    """Run ``fn(*args).sum().backward()`` compiled, recording the graphs each stage produces.

    Args:
        fn: a function of tensors returning a tensor.
        *args: its inputs; at least one should require grad, so a backward graph exists.

    Returns:
        ``{"dynamo": [...], "forward": [...], "backward": [...]}``: the names of the
        calls in Dynamo's graph (Python level: ``sigmoid``, ``mul``) and in
        AOTAutograd's forward and backward graphs (ATen overloads: ``mm.default``).
    """
    from torch._dynamo.backends.common import aot_autograd
    from torch._functorch.aot_autograd import make_boxed_func

    stages: dict[str, list[str]] = {}

    def keep(name: str) -> Callable:
        def compiler(gm: torch.fx.GraphModule, example_inputs: list) -> Callable:
            stages[name] = _call_targets(gm)
            return make_boxed_func(gm.forward)
        return compiler

    def backend(gm: torch.fx.GraphModule, example_inputs: list) -> Callable:
        stages["dynamo"] = _call_targets(gm)
        return aot_autograd(fw_compiler=keep("forward"), bw_compiler=keep("backward"))(gm, example_inputs)

    torch._dynamo.reset()
    torch.compile(fn, backend=backend, fullgraph=True)(*args).sum().backward()
    torch._dynamo.reset()
    return stages


def draw_pipeline(counts: dict[str, int], path: str | Path) -> Path:
    """Draw the compile pipeline as boxes, each labelled with what it produced.

    Args:
        counts: ``dynamo``, ``forward``, ``backward`` (graph node counts) and
            ``kernels`` (fused C++ kernels Inductor generated), ``extern`` (library calls).
        path: the PNG to write.

    Returns:
        The path written.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    missing = {"dynamo", "forward", "backward", "kernels", "extern"} - set(counts)
    if missing:
        raise ValueError(f"draw_pipeline: counts lack {sorted(missing)}")
    boxes = [
        ("Python function", "bytecode", "#eeeeee"),
        ("TorchDynamo", f"FX graph\n{counts['dynamo']} torch calls", "#cfe2f3"),
        ("AOTAutograd", f"joint graph, partitioned:\nforward {counts['forward']} ATen ops\n"
                        f"backward {counts['backward']} ATen ops", "#d9ead3"),
        ("Inductor", f"forward, no_grad:\n{counts['kernels']} fused C++ kernel(s)\n"
                     f"+ {counts['extern']} library call(s)", "#fce5cd"),
    ]
    fig, ax = plt.subplots(figsize=(10, 2.8))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 3)
    ax.axis("off")
    width, gap = 2.1, 0.45
    for i, (title, body, colour) in enumerate(boxes):
        x = 0.15 + i * (width + gap)
        ax.add_patch(FancyBboxPatch((x, 0.4), width, 2.0, boxstyle="round,pad=0.05", fc=colour, ec="#444444"))
        ax.text(x + width / 2, 2.05, title, ha="center", va="center", fontsize=11, weight="bold")
        ax.text(x + width / 2, 1.15, body, ha="center", va="center", fontsize=9)
        if i:
            ax.annotate("", xy=(x - 0.05, 1.4), xytext=(x - gap + 0.05, 1.4),
                        arrowprops=dict(arrowstyle="->", lw=1.5))
    ax.set_title("torch.compile on CPU: what each stage produced for the same function", fontsize=11)
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
