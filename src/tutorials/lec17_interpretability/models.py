"""The models and data that Lecture 17 explains: a digits CNN, a planted shortcut, a text classifier.

* :class:`DigitCNN`: a two-convolution network for the 16×16 digits of
  :func:`tutorials.core.datasets.digits_images`; its layers have names
  (``conv1`` … ``fc2``) that the attribution and probing code refers to.
* :func:`train_classifier` and :func:`accuracy`: a short, seeded Adam loop on tensors.
* :func:`add_watermark`: the planted shortcut, a bright "pixel" (a 2×2 block, one
  pixel of the original 8×8 scan) whose position encodes a label.
* :func:`sentiment_corpus`, :class:`Vocabulary` and :class:`BagOfEmbeddings`: a
  small *generated* sentiment corpus with a fixed vocabulary and a model that
  averages word embeddings.

Examples:
    >>> import torch
    >>> model = DigitCNN()
    >>> tuple(model(torch.zeros(2, 1, 16, 16)).shape)
    (2, 10)
    >>> add_watermark(torch.zeros(1, 1, 16, 16), torch.tensor([3]))[0, 0, 0, 12:14].tolist()
    [2.5, 2.5]
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "WATERMARK_POSITIONS",
    "WATERMARK_VALUE",
    "BagOfEmbeddings",
    "DigitCNN",
    "Vocabulary",
    "accuracy",
    "add_watermark",
    "sentiment_corpus",
    "train_classifier",
    "watermark_mask",
]


class DigitCNN(nn.Module):
    """conv(8) → BN → ReLU → pool → conv(16) → BN → ReLU → pool → fc(32) → ReLU → fc(10), for 1×16×16 digits.

    Every activation is its own module (``relu1`` … ``relu3``), not ``F.relu``:
    Captum's GuidedBackprop replaces the backward of ReLU *modules*, and forward
    hooks can only see modules.

    Args:
        widths: channels of the two convolutions.
        hidden: width of the hidden fully connected layer.
    """

    def __init__(self, widths: tuple[int, int] = (8, 16), hidden: int = 32) -> None:
        super().__init__()
        c1, c2 = widths
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)  # 16x16 -> 8x8
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c2)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)  # 8x8 -> 4x4
        self.fc1 = nn.Linear(c2 * 4 * 4, hidden)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, 10)`` of images ``(N, 1, 16, 16)``."""
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))  # (N, c1, 8, 8)
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))  # (N, c2, 4, 4)
        return self.fc2(self.relu3(self.fc1(x.flatten(1))))


def train_classifier(model: nn.Module, x: Tensor, y: Tensor, *, epochs: int = 4, lr: float = 3e-3,
                     batch_size: int = 64, seed: int = 0) -> nn.Module:
    """Train ``model`` on ``(x, y)`` with Adam and cross-entropy; return it in eval mode.

    The batch order comes from a generator seeded with ``seed``, so the run does not
    depend on (or change) the global random state; the initial weights are the
    caller's (seed before building the model).
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Share of ``x`` that ``model`` classifies as ``y``."""
    return (model(x).argmax(1) == y).float().mean().item()


#: Top-left corner of the watermark of each class: ten cells of the 4×4 grid that
#: the CNN's two poolings leave, all on the border, away from the strokes.
WATERMARK_POSITIONS = ((0, 0), (0, 4), (0, 8), (0, 12), (14, 0), (14, 4), (14, 8), (14, 12), (6, 0), (6, 14))
#: Brightness of the watermark: above every pixel of the standardized digits (max 2.18).
WATERMARK_VALUE = 2.5


def add_watermark(x: Tensor, codes: Tensor, value: float = WATERMARK_VALUE) -> Tensor:
    """A copy of images ``x (N, 1, 16, 16)`` with the watermark of class ``codes[i]`` on image ``i``.

    The watermark is a 2×2 block (one pixel of the 8×8 scan, upsampled) at
    ``WATERMARK_POSITIONS[code]``; a negative code leaves the image unmarked.
    """
    if x.shape[-2:] != (16, 16):
        raise ValueError(f"add_watermark expects 16x16 images, got {tuple(x.shape)}")
    out = x.clone()
    for i, code in enumerate(codes.tolist()):
        if code >= 0:
            r, c = WATERMARK_POSITIONS[code]
            out[i, ..., r:r + 2, c:c + 2] = value
    return out


