"""Self-checks for the exercises of Lecture 21 (natural language processing).

Each ``check_*`` function takes *your* answer, tries it on inputs it builds itself,
prints a line starting with ✓ when the answer is right, and raises an
``AssertionError`` that says what is wrong, with a hint, when it is not.

Examples:
    >>> import torch
    >>> def make_attention_mask(lengths, max_len=None):
    ...     max_len = int(lengths.max()) if max_len is None else max_len
    ...     return (torch.arange(max_len)[None, :] < lengths[:, None]).long()
    >>> check_attention_mask(make_attention_mask)
    ✓ make_attention_mask: 1 at every token, 0 at every pad, (B, T) int64, with and without max_len
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["check_attention_mask", "check_bucket_batches", "check_mean_pool"]


def _name(obj: object) -> str:
    return getattr(obj, "__name__", type(obj).__name__)


def check_attention_mask(fn: Callable[..., Tensor]) -> None:
    """Exercise 1: ``fn(lengths, max_len=None)`` returns a Hugging Face style attention mask.

    ``lengths`` is a 1-D ``LongTensor`` of sequence lengths; the answer is a ``(B, T)``
    ``torch.long`` tensor with 1 at the first ``lengths[b]`` positions of row ``b`` and 0
    after them, where ``T`` is ``max_len`` or, when it is ``None``, the longest length.

    Raises:
        AssertionError: a shape, dtype or value is wrong (the message says which).
    """
    name = _name(fn)
    for lengths, max_len in [([3, 1, 4], None), ([2, 5], 7), ([1], None), ([0, 2], 3)]:
        lengths_t = torch.tensor(lengths)
        got = fn(lengths_t, max_len) if max_len is not None else fn(lengths_t)
        width = max(lengths) if max_len is None else max_len
        want = torch.tensor([[1] * n + [0] * (width - n) for n in lengths])
        assert isinstance(got, Tensor), f"{name} returned {type(got).__name__}, expected a tensor"
        assert tuple(got.shape) == tuple(want.shape), (
            f"{name}({lengths}, max_len={max_len}) has shape {tuple(got.shape)}, expected "
            f"{tuple(want.shape)}: (batch, max_len or the longest length)")
        if torch.equal(got.long(), 1 - want):
            raise AssertionError(
                f"{name}({lengths}) is inverted: Hugging Face's attention_mask has 1 at real tokens and "
                "0 at padding (the True = ignore convention is nn.MultiheadAttention's key_padding_mask)")
        assert torch.equal(got.long(), want), (
            f"{name}({lengths}, max_len={max_len}) gave {got.tolist()}, expected {want.tolist()}; "
            "hint: position t of row b is a token when t < lengths[b] "
            "(strictly less: positions count from 0)")
        assert got.dtype == torch.long, (
            f"{name} returned dtype {got.dtype}; a tokenizer's attention_mask is torch.int64: add .long()")
    print(f"✓ {name}: 1 at every token, 0 at every pad, (B, T) int64, with and without max_len")


def _padding(lengths: list[int], batches: list[list[int]]) -> int:
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def check_bucket_batches(fn: Callable[[list[int], int, int], list[list[int]]]) -> None:
    """Exercise 2: ``fn(lengths, batch_size, seed)`` groups indices into length-bucketed batches.

    The batches must hold every index ``0 .. len(lengths)-1`` exactly once, none more
    than ``batch_size``, need at most half the padding of shuffled batches of the same
    size, and come in an order that depends on ``seed`` (training must not always see the
    short sentences first).

    Raises:
        AssertionError: one of the rules above is broken.
    """
    name = _name(fn)
    rng = random.Random(21)
    lengths = [rng.randint(3, 60) for _ in range(1000)]
    batches = [list(b) for b in fn(lengths, 32, 0)]
    flat = sorted(int(i) for b in batches for i in b)
    assert flat == list(range(len(lengths))), (
        f"{name}: the batches hold {len(flat)} indices ({len(set(flat))} different) for "
        f"{len(lengths)} sequences; every index must appear exactly once")
    too_big = [len(b) for b in batches if len(b) > 32]
    assert not too_big, f"{name}: batches of {too_big[:3]} indices with batch_size=32"
    order = list(range(len(lengths)))
    random.Random(0).shuffle(order)
    shuffled = [order[i:i + 32] for i in range(0, len(order), 32)]
    got, base = _padding(lengths, batches), _padding(lengths, shuffled)
    assert got <= base / 2, (
        f"{name}: {got} padding positions, shuffled batches need {base}; expected at most {base // 2}. "
        "Hint: sort (a large random pool of) the indices by length before cutting it into batches")
    maxima = [max(lengths[i] for i in b) for b in batches]
    assert maxima != sorted(maxima), (
        f"{name}: the batches come shortest first, every epoch the same. Hint: shuffle the order "
        "of the batches with random.Random(seed)")
    other = [list(b) for b in fn(lengths, 32, 1)]
    assert other != batches, (
        f"{name}: seed 0 and seed 1 give the same batches in the same order. Hint: shuffle the "
        "indices before bucketing, and the order of the batches, with random.Random(seed)")
    print(f"✓ {name}: every index once, batches of <= 32, {got} padding positions instead of {base}, "
          "order depends on the seed")


def check_mean_pool(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Exercise 3: ``fn(hidden, attention_mask)`` is the mean over the real tokens only.

    ``hidden`` is ``(B, T, D)`` float, ``attention_mask`` ``(B, T)`` int64 with 1 at real
    tokens; the answer is ``(B, D)``: for each row, the mean of ``hidden[b, t]`` over the
    positions ``t`` where the mask is 1. The padding positions hold large values here, so
    an answer that lets them in is far off.

    Raises:
        AssertionError: the shape or the values are wrong (the message says how).
    """
    name = _name(fn)
    g = torch.Generator().manual_seed(21)
    hidden = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]])
    hidden[mask == 0] = 100.0  # what padding positions hold does not matter, if they are left out
    want = torch.stack([hidden[b, mask[b] == 1].mean(0) for b in range(3)])
    got = fn(hidden, mask)
    assert isinstance(got, Tensor) and tuple(got.shape) == (3, 4), (
        f"{name} returned shape {tuple(getattr(got, 'shape', ()))}, expected (3, 4): one vector per sentence")
    if torch.allclose(got, hidden.mean(1), atol=1e-5):
        raise AssertionError(f"{name} is the plain mean over all positions: the padding positions were "
                             "averaged in. Hint: multiply by the mask and divide by the number of "
                             "real tokens")
    if torch.allclose(got, (hidden * mask.unsqueeze(-1)).mean(1), atol=1e-5):
        raise AssertionError(f"{name} divides by the padded length T; divide by mask.sum(1), the number "
                             "of real tokens of each sentence")
    assert torch.allclose(got, want, atol=1e-5), (
        f"{name} gave {got[1].tolist()} for a sentence of 2 tokens, expected {want[1].tolist()}")
    print(f"✓ {name}: the mean over the real tokens, whatever the padding holds")
