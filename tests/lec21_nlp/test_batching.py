"""Tokenizer training, padding and the length-bucketing sampler."""

import pytest
import torch
from torch.utils.data import DataLoader

from tutorials.lec21_nlp.batching import (
    BucketBatchSampler,
    collate_padded,
    encode_texts,
    padding_fraction,
    random_batches,
    train_bpe,
)

TEXTS = ["a good film", "a bad film", "good acting, bad plot", "the film is good"] * 5


def test_bpe_special_tokens_template_and_round_trip():
    tok = train_bpe(TEXTS, vocab_size=60, min_frequency=1)
    assert [tok.token_to_id(t) for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]] == [0, 1, 2, 3, 4]
    enc = tok.encode("A good film")
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
    assert tok.decode(enc.ids) == "a good film"
    assert "[UNK]" in tok.encode("good ☃").tokens


def test_encode_texts_cuts_but_keeps_sep():
    tok = train_bpe(TEXTS, vocab_size=60, min_frequency=1)
    ids = encode_texts(tok, ["good acting, bad plot"], max_length=4)[0]
    assert len(ids) == 4 and ids[0] == 2 and ids[-1] == 3


def test_collate_pads_with_lengths_and_labels():
    ids, lengths, labels = collate_padded([(torch.tensor([5, 6, 7]), 1), (torch.tensor([8]), 0)])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1] and labels.tolist() == [1, 0]


def test_bucket_sampler_covers_everything_and_saves_padding():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 50, (500,), generator=g).tolist()
    sampler = BucketBatchSampler(lengths, batch_size=16, pool=10, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 32
    assert sorted(i for b in batches for i in b) == list(range(500))
    bucketed, _ = padding_fraction(lengths, batches)
    shuffled, _ = padding_fraction(lengths, random_batches(500, 16))
    assert bucketed * 5 < shuffled
    sampler.set_epoch(1)
    assert list(sampler) != batches, "a new epoch gives new batches"
    loader = DataLoader([(torch.ones(n, dtype=torch.long), 0) for n in lengths],
                        batch_sampler=sampler, collate_fn=collate_padded)
    assert sum(len(b[2]) for b in loader) == 500


def test_padding_fraction_counts_exactly():
    assert padding_fraction([1, 3, 2, 2], [[0, 1], [2, 3]]) == (2, 10)


def test_bad_sampler_arguments():
    with pytest.raises(ValueError, match="batch_size and pool must be positive, got 0 and 50"):
        BucketBatchSampler([1, 2], 0)
