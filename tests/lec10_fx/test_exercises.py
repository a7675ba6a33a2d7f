"""Each self-check passes a right answer and rejects wrong ones with a helpful message."""

import copy
import operator
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from tutorials.lec10_fx import exercises as ex


def _count_right(gm):
    counts = Counter()
    for n in gm.graph.nodes:
        if n.op == "call_module":
            counts[type(gm.get_submodule(n.target)).__name__] += 1
        elif n.op == "call_function":
            counts[n.target.__name__] += 1
        elif n.op == "call_method":
            counts[n.target] += 1
    return counts


def _count_paths(gm):
    return Counter(n.target if isinstance(n.target, str) else n.target.__name__
                   for n in gm.graph.nodes if n.op.startswith("call"))


def _count_opcodes(gm):
    return Counter(n.op for n in gm.graph.nodes if n.op.startswith("call"))


def _count_with_io(gm):
    counts = _count_right(gm)
    counts.update(n.op for n in gm.graph.nodes if n.op in ("placeholder", "output"))
    return counts


def test_count_calls_check(capsys):
    ex.check_count_calls(_count_right)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="by its module's class"):
        ex.check_count_calls(_count_paths)
    with pytest.raises(AssertionError, match="not its opcode"):
        ex.check_count_calls(_count_opcodes)
    with pytest.raises(AssertionError, match="Skip the placeholder and output"):
        ex.check_count_calls(_count_with_io)
    with pytest.raises(AssertionError, match="must return a mapping"):
        ex.check_count_calls(lambda gm: list(_count_right(gm)))


def _fold(conv, bn, *, eps=True, bias=True, sqrt=True, inplace=False, axis=0):
    var = bn.running_var + (bn.eps if eps else 0.0)
    scale = bn.weight / (torch.sqrt(var) if sqrt else var)
    fused = conv if inplace else copy.deepcopy(conv)
    with torch.no_grad():
        if axis == 0:
            fused.weight.mul_(scale.reshape(-1, 1, 1, 1))
        else:  # the mistake: scaling the input-channel axis (only possible where sizes agree)
            fused.weight.mul_(scale[: fused.weight.shape[1]].reshape(1, -1, 1, 1))
        b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        new_bias = (b - bn.running_mean) * scale + bn.bias if bias else b * scale + bn.bias
        fused.bias = nn.Parameter(new_bias.detach().clone())
    return fused


def test_fold_conv_bn_check(capsys):
    ex.check_fold_conv_bn(lambda c, b: _fold(c, b))
    ex.check_fold_conv_bn(fuse_conv_bn_eval)
    assert capsys.readouterr().out.count("✓") == 2
    with pytest.raises(AssertionError, match="misses bn.eps"):
        ex.check_fold_conv_bn(lambda c, b: _fold(c, b, eps=False))
    with pytest.raises(AssertionError, match="misses the square root"):
        ex.check_fold_conv_bn(lambda c, b: _fold(c, b, sqrt=False))
    with pytest.raises(AssertionError, match="multiply each output channel's filter"):
        ex.check_fold_conv_bn(lambda c, b: _fold(c, b, axis=1))
    with pytest.raises(AssertionError, match="the bias is not"):
        ex.check_fold_conv_bn(lambda c, b: _fold(c, b, bias=False))
    with pytest.raises(AssertionError, match="changed the original module"):
        ex.check_fold_conv_bn(lambda c, b: _fold(c, b, inplace=True))
    with pytest.raises(AssertionError, match="must return an nn.Conv2d"):
        ex.check_fold_conv_bn(lambda c, b: nn.Sequential(c, b))


def _pattern(x, w, b):
    return torch.matmul(x, w.t()) + b


def _replacement(x, w, b):
    return F.linear(x, w, b)


def test_linear_pattern_check(capsys):
    ex.check_linear_pattern(_pattern, _replacement)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="records operator.matmul"):
        ex.check_linear_pattern(lambda x, w, b: x @ w.t() + b, _replacement)
    with pytest.raises(AssertionError, match="pass w, not w.t()"):
        ex.check_linear_pattern(_pattern, lambda x, w, b: F.linear(x, w.t(), b))
    with pytest.raises(AssertionError, match="should call F.linear twice"):
        ex.check_linear_pattern(_pattern, lambda x, w, b: torch.addmm(b, x, w.t()))


def _replace(gm, fn, *, targets=(operator.add, torch.add), recompile=True):
    changed = 0
    for n in gm.graph.nodes:
        if n.op == "call_function" and n.target in targets:
            n.target = fn
            changed += 1
    if recompile:
        gm.recompile()
    return changed


def test_replace_adds_check(capsys):
    ex.check_replace_adds(_replace)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Call gm.recompile"):
        ex.check_replace_adds(lambda gm, fn: _replace(gm, fn, recompile=False))
    with pytest.raises(AssertionError, match="replace both targets"):
        ex.check_replace_adds(lambda gm, fn: _replace(gm, fn, targets=(operator.add,)))
    with pytest.raises(AssertionError, match="has 3 additions"):
        ex.check_replace_adds(lambda gm, fn: _replace(gm, fn) and None)
