"""Each self-check of Lecture 1 passes a right answer and rejects wrong ones with a helpful message."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from tutorials.lec01_big_picture import exercises as ex


def scale_cond(x):
    peak = x.abs().max()
    return torch.cond(peak > 1, lambda x, p: x / p, lambda x, p: x * 2, (x, peak))


def scale_where(x):
    peak = x.abs().max()
    return torch.where(peak > 1, x / peak, x * 2)


def scale_if(x):
    peak = x.abs().max()
    if peak > 1:
        return x / peak
    return x * 2


@pytest.mark.parametrize("answer", [scale_cond, scale_where])
def test_exportable_scale_accepts_right_answers(answer, capsys):
    ex.check_exportable_scale(answer)
    assert "✓" in capsys.readouterr().out


def scale_cond_ge(x):  # wrong at the boundary: peak == 1 must double, not divide
    peak = x.abs().max()
    return torch.cond(peak >= 1, lambda x, p: x / p, lambda x, p: x * 2, (x, peak))


@pytest.mark.parametrize("answer,message", [
    (scale_if, "torch.export.export failed on scale_if"),
    (lambda x: x / x.abs().max(), "peak <= 1"),
    (lambda x: x * 2, "peak > 1"),
    (scale_cond_ge, r"peak exactly 1 \(double\).*divides only when the peak \*exceeds\* 1"),
])
def test_exportable_scale_rejects_wrong_answers(answer, message):
    with pytest.raises(AssertionError, match=message):
        ex.check_exportable_scale(answer)


def test_no_graph_break_check(capsys):
    ex.check_no_graph_break(lambda x: x / x.abs().max())
    assert "✓" in capsys.readouterr().out

    def normalize(x):
        return x / x.abs().max().item()

    with pytest.raises(AssertionError, match=r"2 graph\(s\) with 1 graph break"):
        ex.check_no_graph_break(normalize)
    with pytest.raises(AssertionError, match="must equal"):
        ex.check_no_graph_break(lambda x: x / x.max())


class _Log(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def test_backward_ops_check(capsys):
    def backward_ops(f, x):
        out = f(x).sum()
        with _Log() as log:
            out.backward()
        return log.ops

    ex.check_backward_ops(backward_ops)
    assert "✓" in capsys.readouterr().out

    def with_forward(f, x):
        with _Log() as log:
            f(x).sum().backward()
        return log.ops

    with pytest.raises(AssertionError, match="ran in the \\*forward\\* pass"):
        ex.check_backward_ops(with_forward)

    def dropped_last(f, x):
        return backward_ops(f, x)[:-1]

    with pytest.raises(AssertionError, match="the backward pass ran"):
        ex.check_backward_ops(dropped_last)
    with pytest.raises(AssertionError, match="list of str"):
        ex.check_backward_ops(lambda f, x: None)

    class _ShortLog(_Log):  # short names such as 'mul' (func.overloadpacket.__name__)
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    def short_names(f, x):
        out = f(x).sum()
        with _ShortLog() as log:
            out.backward()
        return log.ops

    with pytest.raises(AssertionError,
                       match=r"not full operator names.*'namespace\.name\.overload'"):
        ex.check_backward_ops(short_names)
