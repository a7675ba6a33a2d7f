"""Each self-check passes a right answer and rejects wrong ones with a helpful message."""

import pytest
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F

from tutorials.lec03_autograd import exercises as ex
from tutorials.lec03_autograd.activations import MishFunction, MishRecompute, SwishFunction


@pytest.mark.parametrize("answer", [MishFunction, MishRecompute])
def test_mish_check_accepts_right_answers(answer, capsys):
    ex.check_mish_function(answer)
    assert "✓" in capsys.readouterr().out


def _mish_with_backward(name, grad):
    """A learner's Function: mish forward, and ``grad(g, x)`` as its backward."""

    class Answer(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return F.mish(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return grad(g, x)

    Answer.__name__ = Answer.__qualname__ = name
    return Answer


def _t(x):
    return torch.tanh(F.softplus(x))


# forgets the x * (1 - t^2) * sigmoid term
_WrongBackward = _mish_with_backward("_WrongBackward", lambda g, x: g * _t(x))
# the right derivative, not times g
_ForgetsGradOut = _mish_with_backward(
    "_ForgetsGradOut", lambda g, x: _t(x) + x * (1 - _t(x) ** 2) * torch.sigmoid(x))
# d softplus/dx taken as 1
_DropsSigmoid = _mish_with_backward("_DropsSigmoid", lambda g, x: g * (_t(x) + x * (1 - _t(x) ** 2)))
# both mistakes at once
_DropsBoth = _mish_with_backward("_DropsBoth", lambda g, x: _t(x) + x * (1 - _t(x) ** 2))


class _NotTwiceDifferentiable(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        t, s = torch.tanh(F.softplus(x)), torch.sigmoid(x)
        ctx.save_for_backward(x, t, s)  # intermediates made without autograd...
        return x * t

    @staticmethod
    def backward(ctx, g):
        x, t, s = ctx.saved_tensors  # ...used as constants in double backward
        return g * (t + x * (1 - t * t) * s)


@pytest.mark.parametrize("answer,message", [
    (SwishFunction, "forward differs from F.mish"),
    (_WrongBackward, "backward differs"),
    (_NotTwiceDifferentiable, "fails gradgradcheck"),
    (lambda x: x, "must be a subclass of torch.autograd.Function"),
])
def test_mish_check_rejects_wrong_answers(answer, message):
    with pytest.raises(AssertionError, match=message):
        ex.check_mish_function(answer)


@pytest.mark.parametrize("answer,says,not_says", [
    (_ForgetsGradOut, ["without grad_output"], "softplus(x)/dx is not 1"),
    (_DropsSigmoid, ["softplus(x)/dx is not 1"], "grad_output"),
    (_DropsBoth, ["grad_output is unused", "softplus(x)/dx is not 1"], "without grad_output"),
    (_WrongBackward, ["product rule"], "softplus(x)/dx is not 1"),
])
def test_mish_check_tells_backward_mistakes_apart(answer, says, not_says):
    with pytest.raises(AssertionError, match="backward differs") as info:
        ex.check_mish_function(answer)
    message = str(info.value)
    assert all(part in message for part in says), message
    assert not_says not in message, message
    assert "sigmoid" not in message, "the hint must not give the derivative away"


def test_clip_hook_check(capsys):
    ex.check_clip_hook(lambda g: g.clamp(-1, 1))
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="changed in place"):
        ex.check_clip_hook(lambda g: g.clamp_(-1, 1))
    with pytest.raises(AssertionError, match="expected gradient"):
        ex.check_clip_hook(lambda g: g.clamp(max=1))
    with pytest.raises(AssertionError, match="expected gradient"):
        ex.check_clip_hook(lambda g: None)  # returns nothing: gradient unchanged


def _right_accumulate(model, x, y, micro):
    for xb, yb in zip(x.split(micro), y.split(micro)):
        (F.cross_entropy(model(xb), yb) * len(xb) / len(x)).backward()


def _count_weighted(model, x, y, micro):  # wrong when the last chunk is short
    chunks = list(zip(x.split(micro), y.split(micro)))
    for xb, yb in chunks:
        (F.cross_entropy(model(xb), yb) / len(chunks)).backward()


def _zeroing(model, x, y, micro):
    for xb, yb in zip(x.split(micro), y.split(micro)):
        model.zero_grad()
        (F.cross_entropy(model(xb), yb) * len(xb) / len(x)).backward()


def test_accumulation_check(capsys):
    ex.check_accumulated_gradients(_right_accumulate)
    assert "✓" in capsys.readouterr().out
    for wrong in (_count_weighted, _zeroing):
        with pytest.raises(AssertionError, match="differs from the full batch"):
            ex.check_accumulated_gradients(wrong)


def _right_jvp(f, x, v):
    with fwAD.dual_level():
        p, t = fwAD.unpack_dual(f(fwAD.make_dual(x, v)))
    return p, t


def test_jvp_check(capsys):
    ex.check_jvp(_right_jvp)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="J @ v should be"):
        ex.check_jvp(lambda f, x, v: _right_jvp(f, x, 2 * v))
    with pytest.raises(AssertionError, match="tangent is None"):
        ex.check_jvp(lambda f, x, v: (f(x), None))
    with pytest.raises(AssertionError, match="must return a tuple"):
        ex.check_jvp(lambda f, x, v: f(x))
