"""Self-checks for the exercises of Lecture 10 (FX: rewriting and transforming graphs).

Each ``check_*`` function takes *your* answer, exercises it on inputs it builds
itself, prints a one-line confirmation when the answer is right, and raises an
``AssertionError`` that says what is wrong (and usually a hint) when it is not.

Examples:
    >>> from torch.nn.utils.fusion import fuse_conv_bn_eval
    >>> check_fold_conv_bn(fuse_conv_bn_eval)
    ✓ fold_conv_bn: matches the unfused pair on 3 conv-BN pairs (with and without a conv bias)
"""

from __future__ import annotations

import copy
import operator
from collections import Counter
from collections.abc import Callable, Mapping

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["check_count_calls", "check_fold_conv_bn", "check_linear_pattern", "check_replace_adds"]


class _Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(2, 2)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.bn(self.conv(x)))
        h = h.mean(dim=(2, 3)) + torch.relu(h).sum(dim=(2, 3))
        return self.fc(h).softmax(-1)


def _reference_counts(gm: fx.GraphModule) -> Counter:
    modules = dict(gm.named_modules())
    counts: Counter = Counter()
    for n in gm.graph.nodes:
        if n.op == "call_module":
            counts[type(modules[n.target]).__name__] += 1
        elif n.op == "call_function":
            counts[n.target.__name__] += 1
        elif n.op == "call_method":
            counts[n.target] += 1
    return counts


def check_count_calls(count_calls: Callable[[fx.GraphModule], Mapping[str, int]]) -> None:
    """Exercise 1: count what a traced graph calls.

    Args:
        count_calls: your ``count_calls(gm)``; it returns ``{name: count}`` over the
            ``call_module`` nodes (named by the module's class, e.g. ``"Conv2d"``), the
            ``call_function`` nodes (the function's ``__name__``, e.g. ``"relu"``) and the
            ``call_method`` nodes (the method name, e.g. ``"mean"``).

    Raises:
        AssertionError: the counts differ from the reference, with a hint.
    """
    cases = [
        ("_Small()", fx.symbolic_trace(_Small())),
        ("nn.Sequential(Linear, ReLU, Linear)",
         fx.symbolic_trace(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))),
        ("lambda x: torch.sin(x).cos() + x",
         fx.symbolic_trace(lambda x: torch.sin(x).cos() + x)),
    ]
    for label, gm in cases:
        got = count_calls(gm)
        assert isinstance(got, Mapping), (
            f"count_calls must return a mapping such as collections.Counter, got {type(got).__name__}")
        got = Counter({k: v for k, v in got.items() if v})
        expected = _reference_counts(gm)
        if got == expected:
            continue
        hint = ""
        if any(k in ("placeholder", "output", "x", "input_1") for k in got):
            hint = " Skip the placeholder and output nodes: they call nothing."
        elif any(k in dict(gm.named_modules()) and k for k in got):
            hint = (" Name a call_module node by its module's class: node.target is the module's "
                    "path ('conv'); look it up with gm.get_submodule(node.target).")
        elif any(k.startswith("call_") for k in got):
            hint = " Count what each node calls, not its opcode (node.op)."
        raise AssertionError(
            f"{label}: counts differ; expected {dict(sorted(expected.items()))}, "
            f"got {dict(sorted(got.items()))}.{hint}")
    print(f"✓ count_calls: right on {len(cases)} graphs (modules, functions and methods)")


def _pairs() -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    g = torch.Generator().manual_seed(10)
    pairs = []
    for bias, groups in ((True, 1), (False, 1), (True, 2)):
        conv = nn.Conv2d(4, 6, 3, padding=1, bias=bias, groups=groups)
        bn = nn.BatchNorm2d(6, eps=0.1)  # a large eps, so forgetting it shows
        with torch.no_grad():
            for p in [*conv.parameters(), bn.weight, bn.bias]:
                p.copy_(torch.randn(p.shape, generator=g))
            bn.running_mean.copy_(torch.randn(6, generator=g))
            bn.running_var.copy_(torch.rand(6, generator=g) + 0.2)
        pairs.append((conv.eval(), bn.eval()))
    return pairs


def _scaled_by(fused: nn.Conv2d, conv: nn.Conv2d, scale: Tensor) -> bool:
    """Whether ``fused.weight`` is ``conv.weight`` with output channel c scaled by ``scale[c]``."""
    w = fused.weight.detach()
    return w.shape == conv.weight.shape and torch.allclose(
        w, conv.weight.detach() * scale.reshape(-1, 1, 1, 1), atol=1e-5, rtol=1e-4)


