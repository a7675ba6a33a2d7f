import pytest
import torch

from tutorials.lec03_autograd.autograd_graph import backward_graph, draw_backward_graph


def test_graph_labels_depths_and_shared_inputs():
    x = torch.tensor(2.0, requires_grad=True)
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    y = torch.tanh((w * x).sum()) * x  # x is used twice
    g = backward_graph(y, {"x": x, "w": w})
    labels = [n.label for n in g.nodes]
    assert labels[0] == "MulBackward0"
    assert labels.count("AccumulateGrad\n(x)") == 1, "a leaf used twice is one node"
    x_node = labels.index("AccumulateGrad\n(x)")
    assert len([e for e in g.edges if e[1] == x_node]) == 2, "with two incoming edges"
    assert g.nodes[x_node].depth == max(n.depth for n in g.nodes), "drawn below its deepest user"


def test_leaf_has_no_graph():
    with pytest.raises(ValueError, match="no grad_fn"):
        backward_graph(torch.ones(2, requires_grad=True))


def test_draw_returns_a_figure(tmp_path):
    x = torch.tensor(1.0, requires_grad=True)
    fig = draw_backward_graph((x * 3).exp(), {"x": x})
    fig.savefig(tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 1000
