"""Mean pooling, the offline switch and the classifier head (with a stand-in encoder: no download)."""

import os
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from tutorials.lec21_nlp import hf_encoder


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [99.0, 99.0]]])
    assert hf_encoder.mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]
    with pytest.raises(ValueError, match=r"hidden states \(1, 3, 2\) and attention mask \(1, 2\) disagree"):
        hf_encoder.mean_pool(hidden, torch.ones(1, 2))


def test_offline_hub_sets_and_restores(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    with hf_encoder.offline_hub():
        assert os.environ["HF_HUB_OFFLINE"] == os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["TRANSFORMERS_OFFLINE"] == "0"


def test_load_minilm_names_a_folder_without_model(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no config.json in model folder '{tmp_path}'"):
        hf_encoder.load_minilm(tmp_path)


class _Encoder(nn.Module):
    """Stands in for a BertModel: an embedding, and the same output fields."""

    def __init__(self):
        super().__init__()
        self.config = SimpleNamespace(hidden_size=4)
        self.embed = nn.Embedding(10, 4)

    def forward(self, input_ids, attention_mask):
        return SimpleNamespace(last_hidden_state=self.embed(input_ids))


def test_encoder_classifier_frozen_and_fine_tuned():
    torch.manual_seed(0)
    frozen = hf_encoder.EncoderClassifier(_Encoder(), freeze=True)
    assert sum(p.numel() for p in frozen.parameters() if p.requires_grad) == 4 * 2 + 2
    tuned = hf_encoder.EncoderClassifier(_Encoder(), num_classes=3)
    assert sum(p.numel() for p in tuned.parameters() if p.requires_grad) == 40 + 4 * 3 + 3
    ids, mask = torch.tensor([[1, 2, 0]]), torch.tensor([[1, 1, 0]])
    assert tuned(ids, mask).shape == (1, 3)


def test_embed_texts_keeps_the_order():
    class Tok:
        def __call__(self, texts, **kw):
            n = max(len(t) for t in texts)
            ids = torch.tensor([[len(t)] * len(t) + [0] * (n - len(t)) for t in texts])
            return _Batch(input_ids=ids, attention_mask=(ids != 0).long())

    class _Batch(dict):
        def to(self, device):
            return self

    enc = _Encoder()
    out = hf_encoder.embed_texts(Tok(), enc, ["abc", "a", "ab"], batch_size=2)
    assert torch.allclose(out, enc.embed(torch.tensor([3, 1, 2])), atol=1e-6)
