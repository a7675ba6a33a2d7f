"""The chapter's two models: a small CNN for the 8×8 digits and a tiny Transformer encoder.

The CNN is what the page exports, serves and benchmarks (and the lab too); the
Transformer is the case study of an export with a dynamic sequence length.

Example:
    >>> model, acc = train_digits_cnn(epochs=1, seed=0)
    >>> model.training, 0.0 < acc <= 1.0
    (False, True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tutorials.core.datasets import digits_split

__all__ = ["DigitsCNN", "TinyTransformer", "digits_tensors", "train_digits_cnn"]


class DigitsCNN(nn.Module):
    """Two 3×3 convolutions, a 2×2 average pool and a linear classifier: ``(N, 1, 8, 8) -> (N, 10)``.

    Args:
        width: channels of the first convolution (the second has twice as many).
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),  # (N, 2*width * 2 * 2): keeps where strokes are
        )
        self.classifier = nn.Linear(2 * width * 4, 10)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the ten digits for a batch of images."""
        return self.classifier(self.features(x))


class TinyTransformer(nn.Module):
    """A two-layer Transformer encoder over token ids, with learned positions: ``(B, T) -> (B, T, vocab)``.

    Args:
        vocab: number of token ids.
        d_model: width of the embeddings.
        heads: attention heads.
        layers: encoder layers.
        max_len: the longest sequence the position table holds.
    """

    def __init__(self, vocab: int = 32, d_model: int = 32, heads: int = 4, layers: int = 2,
                 max_len: int = 64) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, d_model)
        self.positions = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model, dropout=0.0,
                                           batch_first=True)
        # enable_nested_tensor=False: the nested-tensor fast path is an eager-only detour
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, tokens: Tensor) -> Tensor:
        """Per-token logits for a batch of token-id sequences."""
        pos = torch.arange(tokens.shape[1], device=tokens.device)  # (T,): follows the dynamic length
        return self.head(self.encoder(self.tokens(tokens) + self.positions(pos)))


def digits_tensors(seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The digits as images: ``(x_train, y_train, x_val, y_val)``, ``(N, 1, 8, 8)`` pixels in [0, 1].

    Args:
        seed: seed of the 80/20 split (:func:`tutorials.core.datasets.digits_split`).
    """
    x_train, y_train, x_val, y_val = digits_split(seed=seed)
    return x_train.reshape(-1, 1, 8, 8), y_train, x_val.reshape(-1, 1, 8, 8), y_val


def train_digits_cnn(epochs: int = 3, seed: int = 0, width: int = 16, batch_size: int = 32,
                     lr: float = 1e-2, threads: int = 1) -> tuple[DigitsCNN, float]:
    """Train :class:`DigitsCNN` on the digits with Adam; return it in eval mode and its validation accuracy.

    Args:
        epochs: passes over the 1,438 training images.
        seed: seeds the weights and the batch order.
        width: the CNN's first width.
        batch_size: images per step.
        lr: Adam's learning rate.
        threads: PyTorch threads while training (restored afterwards). Batches of 32
            8×8 images are far too small to split: a second thread only adds
            synchronization, and on a busy machine it makes each step many times slower.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _train(epochs, seed, width, batch_size, lr)
    finally:
        torch.set_num_threads(previous)


def _train(epochs: int, seed: int, width: int, batch_size: int, lr: float) -> tuple[DigitsCNN, float]:
    x_train, y_train, x_val, y_val = digits_tensors(seed=0)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = DigitsCNN(width)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(x_train), generator=gen)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.inference_mode():
        acc = (model(x_val).argmax(1) == y_val).float().mean().item()
    return model, acc
