"""Right and wrong answers for each self-check of Lecture 9."""

import numpy as np
import pytest
import torch
from torch import Tensor

from tutorials.lec09_custom_ops.exercises import check_chain_traffic, check_scaled_tanh, check_sqdist_op


def _scaled_tanh(grad_x_factor: bool = True, one_grad: bool = False, old_style: bool = False) -> type:
    class ScaledTanh(torch.autograd.Function):
        @staticmethod
        def forward(x, w):
            return torch.tanh(x * w)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0], inputs[1], output)

        @staticmethod
        def backward(ctx, grad):
            x, w, y = ctx.saved_tensors
            d = grad * (1 - y * y)
            gx = d * w if grad_x_factor else d
            gw = (d * x).sum_to_size(w.shape)
            if one_grad:
                return gx
            return (gx if ctx.needs_input_grad[0] else None, gw if ctx.needs_input_grad[1] else None)

    if old_style:
        class OldStyle(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, w):
                y = torch.tanh(x * w)
                ctx.save_for_backward(x, w, y)
                return y

            backward = ScaledTanh.backward
        return OldStyle
    return ScaledTanh


def test_scaled_tanh_right(capsys):
    check_scaled_tanh(_scaled_tanh())
    assert capsys.readouterr().out.startswith("✓ ScaledTanh")


@pytest.mark.parametrize(("answer", "hint"), [
    (_scaled_tanh(old_style=True), "use the new style"),
    (_scaled_tanh(grad_x_factor=False), "gradcheck fails"),
    (_scaled_tanh(one_grad=True), "one gradient per input"),
    (lambda x, w: torch.tanh(x * w), "subclass of torch.autograd.Function"),
])
def test_scaled_tanh_wrong(answer, hint):
    with pytest.raises(AssertionError, match=hint):
        check_scaled_tanh(answer)


def _np_sqdist(a: Tensor, b: Tensor) -> Tensor:
    an, bn = a.numpy(), b.numpy()
    return torch.from_numpy(((an[:, None, :] - bn[None, :, :]) ** 2).sum(-1))


@torch.library.custom_op("ex09_test::sqdist", mutates_args=())
def sqdist_right(a: Tensor, b: Tensor) -> Tensor:
    return _np_sqdist(a, b)


@sqdist_right.register_fake
def _(a, b):
    return a.new_empty(a.shape[0], b.shape[0])


@torch.library.custom_op("ex09_test::sqdist_nofake", mutates_args=())
def sqdist_nofake(a: Tensor, b: Tensor) -> Tensor:
    return _np_sqdist(a, b)


@torch.library.custom_op("ex09_test::sqdist_badfake", mutates_args=())
def sqdist_badfake(a: Tensor, b: Tensor) -> Tensor:
    return _np_sqdist(a, b)


@sqdist_badfake.register_fake
def _(a, b):
    return torch.empty_like(a)


def test_sqdist_right(capsys):
    check_sqdist_op(sqdist_right)
    assert capsys.readouterr().out.startswith("✓ sqdist")


@pytest.mark.parametrize(("answer", "hint"), [
    (sqdist_nofake, "no fake kernel"),
    (sqdist_badfake, "not a's shape"),
    (lambda a, b: torch.cdist(a, b) ** 2, "must be a custom operator"),
])
def test_sqdist_wrong(answer, hint):
    with pytest.raises(AssertionError, match=hint):
        check_sqdist_op(answer)


def test_chain_traffic_right(capsys):
    check_chain_traffic(lambda n, s, fused: 2 * s * (1 if fused else n))
    assert capsys.readouterr().out.startswith("✓ chain_traffic")


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda n, s, fused: s * (1 if fused else n), "Count both directions"),
    (lambda n, s, fused: 2 * s * n, "intermediates stay in registers"),
    (lambda n, s, fused: 2 * s, "every op is a kernel"),
])
def test_chain_traffic_wrong(answer, hint):
    with pytest.raises(AssertionError, match=hint):
        check_chain_traffic(answer)


def test_numpy_reference_is_right():
    a, b = torch.randn(3, 2), torch.randn(4, 2)
    assert np.allclose(_np_sqdist(a, b).numpy(), (torch.cdist(a, b) ** 2).numpy(), atol=1e-5)
