"""first_nonfinite stops at the innermost module that made NaN/Inf, says whether its inputs were finite,
looks inside tuple and dict outputs, and always removes its hooks."""

import doctest

import pytest
import torch
from torch import nn

from tutorials.lec26_debugging_hpc import nonfinite
from tutorials.lec26_debugging_hpc.nonfinite import (
    NonFiniteError,
    first_nonfinite,
    iter_tensors,
    nonfinite_counts,
)


class Log(nn.Module):
    def forward(self, x):
        return x.log()


class Pair(nn.Module):
    def forward(self, x):
        return x, {"bad": x / 0.0}


def _hooks(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_doctest():
    assert doctest.testmod(nonfinite).failed == 0


def test_names_the_innermost_producer_and_removes_hooks():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), Log()), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.fill_(-1.0)
        model[0].bias.zero_()
    with pytest.raises(NonFiniteError) as info, first_nonfinite(model):
        model(torch.ones(3, 2))  # relu(-2) = 0, log(0) = -inf
    err = info.value
    assert (err.module, err.kind, err.index, err.nan, err.inf) == ("1.1", "Log", 0, 0, 6)
    assert err.shape == (3, 2) and err.inputs_finite
    assert "module '1.1' (Log) returned 6 non-finite values (0 NaN, 6 Inf)" in str(err)
    assert _hooks(model) == 0


def test_bad_input_is_reported_as_not_made_here():
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(NonFiniteError) as info, first_nonfinite(model):
        model(torch.tensor([[float("nan"), 1.0]]))
    assert info.value.module == "0" and not info.value.inputs_finite
    assert "its inputs were already non-finite" in str(info.value)


def test_tuple_and_dict_outputs_and_the_root():
    model = Pair()
    with pytest.raises(NonFiniteError) as info, first_nonfinite(model):
        model(torch.ones(2))
    assert info.value.module == "" and info.value.index == 1
    assert "the model itself" in str(info.value)


def test_finite_forward_passes_and_counts():
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    with first_nonfinite(model) as same:
        assert same is model
        model(torch.randn(4, 3))
    assert _hooks(model) == 0
    assert nonfinite_counts(torch.tensor([1.0, float("nan"), -float("inf")])) == (1, 1)
    assert nonfinite_counts(torch.tensor([1, 2])) == (0, 0)
    assert len(list(iter_tensors((torch.ones(1), [torch.ones(2)], {"a": torch.ones(3), "b": 5})))) == 3
