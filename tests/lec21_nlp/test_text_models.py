"""The three classifiers: shapes, padding independence, training and scoring."""

import pytest
import torch

from tutorials.lec21_nlp.text_models import (
    BagOfEmbeddings,
    LSTMClassifier,
    TransformerClassifier,
    accuracy,
    count_trainable,
    padding_mask,
    train_classifier,
)


def test_padding_mask():
    assert padding_mask(torch.tensor([2, 0, 3])).tolist() == [
        [True, True, False], [False, False, False], [True, True, True]]
    assert padding_mask(torch.tensor([1]), 3).tolist() == [[True, False, False]]


@pytest.mark.parametrize("cls", [BagOfEmbeddings, LSTMClassifier, TransformerClassifier])
def test_extra_padding_changes_nothing(cls):
    torch.manual_seed(0)
    model = cls(50, dim=8) if cls is not LSTMClassifier else cls(50, dim=8, hidden=8)
    model.eval()
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    lengths = torch.tensor([3, 2])
    more = torch.cat([ids, torch.zeros(2, 3, dtype=torch.long)], 1)
    with torch.no_grad():
        assert model(ids, lengths).shape == (2, 2)
        assert torch.allclose(model(ids, lengths), model(more, lengths), atol=1e-5)


def test_transformer_refuses_sequences_longer_than_its_positions():
    with pytest.raises(ValueError, match="sequences of 9 tokens, but the model has 8 positions"):
        TransformerClassifier(20, dim=8, max_len=8)(torch.ones(1, 9, dtype=torch.long), torch.tensor([9]))


def test_training_learns_a_separable_toy_task():
    torch.manual_seed(0)
    # token 1 in a sentence means label 1, token 2 label 0
    batches = []
    for _ in range(10):
        labels = torch.randint(0, 2, (16,))
        ids = torch.where(labels[:, None] == 1, torch.tensor([1, 3, 4]), torch.tensor([2, 3, 4]))
        batches.append((ids, torch.full((16,), 3), labels))
    model = BagOfEmbeddings(5, dim=8)
    fit = train_classifier(model, batches, epochs=3, lr=0.05)
    assert fit["losses"][-1] < fit["losses"][0] and fit["seconds"] > 0
    assert accuracy(model, batches) == 1.0
    model.bag.requires_grad_(False)
    assert count_trainable(model) == 8 * 2 + 2
