"""Each self-check of Lecture 2 passes a right answer and rejects wrong ones with a helpful message."""

import pytest
import torch

from tutorials.lec02_tensors import exercises as ex


def _strides_for(shape, channels_last=False):
    if channels_last:
        n, c, h, w = shape
        return (h * w * c, 1, w * c, c)
    out, acc = [], 1
    for size in reversed(shape):
        out.append(acc)
        acc *= size
    return tuple(reversed(out))


def test_strides_check(capsys):
    ex.check_strides_for(_strides_for)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="last dimension has stride 1"):
        ex.check_strides_for(lambda s, channels_last=False: tuple(reversed(_strides_for(s))))
    with pytest.raises(AssertionError, match="channels-last stores N, H, W, C"):
        ex.check_strides_for(lambda s, channels_last=False: _strides_for(s))


def _windows(x, size, step):
    n = (x.numel() - size) // step + 1
    return x.as_strided((n, size), (step * x.stride(0), x.stride(0)))


def test_sliding_windows_check(capsys):
    ex.check_sliding_windows(_windows)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="were copied"):
        ex.check_sliding_windows(lambda x, s, st: x.unfold(0, s, st).clone())
    with pytest.raises(AssertionError, match="multiply by x.stride"):  # ignores x's stride
        ex.check_sliding_windows(
            lambda x, s, st: x.as_strided(((x.numel() - s) // st + 1, s), (st, 1)))
    with pytest.raises(AssertionError, match="expected shape"):
        ex.check_sliding_windows(lambda x, s, st: _windows(x, s, st)[:-1])


def test_pairwise_distances_check(capsys):
    ex.check_pairwise_sq_distances(lambda a, b: ((a[:, None] - b[None]) ** 2).sum(-1))
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="insert size-1 dimensions"):
        ex.check_pairwise_sq_distances(lambda a, b: ((a - b) ** 2).sum(-1))
    with pytest.raises(AssertionError, match="values differ"):
        ex.check_pairwise_sq_distances(lambda a, b: torch.cdist(a, b))  # not squared
    with pytest.raises(AssertionError, match="expected shape"):
        ex.check_pairwise_sq_distances(lambda a, b: ((a[None] - b[:, None]) ** 2).sum(-1))


def _overwriting(labels, weights, n):
    out = torch.zeros(n)
    out[labels] += weights  # repeated labels: one write survives
    return out


def test_weighted_histogram_check(capsys):
    ex.check_weighted_histogram(lambda lab, w, n: torch.zeros(n).index_add_(0, lab, w))
    ex.check_weighted_histogram(lambda lab, w, n: torch.bincount(lab, w, minlength=n))
    assert capsys.readouterr().out.count("✓") == 2
    with pytest.raises(AssertionError, match="index_add_"):
        ex.check_weighted_histogram(_overwriting)
    with pytest.raises(AssertionError, match="minlength=num_classes"):
        ex.check_weighted_histogram(lambda lab, w, n: torch.bincount(lab, w))
