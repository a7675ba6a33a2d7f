"""The FX graph drawing: layout columns and the PNG it writes."""

import pytest
import torch
import torch.fx as fx
from torch import nn

from tutorials.lec10_fx.drawing import draw_fx_graph, layers, node_label


class _Skip(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.w = nn.Parameter(torch.ones(3))

    def forward(self, x):
        return self.lin(x).relu() * self.w + x


def test_layers_longest_path_and_constants_next_to_their_user():
    gm = fx.symbolic_trace(_Skip())
    col = layers(gm.graph)
    assert col["x"] == 0 and col["lin"] == 1 and col["relu"] == 2
    assert col["mul"] == 3 and col["w"] == 2  # get_attr sits just before its user
    assert col["add"] == 4 and col["output"] == 5


def test_node_label_names_what_the_node_calls():
    gm = fx.symbolic_trace(_Skip())
    labels = {n.name: node_label(n) for n in gm.graph.nodes}
    assert labels["lin"] == "lin\ncall_module: lin"
    assert labels["relu"] == "relu\ncall_method: relu"
    assert labels["x"] == "x\nplaceholder"


def test_draw_writes_a_png(tmp_path):
    path = draw_fx_graph(fx.symbolic_trace(_Skip()).graph, tmp_path / "g.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_draw_rejects_an_empty_graph(tmp_path):
    with pytest.raises(ValueError, match="no nodes"):
        draw_fx_graph(fx.Graph(), tmp_path / "g.png")
