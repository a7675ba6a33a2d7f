"""Each self-check passes a right answer and rejects wrong ones with a helpful message."""

import pytest
import torch
from torchvision.ops import box_iou

from tutorials.lec23_computer_vision import exercises as ex


def _conv_out(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def test_conv_output_size(capsys):
    ex.check_conv_output_size(_conv_out)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="n \\+ 2p"):
        ex.check_conv_output_size(lambda n, k, s, p, d: _conv_out(n, k, s, 0, d))
    with pytest.raises(AssertionError, match="dilated kernel spans"):
        ex.check_conv_output_size(lambda n, k, s, p, d: _conv_out(n, k, s, p, 1))
    with pytest.raises(AssertionError, match="rounds down"):
        ex.check_conv_output_size(lambda n, k, s, p, d: -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1)


def _iou(a, b):
    tl = torch.maximum(a[:, None, :2], b[None, :, :2])
    br = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (br - tl).clamp(min=0).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).prod(1)
    return inter / (area_a[:, None] + area_b[None] - inter)


def test_iou(capsys):
    ex.check_iou(_iou)
    assert "✓" in capsys.readouterr().out
    ex.check_iou(box_iou)

    def no_clamp(a, b):
        tl = torch.maximum(a[:, None, :2], b[None, :, :2])
        br = torch.minimum(a[:, None, 2:], b[None, :, 2:])
        inter = (br - tl).prod(2)
        area_a = (a[:, 2:] - a[:, :2]).prod(1)
        area_b = (b[:, 2:] - b[:, :2]).prod(1)
        return inter / (area_a[:, None] + area_b[None] - inter)

    with pytest.raises(AssertionError, match="clamp the intersection"):
        ex.check_iou(no_clamp)
    with pytest.raises(AssertionError, match="union = area"):
        ex.check_iou(lambda a, b: _iou(a, b) * 0 + (_iou(a, b) > 0).float() * 0.5)
    with pytest.raises(AssertionError, match="must be a \\(3, 4\\) tensor"):
        ex.check_iou(lambda a, b: _iou(a, b).T)


def test_freeze_backbone(capsys):
    def right(model):
        for p in model.features.parameters():
            p.requires_grad_(False)
        return torch.optim.AdamW(model.head.parameters(), lr=1e-3)

    ex.check_freeze_backbone(right)
    assert "✓" in capsys.readouterr().out

    def not_frozen(model):
        return torch.optim.AdamW(model.head.parameters(), lr=1e-3)

    def all_in_optimizer(model):
        for p in model.features.parameters():
            p.requires_grad_(False)
        return torch.optim.AdamW(model.parameters(), lr=1e-3)

    def head_frozen_too(model):
        for p in model.parameters():
            p.requires_grad_(False)
        return torch.optim.AdamW(model.head.parameters(), lr=1e-3)

    with pytest.raises(AssertionError, match="still trainable"):
        ex.check_freeze_backbone(not_frozen)
    with pytest.raises(AssertionError, match="exactly the head's parameters"):
        ex.check_freeze_backbone(all_in_optimizer)
    with pytest.raises(AssertionError, match="must stay trainable"):
        ex.check_freeze_backbone(head_frozen_too)
    with pytest.raises(AssertionError, match="must return a torch.optim"):
        ex.check_freeze_backbone(lambda model: None)


def _gram(f):
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def test_gram(capsys):
    ex.check_gram(_gram)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="not normalised"):
        ex.check_gram(lambda f: _gram(f) * f.shape[1] * f.shape[2] * f.shape[3])
    with pytest.raises(AssertionError, match="divided by H\\*W only"):
        ex.check_gram(lambda f: _gram(f) * f.shape[1])
    with pytest.raises(AssertionError, match="must be \\(2, 3, 3\\)"):
        ex.check_gram(lambda f: f.flatten(2).transpose(1, 2) @ f.flatten(2))
    with pytest.raises(AssertionError, match="wrong values"):
        ex.check_gram(lambda f: _gram(f) + 0.1)
