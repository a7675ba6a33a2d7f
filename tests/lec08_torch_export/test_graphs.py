"""The graph helpers of Lecture 8: operator names, signature kinds, the figure, the timer."""

from collections import Counter

import pytest
import torch
from torch import nn

from tutorials.lec08_torch_export import graphs


@pytest.fixture(scope="module")
def ep():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)
            self.register_buffer("scale", torch.tensor(2.0))

        def forward(self, x):
            return torch.relu(self.lin(x)) * self.scale

    return torch.export.export(M(), (torch.randn(4, 3),))


def test_call_targets_and_counts(ep):
    assert graphs.call_targets(ep) == ["linear", "relu", "mul"]
    assert graphs.op_counts(ep.run_decompositions()) == Counter(
        {"permute": 1, "addmm": 1, "relu": 1, "mul": 1})


def test_placeholder_kinds(ep):
    assert graphs.placeholder_kinds(ep) == [
        ("PARAMETER", "lin.weight"), ("PARAMETER", "lin.bias"), ("BUFFER", "scale"), ("USER_INPUT", "x")]


def test_draw_graphs(ep, tmp_path):
    path = graphs.draw_graphs(ep, ep.run_decompositions(), tmp_path / "f" / "g.png")
    assert path.stat().st_size > 1000

    class Empty(nn.Module):
        def forward(self, x):
            return x

    empty = torch.export.export(Empty(), (torch.randn(2),))
    with pytest.raises(ValueError, match="no call_function node"):
        graphs.draw_graphs(empty, ep, tmp_path / "e.png")


def test_latency_us():
    assert graphs.latency_us(torch.relu, (torch.randn(8),), repeat=5, warmup=1) > 0
    assert graphs.latency_us(torch.relu, (torch.randn(8),), repeat=5, warmup=0, stat="median") > 0
    with pytest.raises(ValueError, match="stat must be 'min' or 'median'"):
        graphs.latency_us(torch.relu, (torch.randn(8),), stat="mean")
    with pytest.raises(ValueError, match="repeat must be at least 1"):
        graphs.latency_us(torch.relu, (torch.randn(8),), repeat=0)
