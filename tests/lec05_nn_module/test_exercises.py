"""Each self-check of Lecture 5 passes a right answer and rejects wrong ones with a helpful message."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tutorials.lec05_nn_module import exercises as ex


class MLP(nn.Module):
    def __init__(self, widths):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


class ListMLP(MLP):
    def __init__(self, widths):
        super().__init__(widths)
        self.__dict__["_plain"] = list(self.layers)
        del self.layers
        self.__dict__["layers"] = self._plain


class ReluAtEnd(MLP):
    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x


class SequentialMLP(nn.Module):
    def __init__(self, widths):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(),
                                    nn.Linear(8, 3))

    def forward(self, x):
        return self.layers(x)


def test_mlp_check(capsys):
    ex.check_mlp(MLP)
    assert "✓ MLP" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="use nn.ModuleList"):
        ex.check_mlp(ListMLP)
    with pytest.raises(AssertionError, match="not after the last one"):
        ex.check_mlp(ReluAtEnd)
    with pytest.raises(AssertionError, match="must be an nn.ModuleList"):
        ex.check_mlp(SequentialMLP)


class MultiHead(nn.Module):
    def __init__(self, in_features, hidden, heads):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
        self.heads = nn.ModuleDict({t: nn.Linear(hidden, n) for t, n in heads.items()})

    def forward(self, x, task):
        return self.heads[task](self.trunk(x))


class PlainDictHeads(MultiHead):
    def __init__(self, in_features, hidden, heads):
        super().__init__(in_features, hidden, heads)
        plain = dict(self.heads)
        del self.heads
        self.__dict__["heads"] = plain


class TrunkPerTask(MultiHead):
    def __init__(self, in_features, hidden, heads):
        super().__init__(in_features, hidden, heads)
        self.trunks = nn.ModuleDict({t: nn.Linear(in_features, hidden) for t in heads})


class SummedHeads(MultiHead):
    def forward(self, x, task):
        h = self.trunk(x)
        return self.heads[task](h) + 0 * sum(head(h).sum() for head in self.heads.values())


def test_multi_head_check(capsys):
    ex.check_multi_head(MultiHead)
    assert "✓ MultiHead" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="must be an nn.ModuleDict"):
        ex.check_multi_head(PlainDictHeads)
    with pytest.raises(AssertionError, match="shared by all tasks"):
        ex.check_multi_head(TrunkPerTask)
    with pytest.raises(AssertionError, match="must use only"):
        ex.check_multi_head(SummedHeads)


class Conv2d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)


class BiasFirst(Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias)
        if bias:  # draws in the wrong order: bias before weight
            torch.manual_seed(0)
            bound = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
            nn.init.uniform_(self.bias, -bound, bound)
            nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))


class IgnoresStride(Conv2d):
    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, 1, self.padding)


class BiasAsBuffer(Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        del self.bias
        self.register_buffer("b", torch.zeros(out_channels))


def test_conv2d_check(capsys):
    ex.check_conv2d(Conv2d)
    assert "✓ Conv2d" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="differs from nn.Conv2d's with the same seed"):
        ex.check_conv2d(BiasFirst)
    with pytest.raises(AssertionError, match="output shape"):
        ex.check_conv2d(IgnoresStride)
    with pytest.raises(AssertionError, match="state_dict keys"):
        ex.check_conv2d(BiasAsBuffer)


def good_init(m):
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        nn.init.zeros_(m.bias)


def xavier_init(m):
    if isinstance(m, nn.Linear):
        nn.init.xavier_normal_(m.weight)
        nn.init.zeros_(m.bias)


def keeps_bias(m):
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")


def uniform_init(m):
    if isinstance(m, nn.Linear):
        nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
        nn.init.zeros_(m.bias)


def touches_everything(m):
    for p in m.parameters(recurse=False):
        if p.dim() > 1:
            nn.init.kaiming_normal_(p, nonlinearity="relu")
        else:
            nn.init.zeros_(p)


def test_init_check(capsys):
    ex.check_init_weights(good_init)
    assert "✓ good_init" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Kaiming"):
        ex.check_init_weights(xavier_init)
    with pytest.raises(AssertionError, match="look uniform"):
        ex.check_init_weights(uniform_init)
    with pytest.raises(AssertionError, match="biases should be zero"):
        ex.check_init_weights(keeps_bias)
    with pytest.raises(AssertionError, match="LayerNorm's weight changed"):
        ex.check_init_weights(touches_everything)
