import pytest
import torch
import torch.nn.functional as F

from tutorials.lec03_autograd.memory import saved_tensor_report


def test_saved_input_costs_nothing_new_and_intermediates_do():
    x = torch.randn(1000, requires_grad=True)
    silu = saved_tensor_report(F.silu, x)
    assert (silu.count, silu.extra_bytes, silu.total_bytes) == (1, 0, 4000)
    chain = saved_tensor_report(lambda t: torch.sigmoid(t) * t, x)  # saves sigmoid(t) and t
    assert chain.extra_bytes == 4000 and chain.count >= 2


def test_storage_saved_twice_is_counted_once():
    x = torch.randn(10, requires_grad=True)
    r = saved_tensor_report(lambda t: t * t, x)  # mul saves both operands: the same storage
    assert r.count == 2 and r.total_bytes == 40


def test_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="no input requires grad"):
        saved_tensor_report(torch.sigmoid, torch.randn(3))