def check_fold_conv_bn(fold: Callable[[nn.Conv2d, nn.BatchNorm2d], nn.Conv2d]) -> None:
    """Exercise 2: fold an eval-mode BatchNorm2d into the Conv2d before it.

    Args:
        fold: your ``fold(conv, bn)``; it returns a new ``nn.Conv2d`` whose output equals
            ``bn(conv(x))`` in eval mode, and leaves ``conv`` and ``bn`` unchanged.

    Raises:
        AssertionError: the folded conv differs from the pair, with a hint.
    """
    x = torch.randn(2, 4, 7, 7, generator=torch.Generator().manual_seed(1))
    for conv, bn in _pairs():
        label = f"Conv2d(bias={conv.bias is not None}, groups={conv.groups})"
        before = copy.deepcopy((conv.state_dict(), bn.state_dict()))
        with torch.no_grad():
            expected = bn(conv(x))
            fused = fold(conv, bn)
            assert isinstance(fused, nn.Conv2d), (
                f"{label}: fold must return an nn.Conv2d, got {type(fused).__name__}")
            got = fused(x)
        for module, saved in zip((conv, bn), before):
            for name, t in module.state_dict().items():
                assert torch.equal(t, saved[name]), (
                    f"{label}: fold changed the original module's {name}; build a new Conv2d "
                    "(or deep-copy) instead of writing into conv or bn")
        assert got.shape == expected.shape, f"{label}: output shape {tuple(got.shape)}, expected " \
            f"{tuple(expected.shape)}; keep the conv's stride, padding and groups"
        if torch.allclose(got, expected, atol=1e-4, rtol=1e-4):
            continue
        # diagnose from the folded weight: which per-channel scale did the answer use?
        gamma, var, eps = bn.weight.detach(), bn.running_var, bn.eps
        offset = (got - expected).mean(dim=(0, 2, 3), keepdim=True)
        if torch.allclose(got - offset, expected, atol=1e-4, rtol=1e-4):
            hint = (" The weights are right but the bias is not: it is (conv bias - running_mean) "
                    "* scale + bn.bias, with conv bias 0 when the conv has none.")
        elif _scaled_by(fused, conv, gamma / torch.sqrt(var)):
            hint = (" The scale misses bn.eps: it is gamma / sqrt(running_var + eps), and eps "
                    "is inside the square root.")
        elif _scaled_by(fused, conv, gamma / (var + eps)) or _scaled_by(fused, conv, gamma / var):
            hint = (" The scale misses the square root: running_var is a variance, so divide by "
                    "the standard deviation sqrt(running_var + eps).")
        else:
            hint = (" The per-channel scale is gamma / sqrt(running_var + eps), one per output "
                    "channel: multiply each output channel's filter (weight[c]) by scale[c].")
        raise AssertionError(
            f"{label}: folded output differs from bn(conv(x)) by up to "
            f"{(got - expected).abs().max().item():.3g}.{hint}")
    print("✓ fold_conv_bn: matches the unfused pair on 3 conv-BN pairs (with and without a conv bias)")


def _two_layers(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Tensor:
    h = torch.relu(torch.matmul(x, w1.t()) + b1)
    return torch.matmul(h, w2.t()) + b2


def check_linear_pattern(pattern: Callable[..., Tensor], replacement: Callable[..., Tensor]) -> None:
    """Exercise 3: rewrite ``torch.matmul(x, w.t()) + b`` into ``F.linear`` with ``replace_pattern``.

    Args:
        pattern: your pattern function ``pattern(x, w, b)``.
        replacement: your replacement function with the same arguments.

    Raises:
        AssertionError: the rewrite matched the wrong number of times, left a matmul, or
            changed the result; with a hint.
    """
    gm = fx.symbolic_trace(_two_layers)
    matches = fx.subgraph_rewriter.replace_pattern(gm, pattern, replacement)
    assert len(matches) == 2, (
        f"replace_pattern found {len(matches)} matches in a graph with two `torch.matmul(x, w.t()) "
        "+ b` layers, expected 2. The pattern must call the same functions as the model: "
        "`x @ w.t()` records operator.matmul, not torch.matmul.")
    targets = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert torch.matmul not in targets, "a torch.matmul is left after the rewrite"
    names = [getattr(t, "__name__", str(t)) for t in targets]
    assert targets.count(F.linear) == 2, f"the rewritten graph should call F.linear twice, it calls {names}"
    g = torch.Generator().manual_seed(3)
    args = (torch.randn(5, 4, generator=g), torch.randn(6, 4, generator=g), torch.randn(6, generator=g),
            torch.randn(3, 6, generator=g), torch.randn(3, generator=g))
    try:
        got = gm(*args)
    except RuntimeError as err:
        raise AssertionError(
            f"the rewritten graph fails: {str(err).splitlines()[0]}. F.linear(x, w, b) computes "
            "x @ w.T + b itself: pass w, not w.t().") from err
    assert torch.allclose(got, _two_layers(*args), atol=1e-5), (
        "the rewritten graph computes something else; F.linear(x, w, b) is x @ w.T + b")
    print("✓ linear pattern: 2 matches, no matmul left, same result as before the rewrite")


def _adds(x: Tensor, y: Tensor) -> Tensor:
    return torch.add(x, y) * (x + y) + 1


def check_replace_adds(replace_adds: Callable[[fx.GraphModule, Callable[..., Tensor]], int]) -> None:
    """Exercise 4: a pass that routes every addition of a graph through a given function.

    Args:
        replace_adds: your ``replace_adds(gm, fn)``; it points every ``call_function`` node
            that adds (``operator.add``, the ``+`` sign, and ``torch.add``) at ``fn``, leaves
            ``gm`` ready to run, and returns how many nodes it changed.

    Raises:
        AssertionError: the count, the graph or the result is wrong, with a hint.
    """
    gm = fx.symbolic_trace(_adds)
    calls: list[int] = []

    def logged_add(a: Tensor, b: Tensor | float) -> Tensor:
        calls.append(1)
        return torch.add(a, b)

    changed = replace_adds(gm, logged_add)
    left = [n.name for n in gm.graph.nodes if n.target in (operator.add, torch.add)]
    assert not left, (
        f"additions left in the graph: {left}. `x + y` records operator.add and torch.add(x, y) "
        "records torch.add: replace both targets.")
    assert changed == 3, f"replace_adds returned {changed}, but the graph has 3 additions"
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(3, generator=g), torch.randn(3, generator=g)
    got = gm(x, y)
    assert calls, (
        "the graph was changed but running gm did not call fn: gm still runs the code generated "
        "before your edit. Call gm.recompile() at the end of the pass.")
    assert len(calls) == 3, f"fn was called {len(calls)} times for 3 additions"
    assert torch.allclose(got, _adds(x, y)), "the graph computes something else after the pass"
    print("✓ replace_adds: 3 additions (operator.add and torch.add) now call fn, same result")
