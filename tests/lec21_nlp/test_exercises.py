"""Each self-check passes a right answer and rejects wrong ones with a helpful message."""

import random

import pytest
import torch

from tutorials.lec21_nlp import exercises as ex
from tutorials.lec21_nlp.batching import BucketBatchSampler
from tutorials.lec21_nlp.hf_encoder import mean_pool
from tutorials.lec21_nlp.text_models import padding_mask


def test_attention_mask_right(capsys):
    ex.check_attention_mask(lambda lengths, max_len=None: padding_mask(lengths, max_len).long())
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda lengths, max_len=None: (~padding_mask(lengths, max_len)).long(), "is inverted"),
    (lambda lengths, max_len=None: padding_mask(lengths, max_len), "add .long()"),
    (lambda lengths, max_len=None: (torch.arange(int(lengths.max()) if max_len is None else max_len)[None]
                                    <= lengths[:, None]).long(), "strictly less"),
    (lambda lengths, max_len=None: padding_mask(lengths).long(), "has shape"),
])
def test_attention_mask_wrong(answer, hint):
    with pytest.raises(AssertionError, match=hint):
        ex.check_attention_mask(answer)


def test_bucket_batches_right(capsys):
    ex.check_bucket_batches(lambda lengths, batch_size, seed: list(BucketBatchSampler(lengths, batch_size,
                                                                                      seed=seed)))
    assert "✓" in capsys.readouterr().out


def _shuffled(lengths, batch_size, seed):
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _sorted(lengths, batch_size, seed):
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _unseeded(lengths, batch_size, seed):
    batches = _sorted(lengths, batch_size, seed)
    random.Random(0).shuffle(batches)
    return batches


@pytest.mark.parametrize(("answer", "hint"), [
    (_shuffled, "Hint: sort"),
    (_sorted, "shortest first"),
    (_unseeded, "seed 0 and seed 1 give the same batches"),
    (lambda lengths, b, seed: _sorted(lengths, 2 * b, seed), "batches of"),
    (lambda lengths, b, seed: _unseeded(lengths, b, seed)[1:], "exactly once"),
])
def test_bucket_batches_wrong(answer, hint):
    with pytest.raises(AssertionError, match=hint):
        ex.check_bucket_batches(answer)


def test_mean_pool_right(capsys):
    ex.check_mean_pool(mean_pool)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda h, m: h.mean(1), "padding positions were averaged in"),
    (lambda h, m: (h * m.unsqueeze(-1)).mean(1), "divide by mask.sum"),
    (lambda h, m: mean_pool(h, m)[:, :2], "expected \\(3, 4\\)"),
    (lambda h, m: h[:, 0], "for a sentence of 2 tokens"),
])
def test_mean_pool_wrong(answer, hint):
    with pytest.raises(AssertionError, match=hint):
        ex.check_mean_pool(answer)
