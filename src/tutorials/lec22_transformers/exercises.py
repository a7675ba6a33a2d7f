"""Self-checks for the exercises of Lecture 22 (Transformers and attention).

Each ``check_*`` function takes *your* answer, exercises it on inputs it builds
itself, prints a one-line confirmation when the answer is right, and raises an
``AssertionError`` that says what is wrong (and usually a hint) when it is not.

Examples:
    >>> import torch
    >>> check_causal_mask(lambda n: torch.ones(n, n, dtype=torch.bool).tril())
    ✓ <lambda>: lower-triangular boolean mask, True = may attend (SDPA's convention)

"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

__all__ = ["check_attention", "check_causal_mask", "check_lstm_step", "check_patchify"]


def _name(obj: object) -> str:
    return getattr(obj, "__name__", type(obj).__name__)


def check_causal_mask(causal_mask: Callable[[int], Tensor]) -> None:
    """Exercise 1: ``causal_mask(L)`` is a boolean ``(L, L)`` mask, True = may attend.

    Args:
        causal_mask: your function.

    Raises:
        AssertionError: wrong dtype, shape or pattern, with a hint.
    """
    for length in (4, 7, 1):
        mask = causal_mask(length)
        assert isinstance(mask, Tensor), f"causal_mask({length}) returned {type(mask).__name__}, not a tensor"
        assert mask.dtype == torch.bool, (
            f"causal_mask({length}) has dtype {mask.dtype}; SDPA reads a float mask as numbers added to the "
            "scores, so return a boolean tensor (dtype=torch.bool)")
        assert tuple(mask.shape) == (length, length), (
            f"causal_mask({length}) has shape {tuple(mask.shape)}, expected ({length}, {length})")
        expected = torch.ones(length, length, dtype=torch.bool).tril()
        if torch.equal(mask, expected):
            continue
        if torch.equal(mask, expected.tril(-1)):
            raise AssertionError("the diagonal is missing: a query may attend to its own position "
                                 "(without it the first query sees no key at all)")
        if torch.equal(mask, ~expected):
            raise AssertionError("the mask is flipped: True must mean 'may attend' (SDPA's convention); "
                                 "nn.MultiheadAttention's convention is the opposite")
        if torch.equal(mask, expected.T):
            raise AssertionError("the mask is upper-triangular: query i may see keys j <= i "
                                 "(rows are queries)")
        assert torch.equal(mask, expected), (
            f"causal_mask({length}) is\n{mask.int()}\nexpected\n{expected.int()}")
    print(f"✓ {_name(causal_mask)}: lower-triangular boolean mask, True = may attend (SDPA's convention)")


def check_attention(sdpa: Callable[..., Tensor]) -> None:
    """Exercise 2: ``sdpa(q, k, v, mask=None)`` equals ``F.scaled_dot_product_attention``.

    Args:
        sdpa: your function; ``mask`` is boolean, True = may attend.

    Raises:
        AssertionError: a shape or value differs, with a hint.
    """
    gen = torch.Generator().manual_seed(22)
    cases = [((2, 5, 8), (2, 7, 8), (2, 7, 3), None),
             ((2, 3, 6, 16), (2, 3, 6, 16), (2, 3, 6, 16), "causal"),
             ((1, 4, 4), (1, 4, 4), (1, 4, 4), "padding")]
    for q_shape, k_shape, v_shape, kind in cases:
        q = 3 * torch.randn(q_shape, generator=gen)
        k = torch.randn(k_shape, generator=gen)
        v = torch.randn(v_shape, generator=gen)
        L, S = q_shape[-2], k_shape[-2]
        mask = None
        if kind == "causal":
            mask = torch.ones(L, S, dtype=torch.bool).tril()
        elif kind == "padding":
            mask = torch.tensor([True, True, True, False]).expand(L, S)
        out = sdpa(q, k, v, mask=mask) if mask is not None else sdpa(q, k, v)
        if isinstance(out, tuple):
            raise AssertionError("return the output tensor only, not (output, weights)")
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        assert tuple(out.shape) == tuple(expected.shape), (
            f"with q {q_shape}, k {k_shape}, v {v_shape}: output shape {tuple(out.shape)}, "
            f"expected {tuple(expected.shape)}")
        if torch.allclose(out, expected, atol=1e-5):
            continue
        scores = q @ k.transpose(-2, -1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        if torch.allclose(out, scores.softmax(-1) @ v, atol=1e-5):
            raise AssertionError("the 1/sqrt(d) scale is missing: divide the scores by sqrt(q.size(-1))")
        if mask is not None:
            flipped = (q @ k.transpose(-2, -1) / q.size(-1) ** 0.5).masked_fill(mask, float("-inf"))
            out_flipped = flipped.softmax(-1) @ v
            if torch.allclose(out.nan_to_num(), out_flipped.nan_to_num(), atol=1e-5):
                raise AssertionError("the mask is applied the wrong way round: True = may attend, so fill "
                                     "the scores where the mask is False (masked_fill(~mask, -inf))")
        wrong_dim = (q @ k.transpose(-2, -1) / q.size(-1) ** 0.5)
        if mask is not None:
            wrong_dim = wrong_dim.masked_fill(~mask, float("-inf"))
        if torch.allclose(out.nan_to_num(), (wrong_dim.softmax(-2) @ v).nan_to_num(), atol=1e-5):
            raise AssertionError("softmax over the wrong dimension: normalize over the keys (dim=-1), "
                                 "so that each query's weights sum to 1")
        raise AssertionError(f"with q {q_shape} and mask {kind}: the output differs from "
                             f"F.scaled_dot_product_attention by {(out - expected).abs().max():.3g}")
    print(f"✓ {_name(sdpa)}: equal to F.scaled_dot_product_attention with and without masks (atol=1e-5)")


def check_lstm_step(lstm_step: Callable[..., tuple[Tensor, Tensor]]) -> None:
    """Exercise 3: one LSTM step with ``nn.LSTM``'s weight layout (gates i, f, g, o).

    Args:
        lstm_step: your function ``(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh) -> (h, c)``.

    Raises:
        AssertionError: ``h`` or ``c`` differs from ``nn.LSTM``'s, with a hint.
    """
    torch.manual_seed(22)
    lstm = nn.LSTM(5, 6, batch_first=True)
    x = torch.randn(3, 1, 5)
    h0, c0 = torch.randn(1, 3, 6), torch.randn(1, 3, 6)
    with torch.no_grad():
        _, (h_ref, c_ref) = lstm(x, (h0, c0))
        result = lstm_step(x[:, 0], h0[0], c0[0], lstm.weight_ih_l0, lstm.weight_hh_l0,
                           lstm.bias_ih_l0, lstm.bias_hh_l0)
    assert isinstance(result, tuple) and len(result) == 2, "return the pair (h, c)"
    h, c = result
    assert tuple(h.shape) == tuple(c.shape) == (3, 6), (
        f"h and c should be (batch, hidden) = (3, 6), got {tuple(h.shape)} and {tuple(c.shape)}")
    if torch.allclose(h, h_ref[0], atol=1e-5) and torch.allclose(c, c_ref[0], atol=1e-5):
        print(f"✓ {_name(lstm_step)}: h and c equal nn.LSTM's (atol=1e-5), gate order i, f, g, o")
        return
    if torch.allclose(c, c_ref[0], atol=1e-5):
        raise AssertionError("c is right but h is not: h = sigmoid(o) * tanh(c), with the new c")
    gates = x[:, 0] @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h0[0] @ lstm.weight_hh_l0.T + lstm.bias_hh_l0
    i, f, o, g = gates.detach().chunk(4, dim=-1)  # the wrong order i, f, o, g
    c_ifog = torch.sigmoid(f) * c0[0] + torch.sigmoid(i) * torch.tanh(g)
    if torch.allclose(c, c_ifog, atol=1e-5):
        raise AssertionError("the gates are sliced as i, f, o, g: PyTorch stores them as i, f, g, o")
    raise AssertionError("c differs from nn.LSTM's: c = sigmoid(f) * c_prev + sigmoid(i) * tanh(g), with "
                         "gates = x W_ih^T + b_ih + h W_hh^T + b_hh split into i, f, g, o")


def check_patchify(patchify: Callable[[Tensor, int], Tensor]) -> None:
    """Exercise 4: ``patchify(images, p)`` gives ``(B, N, C*p*p)`` patches in ``F.unfold``'s layout.

    Args:
        patchify: your function.

    Raises:
        AssertionError: a shape or the order of patches or pixels differs, with a hint.
    """
    gen = torch.Generator().manual_seed(22)
    for shape, p in (((2, 1, 8, 8), 2), ((1, 3, 6, 12), 3)):
        images = torch.randn(shape, generator=gen)
        B, C, H, W = shape
        out = patchify(images, p)
        expected = F.unfold(images, kernel_size=p, stride=p).transpose(1, 2)
        n = (H // p) * (W // p)
        assert tuple(out.shape) == (B, n, C * p * p), (
            f"images {shape} with p={p}: got {tuple(out.shape)}, "
            f"expected (B, N, C*p*p) = {(B, n, C * p * p)}")
        if torch.equal(out, expected):
            continue
        same_patches = sorted(map(tuple, out[0].tolist())) == sorted(map(tuple, expected[0].tolist()))
        if same_patches:
            raise AssertionError("the patches are right but in the wrong order: row-major, left to right "
                                 "along the top row of patches first")
        same_pixels = torch.equal(out.sort(-1).values, expected.sort(-1).values)
        if same_pixels:
            raise AssertionError("each patch has the right pixels in the wrong order: flatten every patch "
                                 "as (C, p, p), channel first")
        raise AssertionError(f"images {shape} with p={p}: the patches are not the image's p x p blocks; "
                             "hint: view as (B, C, H/p, p, W/p, p) and permute to (B, H/p, W/p, C, p, p)")
    print(f"✓ {_name(patchify)}: (B, N, C*p*p) patches in F.unfold's order")
