"""Each self-check passes a right answer and rejects wrong ones with a helpful message."""

from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

from tutorials.lec04_dispatcher import exercises as ex


class _Counting(TorchDispatchMode):
    def __init__(self, full_names=False):
        super().__init__()
        self.counts = Counter()
        self.full_names = full_names

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[str(func) if self.full_names else func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def _right(fn, x):
    loss = fn(x)
    with _Counting() as mode:
        loss.backward()
    return mode.counts


def _with_forward(fn, x):
    with _Counting() as mode:
        fn(x).backward()
    return mode.counts


def _full_names(fn, x):
    loss = fn(x)
    with _Counting(full_names=True) as mode:
        loss.backward()
    return mode.counts


def test_backward_op_counts_check(capsys):
    ex.check_backward_op_counts(_right)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="forward pass outside the mode"):
        ex.check_backward_op_counts(_with_forward)
    with pytest.raises(AssertionError, match="Use short names"):
        ex.check_backward_op_counts(_full_names)
    with pytest.raises(AssertionError, match="must return a mapping"):
        ex.check_backward_op_counts(lambda fn, x: None)


def test_is_composite_check(capsys):
    ex.check_is_composite(
        lambda op: torch._C._dispatch_has_kernel_for_dispatch_key(op, "CompositeImplicitAutograd"))
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="is_composite\\('aten::linear'\\) returned False"):
        ex.check_is_composite(lambda op: False)
    with pytest.raises(AssertionError, match="addmm.*has its own CPU kernel"):
        ex.check_is_composite(lambda op: True)
    with pytest.raises(AssertionError, match="matmul"):  # a name list is not the dispatcher
        ex.check_is_composite(lambda op: op in {"aten::linear"})
    # "no CPU kernel" is wrong for CompositeExplicitAutograd operators such as ones
    with pytest.raises(AssertionError,
                       match=r"is_composite\('aten::ones'\) returned True.*"
                             r"CompositeExplicitAutograd.*missing CPU kernel"):
        ex.check_is_composite(
            lambda op: not torch._C._dispatch_has_kernel_for_dispatch_key(op, "CPU"))
    # "no dispatch: section" is wrong for structured_delegate operators such as acos
    with pytest.raises(AssertionError,
                       match=r"is_composite\('aten::acos'\) returned True.*structured_delegate"):
        ex.check_is_composite(lambda op: op in {
            "aten::linear", "aten::matmul", "aten::dropout", "aten::flatten.using_ints",
            "aten::acos"})


def _define(name, value_fn, *, fake=True, grad=True, grad_scale=1.0):
    @torch.library.custom_op(f"test_ex04::{name}", mutates_args=(), device_types="cpu")
    def op(x: Tensor) -> Tensor:
        return torch.from_numpy(value_fn(x.numpy()))

    if fake:
        op.register_fake(lambda x: torch.empty_like(x))
    if grad:
        def setup(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            t = torch.tanh(F.softplus(x))
            return grad_scale * g * (t + x * (1 - t * t) * torch.sigmoid(x))

        op.register_autograd(backward, setup_context=setup)
    return op


def _mish_np(x):
    return x * np.tanh(np.logaddexp(0, x))


def test_mish_op_check(capsys):
    ex.check_mish_op(_define("mish_ok", _mish_np))
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="CustomOpDef"):
        ex.check_mish_op(F.mish)
    with pytest.raises(AssertionError, match="differs from F.mish"):
        ex.check_mish_op(_define("swish", lambda x: x / (1 + np.exp(-x))))
    with pytest.raises(AssertionError, match="fails on a meta tensor"):
        ex.check_mish_op(_define("no_fake", _mish_np, fake=False))
    with pytest.raises(AssertionError, match="register_autograd"):
        ex.check_mish_op(_define("no_grad", _mish_np, grad=False))
    with pytest.raises(AssertionError, match="gradient of test_ex04::bad_grad differs"):
        ex.check_mish_op(_define("bad_grad", _mish_np, grad_scale=2.0))
