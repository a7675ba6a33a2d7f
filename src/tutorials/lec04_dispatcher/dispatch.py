"""Look inside PyTorch's operator dispatcher from Python.

Every ATen operator call goes through the c10 dispatcher, which looks at the
*dispatch keys* of its tensor arguments (plus thread-local state) and calls the
kernel registered for the highest-priority key: autocast, then autograd, then the
backend (CPU, CUDA, Meta, ...). This module holds the small tools Lecture 4 uses
to watch that happen:

- :func:`dispatch_keys` lists a tensor's keys in the order the dispatcher visits them;
- :func:`kernel_kinds` reads an operator's dispatch table (which kernel each key has);
- :class:`OpLog` is a ``TorchDispatchMode`` recording the ATen ops that reach the
  backend (below autograd), :class:`FunctionLog` a ``TorchFunctionMode`` recording
  the Python-level ``torch`` calls (above the dispatcher);
- :func:`draw_dispatch_path` draws the path of one call through these layers.

Examples:
    >>> import torch
    >>> dispatch_keys(torch.ones(2))
    ['AutocastCPU', 'AutogradCPU', 'ADInplaceOrView', 'CPU']
    >>> with OpLog() as log:
    ...     _ = torch.ones(2, 3).sum(0)
    >>> log.names()
    ['aten.ones.default', 'aten.sum.dim_IntList']
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FunctionLog",
    "OpLog",
    "dispatch_keys",
    "draw_dispatch_path",
    "kernel_kinds",
]


def dispatch_keys(t: Tensor) -> list[str]:
    """The dispatch keys of a tensor, highest priority first.

    ``torch._C._dispatch_keys`` prints a ``DispatchKeySet`` lowest priority first;
    this returns the same keys in the order the dispatcher tries them.

    Args:
        t: any tensor (CPU, meta, sparse, a tensor made in inference mode, ...).

    Returns:
        Key names, for example ``['AutocastCPU', 'AutogradCPU', 'ADInplaceOrView', 'CPU']``.

    Raises:
        TypeError: ``t`` is not a tensor.
    """
    if not isinstance(t, Tensor):
        raise TypeError(f"dispatch_keys expects a torch.Tensor, got {type(t).__name__}")
    text = str(torch._C._dispatch_keys(t))  # "DispatchKeySet(CPU, ADInplaceOrView, ...)"
    inner = text[text.index("(") + 1 : text.rindex(")")]
    return [k.strip() for k in inner.split(",") if k.strip()][::-1]


_KIND = re.compile(r"\[([^\]]+)\]\s*$")


def kernel_kinds(op: str, keys: Iterable[str]) -> dict[str, str]:
    """What an operator's dispatch table holds for some keys.

    Reads ``torch._C._dispatch_dump_table(op)`` (one line per key, computed from
    every registration) and keeps, for each requested key, the kind of entry:
    ``"kernel"``, ``"autograd kernel"``, ``"math kernel"`` (a
    CompositeImplicitAutograd decomposition), ``"fallthrough"`` (skip to the next
    key), ``"backend fallback"`` (one kernel shared by all ops), or ``"none"``.

    Args:
        op: the operator's qualified name with overload, e.g. ``"aten::add.Tensor"``.
        keys: dispatch key names, e.g. ``["AutogradCPU", "CPU"]``.

    Returns:
        ``{key: kind}`` in the order of ``keys``.

    Raises:
        ValueError: ``op`` is not a registered operator.

    Examples:
        >>> kernel_kinds("aten::linear", ["CPU"])
        {'CPU': 'math kernel'}
    """
    table = torch._C._dispatch_dump_table(op)  # "" for an unknown name
    if not table:
        raise ValueError(
            f"kernel_kinds: no operator named {op!r}; use 'namespace::name.overload', "
            "e.g. 'aten::add.Tensor' (see torch.ops.aten.add.overloads())"
        )
    rows: dict[str, str] = {}
    for line in table.splitlines():
        key, _, rest = line.partition(": ")
        m = _KIND.search(rest)
        if not m:
            continue
        kind = m.group(1)
        if rest.startswith("fallthrough"):
            kind = "fallthrough"
        rows[key] = kind
    return {k: rows.get(k, "none") for k in keys}


def _op_name(func: Any) -> str:
    return str(func)  # an OpOverload prints as "aten.mm.default"


class OpLog(TorchDispatchMode):
    """Record every ATen operator that reaches the dispatcher's Python key.

    A ``TorchDispatchMode`` sits *below* autograd: it sees the operators that
    actually run kernels, including the ones autograd calls during ``backward()``
    and the pieces a CompositeImplicitAutograd op (``F.linear``) decomposes into.

    Attributes:
        calls: the ``OpOverload`` names in call order, e.g. ``"aten.mm.default"``.

    Examples:
        >>> import torch
        >>> x = torch.ones(2, requires_grad=True)
        >>> with OpLog() as log:
        ...     (x * 3).sum().backward()
        >>> sorted(log.counts())
        ['detach', 'expand', 'mul', 'ones_like', 'sum']
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: D105
        self.calls.append(_op_name(func))
        return func(*args, **(kwargs or {}))

    def names(self) -> list[str]:
        """The recorded operator overloads, in call order."""
        return list(self.calls)

    def counts(self) -> Counter[str]:
        """How often each operator ran, by short name (``"aten.mm.default"`` -> ``"mm"``)."""
        return Counter(name.split(".")[1] for name in self.calls)


