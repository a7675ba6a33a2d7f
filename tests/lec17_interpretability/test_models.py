"""The chapter's models and data: shapes, the watermark, the generated corpus, the training loop."""

import pytest
import torch

from tutorials.lec17_interpretability.models import (
    WATERMARK_POSITIONS,
    BagOfEmbeddings,
    DigitCNN,
    Vocabulary,
    accuracy,
    add_watermark,
    sentiment_corpus,
    train_classifier,
    watermark_mask,
)


def test_digit_cnn_shapes_and_named_relus():
    model = DigitCNN()
    assert tuple(model(torch.zeros(3, 1, 16, 16)).shape) == (3, 10)
    names = dict(model.named_modules())
    assert all(isinstance(names[f"relu{i}"], torch.nn.ReLU) for i in (1, 2, 3))


def test_watermark_positions_are_distinct_cells_on_the_border():
    cells = {(r // 4, c // 4) for r, c in WATERMARK_POSITIONS}
    assert len(cells) == 10  # distinct after the CNN's two 2x2 poolings
    for r, c in WATERMARK_POSITIONS:
        assert r in (0, 14) or c in (0, 14)


def test_add_watermark_marks_one_block_and_copies():
    x = torch.zeros(3, 1, 16, 16)
    out = add_watermark(x, torch.tensor([0, 9, -1]))
    assert x.abs().sum() == 0, "the input is not modified"
    assert out[0, 0][watermark_mask(0)].eq(2.5).all() and out[0, 0].ne(0).sum() == 4
    assert out[1, 0][watermark_mask(9)].eq(2.5).all()
    assert out[2].abs().sum() == 0, "a negative code leaves the image unmarked"
    with pytest.raises(ValueError, match="16x16"):
        add_watermark(torch.zeros(1, 1, 8, 8), torch.tensor([0]))


def test_corpus_is_deterministic_and_labelled_by_majority():
    s1, ids1, y1 = sentiment_corpus(50, seed=3)
    s2, ids2, y2 = sentiment_corpus(50, seed=3)
    assert s1 == s2 and torch.equal(ids1, ids2) and torch.equal(y1, y2)
    from tutorials.lec17_interpretability.models import NEGATIVE, POSITIVE

    for words, label in zip(s1, y1.tolist(), strict=True):
        pos = sum(w in POSITIVE for w in words)
        neg = sum(w in NEGATIVE for w in words)
        assert (pos + neg) % 2 == 1 and label == int(pos > neg)
    assert ids1.shape == (50, 16) and ids1.max() < len(Vocabulary())


def test_vocabulary_pads_and_refuses_overflow():
    vocab = Vocabulary()
    assert vocab.encode(["the"], 3).tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match="do not fit"):
        vocab.encode(["the"] * 4, 3)


def test_bag_of_embeddings_ignores_padding():
    torch.manual_seed(0)
    model = BagOfEmbeddings(30)
    short = torch.tensor([[1, 12, 0, 0]])
    longer = torch.tensor([[1, 12, 0, 0, 0, 0]])
    assert torch.allclose(model(short), model(longer))


def test_train_classifier_learns_and_leaves_global_rng_alone():
    torch.manual_seed(0)
    x = torch.randn(200, 4)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Linear(4, 2)
    state = torch.get_rng_state()
    train_classifier(model, x, y, epochs=20, lr=0.05)
    assert torch.equal(state, torch.get_rng_state())
    assert accuracy(model, x, y) > 0.95 and not model.training
