"""Three text classifiers trained from scratch in Lecture 21, and the loop that trains them.

* :class:`BagOfEmbeddings`: the mean of the token embeddings (``nn.EmbeddingBag``), then a
  linear layer: word order is ignored, the bag-of-words baseline.
* :class:`LSTMClassifier`: embeddings read by an LSTM over a packed batch
  (``pack_padded_sequence``), so the padding is never read; the last hidden state of each
  sequence is classified.
* :class:`TransformerClassifier`: embeddings plus learned positions, a small
  ``nn.TransformerEncoder`` with a key-padding mask, and a masked mean over positions.

All three take ``(ids (B, T), lengths (B,))`` with padding id 0 and return logits ``(B, 2)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

__all__ = [
    "BagOfEmbeddings",
    "LSTMClassifier",
    "TransformerClassifier",
    "accuracy",
    "count_trainable",
    "padding_mask",
    "train_classifier",
]


def padding_mask(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """``(B, T)`` boolean mask, True at the real tokens and False at the padding.

    Args:
        lengths: the length of each sequence, ``(B,)``.
        max_len: the padded length ``T`` (default: the longest).
    """
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class BagOfEmbeddings(nn.Module):
    """Mean of the token embeddings, then a linear layer (a bag of words: order is ignored)."""

    def __init__(self, vocab_size: int, dim: int = 64, num_classes: int = 2):
        super().__init__()
        self.bag = nn.EmbeddingBag(vocab_size, dim, mode="mean", padding_idx=0)
        self.out = nn.Linear(dim, num_classes)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:  # noqa: D102
        return self.out(self.bag(ids))  # padding_idx=0: pad positions are left out of the mean


class LSTMClassifier(nn.Module):
    """Embedding, a one-layer LSTM over the packed batch, a linear layer on its last hidden state."""

    def __init__(self, vocab_size: int, dim: int = 64, hidden: int = 64, num_classes: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:  # noqa: D102
        packed = pack_padded_sequence(self.embed(ids), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)  # sorts, and unsorts h_n for us
        _, (h_n, _) = self.lstm(packed)  # h_n: (layers, B, hidden), at each sequence's own end
        return self.out(h_n[-1])


class TransformerClassifier(nn.Module):
    """Token + learned position embeddings, a Transformer encoder, a masked mean, a linear layer."""

    def __init__(self, vocab_size: int, dim: int = 64, heads: int = 4, layers: int = 2,
                 max_len: int = 128, num_classes: int = 2, dropout: float = 0.1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.pos = nn.Embedding(max_len, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Linear(dim, num_classes)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:  # noqa: D102
        if ids.shape[1] > self.pos.num_embeddings:
            raise ValueError(f"sequences of {ids.shape[1]} tokens, but the model has "
                             f"{self.pos.num_embeddings} positions (max_len)")
        real = padding_mask(lengths.to(ids.device), ids.shape[1])  # (B, T), True = token
        x = self.embed(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        h = self.encoder(x, src_key_padding_mask=~real)  # True in this mask = ignore
        m = real.unsqueeze(-1).to(h.dtype)
        return self.out((h * m).sum(1) / m.sum(1))  # mean over the real tokens only


def count_trainable(model: nn.Module) -> int:
    """Number of parameters with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def accuracy(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor, Tensor]],
             device: torch.device | str = "cpu") -> float:
    """Fraction of correct predictions over ``(ids, lengths, labels)`` batches (eval mode)."""
    model.eval()
    right = total = 0
    for ids, lengths, labels in batches:
        pred = model(ids.to(device), lengths).argmax(-1).cpu()
        right += int((pred == labels).sum())
        total += len(labels)
    return right / total


def train_classifier(model: nn.Module, batches: Sequence | Iterable, epochs: int = 1, lr: float = 1e-3,
                     device: torch.device | str = "cpu", weight_decay: float = 0.0,
                     set_epoch: Callable[[int], object] | None = None) -> dict:
    """Train with AdamW and cross-entropy; return the loss after each epoch and the time taken.

    Args:
        model: takes ``(ids, lengths)`` and returns logits.
        batches: re-iterable ``(ids, lengths, labels)`` batches (e.g. a ``DataLoader``).
        epochs: passes over ``batches``.
        lr: AdamW's learning rate.
        device: where the model is.
        weight_decay: AdamW's weight decay.
        set_epoch: called with the epoch number before each epoch (e.g. a sampler's ``set_epoch``).

    Returns:
        ``{"losses": [mean loss per epoch], "seconds": training time}``.
    """
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                            weight_decay=weight_decay)
    losses = []
    start = time.perf_counter()
    for epoch in range(epochs):
        if set_epoch is not None:
            set_epoch(epoch)
        model.train()
        total = count = 0
        for ids, lengths, labels in batches:
            loss = F.cross_entropy(model(ids.to(device), lengths), labels.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(labels)
            count += len(labels)
        losses.append(total / count)
    return {"losses": losses, "seconds": time.perf_counter() - start}
