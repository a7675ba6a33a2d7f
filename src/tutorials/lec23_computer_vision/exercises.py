"""Self-checks for the exercises of Lecture 23 (computer vision).

Each ``check_*`` function takes the reader's answer, tries it on inputs it builds itself,
prints a line starting with ✓ when it is right and raises an ``AssertionError`` with a
hint when it is not.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_iou

from tutorials.lec23_computer_vision.backbone import SmallCNN

__all__ = ["check_conv_output_size", "check_freeze_backbone", "check_gram", "check_iou"]


def _formula(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def check_conv_output_size(conv_out: Callable[[int, int, int, int, int], int]) -> None:
    """Check ``conv_out(n, k, s, p, d)``: the output length of ``nn.Conv2d`` along one axis.

    Args:
        conv_out: the reader's function of input length ``n``, kernel ``k``, stride ``s``,
            padding ``p`` and dilation ``d``.

    Raises:
        AssertionError: a setting where it disagrees with ``nn.Conv2d``, with a hint.
    """
    tried = 0
    for n, k, s, p, d in itertools.product([5, 9, 16], [1, 2, 3, 4], [1, 2, 3], [0, 1, 3], [1, 2]):
        if d * (k - 1) + 1 > n + 2 * p:
            continue
        expected = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p,
                            dilation=d).shape[-1]  # what nn.Conv2d computes
        got = conv_out(n, k, s, p, d)
        if got != expected:
            if p and got == _formula(n, k, s, 0, d):
                hint = "the padding adds p on both sides: n + 2p"
            elif p and got == (n + p - d * (k - 1) - 1) // s + 1:
                hint = "the padding adds p on both sides: n + 2p, not n + p"
            elif d > 1 and got == _formula(n, k, s, p, 1):
                hint = "a dilated kernel spans d*(k-1)+1 pixels"
            else:
                hint = "PyTorch rounds down: floor((n + 2p - d(k-1) - 1) / s) + 1"
            raise AssertionError(f"conv_out(n={n}, k={k}, s={s}, p={p}, d={d}) = {got}, nn.Conv2d gives "
                                 f"{expected}; {hint}")
        tried += 1
    print(f"✓ conv_out matches nn.Conv2d in all {tried} settings tried (stride, padding, dilation)")


def check_iou(iou: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Check ``iou(a, b)``: pairwise IoU of XYXY boxes ``(N, 4)`` and ``(M, 4)``, shape ``(N, M)``.

    Args:
        iou: the reader's function (without ``torchvision.ops.box_iou``).

    Raises:
        AssertionError: wrong shape or values, with a hint.
    """
    a = torch.tensor([[0.0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 25, 30]])
    b = torch.tensor([[0.0, 0, 10, 10], [12, 0, 20, 8], [6, 6, 8, 8], [-5, 0, 5, 10]])
    got = iou(a, b)
    expected = box_iou(a, b)
    assert isinstance(got, torch.Tensor) and got.shape == expected.shape, (
        f"iou(a, b) of {len(a)} and {len(b)} boxes must be a ({len(a)}, {len(b)}) tensor, got "
        f"{getattr(got, 'shape', type(got).__name__)}")
    if (got < 0).any():
        raise AssertionError("negative IoU for boxes that do not overlap: clamp the intersection's width "
                             "and height at 0")
    if not torch.allclose(got.float(), expected, atol=1e-6):
        i, j = divmod(int((got.float() - expected).abs().argmax()), len(b))
        raise AssertionError(f"iou of {a[i].tolist()} and {b[j].tolist()} is {got[i, j].item():.4f}, "
                             f"expected {expected[i, j].item():.4f}; boxes are (x1, y1, x2, y2) corners, "
                             "union = area(a) + area(b) - intersection")
    print("✓ iou: pairwise (N, M) IoU equal to torchvision.ops.box_iou, including disjoint boxes")


def check_freeze_backbone(freeze: Callable[[SmallCNN], torch.optim.Optimizer]) -> None:
    """Check ``freeze(model)``: freeze ``model.features`` and return an optimizer of the head only.

    The check then trains one step in the way the chapter does (``model.train()`` and
    ``model.features.eval()``) and verifies that nothing of the backbone changed.

    Args:
        freeze: the reader's function; it gets a fresh :class:`SmallCNN`.

    Raises:
        AssertionError: a trainable backbone parameter, a wrong optimizer, or a changed backbone.
    """
    torch.manual_seed(0)
    model = SmallCNN(num_classes=5, widths=(4, 8))
    optimizer = freeze(model)
    assert isinstance(optimizer, torch.optim.Optimizer), "freeze(model) must return a torch.optim optimizer"
    still = [n for n, p in model.features.named_parameters() if p.requires_grad]
    assert not still, f"backbone parameters still trainable: {still}; set requires_grad_(False) on them"
    head = [n for n, p in model.head.named_parameters() if not p.requires_grad]
    assert not head, f"the head must stay trainable, but {head} is frozen"
    in_opt = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert in_opt == {id(p) for p in model.head.parameters()}, (
        "the optimizer must hold exactly the head's parameters (model.head.parameters()), "
        f"it holds {len(in_opt)} tensors")
    before = {k: v.clone() for k, v in model.features.state_dict().items()}
    head_before = model.head.weight.clone()
    model.train()
    model.features.eval()
    loss = nn.functional.cross_entropy(model(torch.randn(8, 1, 16, 16)), torch.arange(8) % 5)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    for key, value in model.features.state_dict().items():
        assert torch.equal(value, before[key]), f"the backbone's {key} changed during a training step"
    assert not torch.equal(head_before, model.head.weight), "the head did not change: is its lr 0?"
    print("✓ freeze: backbone frozen, optimizer holds only the head, one step changes only the head")


def check_gram(gram: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Check ``gram(f)``: for features ``(N, C, H, W)`` the ``(N, C, C)`` Gram matrices / (C*H*W).

    Args:
        gram: the reader's function.

    Raises:
        AssertionError: wrong shape, normalisation or values, with a hint.
    """
    g = torch.Generator().manual_seed(0)
    f = torch.randn(2, 3, 4, 5, generator=g)
    flat = f.reshape(2, 3, 20)
    expected = flat @ flat.transpose(1, 2) / (3 * 4 * 5)
    got = gram(f)
    assert isinstance(got, torch.Tensor) and got.shape == (2, 3, 3), (
        f"gram of (2, 3, 4, 5) features must be (2, 3, 3): channel by channel, got "
        f"{getattr(got, 'shape', type(got).__name__)}; multiply (N, C, H*W) by its transpose (N, H*W, C)")
    for factor, what in [(60.0, "not normalised"), (3.0, "divided by H*W only"), (20.0, "divided by C only")]:
        if torch.allclose(got, expected * factor, atol=1e-4):
            raise AssertionError(f"the values are {what}: divide by C*H*W")
    assert torch.allclose(got, expected, atol=1e-5), (
        "wrong values: G[n] = F[n] @ F[n].T / (C*H*W) with F = f.reshape(N, C, H*W)")
    print("✓ gram: (N, C, C) channel correlations divided by C*H*W")