class FunctionLog(TorchFunctionMode):
    """Record the Python-level torch functions and Tensor methods called.

    A ``TorchFunctionMode`` intercepts calls *before* they reach the dispatcher,
    through the ``__torch_function__`` protocol. Attribute reads such as ``t.shape`` also pass
    through it; they are left out of the log.

    Attributes:
        calls: readable names, e.g. ``"torch.nn.functional.relu"`` or ``"Tensor.sum"``.

    Examples:
        >>> import torch
        >>> with FunctionLog() as log:
        ...     _ = torch.add(torch.ones(2), 1).sum()
        >>> log.calls
        ['torch.ones', 'torch.add', 'Tensor.sum']
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        name = getattr(func, "__name__", repr(func))
        if name != "__get__":  # property reads like t.shape, t.grad
            module = getattr(func, "__module__", None)
            self.calls.append(f"{module}.{name}" if module else f"Tensor.{name}")
        return func(*args, **(kwargs or {}))


_COLORS = {"ran": "#f4a261", "skipped": "#e9ecef", "python": "#8ecae6", "observed": "#bde0a8"}


def draw_dispatch_path(
    steps: Sequence[tuple[str, str, str]],
    title: str = "",
) -> Figure:
    """Draw the layers one operator call passes through, top to bottom.

    Args:
        steps: ``(layer, what happened, status)`` for each layer, in order; status
            is ``"ran"`` (a kernel did work), ``"skipped"`` (fallthrough or excluded),
            ``"python"`` (Python code) or ``"observed"`` (a logging mode saw the call).
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ValueError: ``steps`` is empty or a status is not one of the four above.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if not steps:
        raise ValueError("draw_dispatch_path: steps is empty; give (layer, text, status) tuples")
    bad = [s for _, _, s in steps if s not in _COLORS]
    if bad:
        raise ValueError(f"draw_dispatch_path: unknown status {bad[0]!r}; use one of {list(_COLORS)}")
    n = len(steps)
    fig, ax = plt.subplots(figsize=(8.2, 0.62 * n + 0.8))
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.2, n)
    ax.axis("off")
    for i, (layer, text, status) in enumerate(steps):
        y = n - 1 - i  # first step at the top
        box = FancyBboxPatch((0.1, y + 0.12), 9.8, 0.66, boxstyle="round,pad=0.02",
                             facecolor=_COLORS[status], edgecolor="#495057", linewidth=1)
        ax.add_patch(box)
        ax.text(0.3, y + 0.45, layer, fontsize=10, fontweight="bold", va="center",
                family="monospace")
        ax.text(3.9, y + 0.45, text, fontsize=9, va="center")
        if i < n - 1:
            ax.annotate("", xy=(1.0, y - 0.2), xytext=(1.0, y + 0.1),
                        arrowprops={"arrowstyle": "-|>", "color": "#495057", "lw": 1.5})
    handles = [FancyBboxPatch((0, 0), 1, 1, facecolor=c, edgecolor="#495057", label=s)
               for s, c in _COLORS.items()]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4,
              frameon=False, fontsize=8)
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig
