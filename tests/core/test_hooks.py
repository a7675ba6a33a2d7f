import pytest
import torch
from torch import nn

from tutorials.core.hooks import GradientNormRecorder


def test_norms_in_model_order_and_hooks_removed():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    x = torch.randn(5, 3, requires_grad=True)
    with GradientNormRecorder(net) as rec:
        net(x).sum().backward()
        params = rec.parameter_grad_norms()
    assert list(rec.grad_input_norms) == ["0", "2", "4"]
    assert rec.grad_input_norms["0"] == pytest.approx(float(x.grad.norm()))
    assert params["4.weight"] > 0
    assert not net[0]._backward_hooks, "hooks are removed on exit"


def test_parameter_norms_before_backward_is_an_error():
    net = nn.Linear(2, 2)
    with GradientNormRecorder(net) as rec, pytest.raises(RuntimeError, match="'weight' has no .grad"):
        rec.parameter_grad_norms()
