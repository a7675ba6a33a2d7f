"""Tests of the graph recorder and the memory-traffic figure of Lecture 9."""

import pytest
import torch

from tutorials.lec09_custom_ops.observe import GraphRecorder, op_names, plot_traffic


def test_recorder_keeps_forward_and_backward_graphs():
    rec = GraphRecorder()
    f = torch.compile(lambda x: (torch.sin(x) * 2).sum(), backend=rec, fullgraph=True)
    x = torch.randn(3, requires_grad=True)
    f(x).backward()
    assert torch.allclose(x.grad, 2 * torch.cos(x.detach()))
    assert op_names(rec.forward_graphs[0])[:2] == ["aten.sin.default", "aten.mul.Tensor"]
    assert "aten.cos.default" in op_names(rec.backward_graphs[0])


def test_plot_traffic_writes_png(tmp_path):
    path = plot_traffic({"eager": [("a", 8), ("b", 8)], "fused": [("f", 8)]}, tmp_path / "t.png")
    assert path.stat().st_size > 1000


@pytest.mark.parametrize(("chains", "match"), [({}, "chains is empty"), ({"x": [("k", -1)]}, "negative")])
def test_plot_traffic_bad_input(tmp_path, chains, match):
    with pytest.raises(ValueError, match=match):
        plot_traffic(chains, tmp_path / "t.png")
