"""Each self-check passes a right answer and rejects wrong ones with a helpful message."""

import pytest
import torch
import torch.nn.functional as F

from tutorials.lec22_transformers import exercises as ex


def _causal(n):
    return torch.ones(n, n, dtype=torch.bool).tril()


def test_causal_mask_accepts_the_right_answer(capsys):
    ex.check_causal_mask(_causal)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("answer,message", [
    (lambda n: ~_causal(n), "flipped"),
    (lambda n: _causal(n).tril(-1), "diagonal is missing"),
    (lambda n: _causal(n).T, "upper-triangular"),
    (lambda n: _causal(n).float(), "boolean tensor"),
    (lambda n: _causal(n + 1), "shape"),
])
def test_causal_mask_rejects_wrong_answers(answer, message):
    with pytest.raises(AssertionError, match=message):
        ex.check_causal_mask(answer)


def _sdpa(q, k, v, mask=None, scale=True, flip=False, dim=-1):
    scores = q @ k.transpose(-2, -1) / (q.size(-1) ** 0.5 if scale else 1.0)
    if mask is not None:
        scores = scores.masked_fill(mask if flip else ~mask, float("-inf"))
    return scores.softmax(dim) @ v


def test_attention_accepts_the_right_answer(capsys):
    ex.check_attention(_sdpa)
    ex.check_attention(lambda q, k, v, mask=None: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize("answer,message", [
    (lambda q, k, v, mask=None: _sdpa(q, k, v, mask, scale=False), "scale is missing"),
    (lambda q, k, v, mask=None: _sdpa(q, k, v, mask, flip=True), "wrong way round"),
    (lambda q, k, v, mask=None: _sdpa(q, k, v, mask, dim=-2), "wrong dimension"),
    (lambda q, k, v, mask=None: (_sdpa(q, k, v, mask), None), "output tensor only"),
    (lambda q, k, v, mask=None: _sdpa(q, k, v, mask).transpose(-2, -1), "output shape"),
])
def test_attention_rejects_wrong_answers(answer, message):
    with pytest.raises(AssertionError, match=message):
        ex.check_attention(answer)


def _lstm(x, h, c, w_ih, w_hh, b_ih, b_hh, order="ifgo", stale_c=False):
    gates = dict(zip(order, (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=-1)))
    c_new = torch.sigmoid(gates["f"]) * c + torch.sigmoid(gates["i"]) * torch.tanh(gates["g"])
    return torch.sigmoid(gates["o"]) * torch.tanh(c if stale_c else c_new), c_new


def test_lstm_step_accepts_the_right_answer(capsys):
    ex.check_lstm_step(_lstm)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("answer,message", [
    (lambda *a: _lstm(*a, order="ifog"), "i, f, o, g"),
    (lambda *a: _lstm(*a, stale_c=True), "h is not"),
    (lambda *a: _lstm(*a, order="fig" + "o"), "c differs"),
    (lambda *a: _lstm(*a)[0], "pair"),
])
def test_lstm_step_rejects_wrong_answers(answer, message):
    with pytest.raises(AssertionError, match=message):
        ex.check_lstm_step(answer)


def _patchify(images, p, patch_order="rows", pixel_order="chw"):
    B, C, H, W = images.shape
    grid = images.view(B, C, H // p, p, W // p, p)
    dims = (0, 2, 4) if patch_order == "rows" else (0, 4, 2)
    dims += (1, 3, 5) if pixel_order == "chw" else (3, 5, 1)
    return grid.permute(*dims).reshape(B, (H // p) * (W // p), C * p * p)


def test_patchify_accepts_the_right_answer(capsys):
    ex.check_patchify(_patchify)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("answer,message", [
    (lambda x, p: _patchify(x, p, patch_order="columns"), "wrong order: row-major"),
    (lambda x, p: _patchify(x, p, pixel_order="hwc"), "channel first"),
    (lambda x, p: x.reshape(x.size(0), -1, x.size(1) * p * p), "not the image's"),
    (lambda x, p: _patchify(x, p).transpose(1, 2), "expected \\(B, N, C\\*p\\*p\\)"),
])
def test_patchify_rejects_wrong_answers(answer, message):
    with pytest.raises(AssertionError, match=message):
        ex.check_patchify(answer)