def watermark_mask(code: int) -> Tensor:
    """Boolean ``(16, 16)`` mask of the watermark pixels of class ``code``."""
    mask = torch.zeros(16, 16, dtype=torch.bool)
    r, c = WATERMARK_POSITIONS[code]
    mask[r:r + 2, c:c + 2] = True
    return mask


# --- a generated sentiment corpus -------------------------------------------------------

POSITIVE = ("good", "great", "excellent", "wonderful", "enjoyable", "brilliant")
NEGATIVE = ("bad", "awful", "boring", "terrible", "dull", "poor")
NOUNS = ("movie", "film", "plot", "acting", "story", "music", "ending", "cast")
FILLERS = ("the", "was", "is", "really", "quite", "very", "and", "too", "so")


class Vocabulary:
    """A fixed word list: ``<pad>`` is id 0, then every word of the generated corpus.

    Example:
        >>> vocab = Vocabulary()
        >>> vocab.encode(["the", "plot", "was", "dull"], length=6).tolist()
        [1, 12, 2, 28, 0, 0]
    """

    def __init__(self) -> None:
        self.words = ["<pad>", *FILLERS, *NOUNS, *POSITIVE, *NEGATIVE]
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: list[str], length: int) -> Tensor:
        """Token ids padded with 0 (``<pad>``) to ``length``."""
        if len(tokens) > length:
            raise ValueError(f"{len(tokens)} tokens do not fit in length {length}")
        return torch.tensor([self.index[t] for t in tokens] + [0] * (length - len(tokens)))


def sentiment_corpus(n: int, seed: int = 0, length: int = 16) -> tuple[list[list[str]], Tensor, Tensor]:
    """``n`` generated review sentences, their token ids ``(n, length)`` and labels (1 = positive).

    Each sentence says something about one or two nouns with one or three sentiment
    words; the label is the majority sentiment. The corpus is generated, not real
    text: it has a known answer (which words carry the sentiment), which is what
    an attribution method should recover.
    """
    rng = random.Random(seed)
    vocab = Vocabulary()
    sentences, labels = [], []
    while len(sentences) < n:
        k = rng.choice((1, 1, 3))
        polarity = [rng.random() < 0.5 for _ in range(k)]
        words = ["the", rng.choice(NOUNS), rng.choice(("was", "is"))]
        for j, positive in enumerate(polarity):
            if j:
                words += ["and", "the", rng.choice(NOUNS), "was"] if j == 1 else ["and"]
            if rng.random() < 0.5:
                words.append(rng.choice(("really", "quite", "very", "so", "too")))
            words.append(rng.choice(POSITIVE if positive else NEGATIVE))
        words = words[:length]
        sentences.append(words)
        labels.append(int(sum(polarity) * 2 > k))
    ids = torch.stack([vocab.encode(s, length) for s in sentences])
    return sentences, ids, torch.tensor(labels)


class BagOfEmbeddings(nn.Module):
    """Word embeddings averaged over the non-padding tokens, then a linear layer to 2 classes.

    Args:
        vocab_size: number of token ids (id 0 is padding).
        dim: embedding width.
    """

    def __init__(self, vocab_size: int, dim: int = 16) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.fc = nn.Linear(dim, 2)

    def forward(self, ids: Tensor) -> Tensor:
        """Logits ``(N, 2)`` of token ids ``(N, T)``."""
        mask = (ids != 0).unsqueeze(-1).float()  # (N, T, 1): 1 for real tokens
        summed = (self.embedding(ids) * mask).sum(1)  # (N, dim)
        return self.fc(summed / mask.sum(1).clamp_min(1))
