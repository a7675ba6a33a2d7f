"""Unit tests for tutorials.lec04_dispatcher.dispatch: keys, dispatch tables, logging, the path figure."""

import matplotlib
import pytest
import torch
import torch.nn.functional as F

from tutorials.lec04_dispatcher.dispatch import (
    FunctionLog,
    OpLog,
    dispatch_keys,
    draw_dispatch_path,
    kernel_kinds,
)

matplotlib.use("Agg")


def test_dispatch_keys_highest_priority_first():
    keys = dispatch_keys(torch.ones(2))
    assert keys[-1] == "CPU" and "AutogradCPU" in keys
    assert keys.index("AutogradCPU") < keys.index("ADInplaceOrView") < keys.index("CPU")
    assert dispatch_keys(torch.ones(2, device="meta"))[-1] == "Meta"
    with torch.inference_mode():
        assert "AutogradCPU" not in dispatch_keys(torch.ones(2))


def test_dispatch_keys_rejects_non_tensors():
    with pytest.raises(TypeError, match="expects a torch.Tensor, got list"):
        dispatch_keys([1, 2])


def test_kernel_kinds():
    add = kernel_kinds("aten::add.Tensor", ["AutogradCPU", "ADInplaceOrView", "CPU", "NoSuchKey"])
    assert add == {"AutogradCPU": "autograd kernel", "ADInplaceOrView": "fallthrough",
                   "CPU": "kernel", "NoSuchKey": "none"}
    assert kernel_kinds("aten::add_.Tensor", ["ADInplaceOrView"]) == {"ADInplaceOrView": "kernel"}
    assert kernel_kinds("aten::linear", ["CPU"]) == {"CPU": "math kernel"}
    with pytest.raises(ValueError, match="no operator named 'aten::nope'"):
        kernel_kinds("aten::nope", ["CPU"])


def test_op_log_sees_decompositions_and_backward():
    x = torch.randn(2, 3, requires_grad=True)
    w = torch.randn(4, 3, requires_grad=True)
    with OpLog() as fwd:
        y = F.linear(x, w).relu().sum()
    assert fwd.names()[:2] == ["aten.t.default", "aten.mm.default"]  # linear decomposed
    assert "linear" not in fwd.counts()
    with OpLog() as bwd:
        y.backward()
    assert bwd.counts()["threshold_backward"] == 1 and bwd.counts()["mm"] == 2


def test_function_log_skips_attribute_reads():
    x = torch.ones(3)
    with FunctionLog() as log:
        _ = x.shape
        F.relu(x).sum()
    assert log.calls == ["torch.nn.functional.relu", "Tensor.sum"]


def test_draw_dispatch_path():
    fig = draw_dispatch_path([("Python", "torch.add", "python"), ("CPU", "kernel", "ran")], "t")
    assert len(fig.axes[0].patches) == 2
    with pytest.raises(ValueError, match="unknown status 'done'"):
        draw_dispatch_path([("CPU", "kernel", "done")])
    with pytest.raises(ValueError, match="steps is empty"):
        draw_dispatch_path([])
