import pytest
import torch
import torch.nn.functional as F

from tutorials.lec03_autograd import activations as act

CASES = [
    (act.SwishFunction, F.silu), (act.SwishRecompute, F.silu),
    (act.MishFunction, F.mish), (act.MishRecompute, F.mish),
]


@pytest.mark.parametrize("fn,builtin", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_gradients_and_double_backward(fn, builtin):
    x = torch.randn(32, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fn.apply, (x,))
    assert torch.autograd.gradgradcheck(fn.apply, (x,))
    (g1,) = torch.autograd.grad(fn.apply(x).sum(), x, create_graph=True)
    (g2,) = torch.autograd.grad(builtin(x).sum(), x, create_graph=True)
    torch.testing.assert_close(g1, g2)
    # second derivative agrees with the built-in's too
    torch.testing.assert_close(torch.autograd.grad(g1.sum(), x)[0], torch.autograd.grad(g2.sum(), x)[0])


def test_modules_wrap_the_functions():
    x = torch.randn(4, 5)
    torch.testing.assert_close(act.Swish()(x), F.silu(x))
    torch.testing.assert_close(act.Swish(recompute=True)(x), F.silu(x))
    torch.testing.assert_close(act.Mish()(x), F.mish(x))
    assert "recompute=True" in repr(act.Mish(recompute=True))
