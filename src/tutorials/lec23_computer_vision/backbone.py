"""The course's own pretrained backbone: a small CNN pretrained on digits 0–4.

Torchvision's ImageNet weights cannot be downloaded on the machines this course is
tested on, so the transfer-learning part of Lecture 23 pretrains a backbone itself
and loads it the way a reader online loads ``weights=ResNet18_Weights.IMAGENET1K_V1``:
a checkpoint file read with ``torch.load(weights_only=True)`` and
``load_state_dict``.

* :func:`digits_images` — scikit-learn's 1,797 real 8×8 digit scans as
  ``(N, 1, size, size)`` float images (bilinear upsampling, fixed normalisation);
* :func:`split_digits` — train/val/test ``TensorDataset`` s of a subset of the
  classes, labels remapped to ``0..k-1``;
* :class:`SmallCNN` — conv-BN-ReLU-pool stages (``features``) and a linear ``head``;
* :func:`pretrain_backbone` / :func:`load_backbone` — pretrain on
  :data:`PRETRAIN_CLASSES` and save; load the checkpoint back.

The transfer task of the course is :data:`TRANSFER_CLASSES` (digits 5–9), which the
backbone never saw.

Examples:
    >>> images, labels = digits_images(size=16)
    >>> tuple(images.shape), labels[:5].tolist()
    ((1797, 1, 16, 16), [0, 1, 2, 3, 4])
    >>> train, val, test = split_digits(TRANSFER_CLASSES, seed=0, size=16)
    >>> len(train) + len(val) + len(test), sorted(set(train.tensors[1].tolist()))
    (896, [0, 1, 2, 3, 4])
    >>> SmallCNN(num_classes=5).feature_dim
    64
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tutorials.core.datasets import digits_arrays

__all__ = [
    "DIGITS_MEAN",
    "DIGITS_STD",
    "PRETRAIN_CLASSES",
    "TRANSFER_CLASSES",
    "SmallCNN",
    "digits_images",
    "evaluate",
    "load_backbone",
    "pretrain_backbone",
    "split_digits",
]

PRETRAIN_CLASSES: tuple[int, ...] = (0, 1, 2, 3, 4)
"""The digits the course backbone is pretrained on."""
TRANSFER_CLASSES: tuple[int, ...] = (5, 6, 7, 8, 9)
"""The transfer task: digits the backbone never saw in pretraining."""
DIGITS_MEAN = 0.30
"""Fixed normalisation constants (pixels in [0, 1]), close to the digits' statistics.

Fixed rather than measured so no split leaks into another and every split is
normalised the same way, like ImageNet's published mean and std."""
DIGITS_STD = 0.40


def digits_images(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """All scikit-learn digits as ``(N, 1, size, size)`` normalised float images and labels.

    Args:
        size: output height and width (≥ 8); the 8×8 scans are upsampled bilinearly.

    Returns:
        ``(images, labels)``: float32 ``(1797, 1, size, size)`` with pixels
        ``(p / 16 - DIGITS_MEAN) / DIGITS_STD`` and int64 labels in 0–9.

    Raises:
        ValueError: ``size`` is below 8.
    """
    if size < 8:
        raise ValueError(f"size must be at least 8 (the digits are 8×8), got {size}")
    pixels, target = digits_arrays()
    images = torch.tensor(pixels, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    labels = torch.tensor(target, dtype=torch.int64)
    return (images - DIGITS_MEAN) / DIGITS_STD, labels


def split_digits(classes: Sequence[int] = TRANSFER_CLASSES, seed: int = 0, val_fraction: float = 0.2,
                 test_fraction: float = 0.2, size: int = 32
                 ) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    """Train/val/test splits of the digits of ``classes``, labels remapped to ``0..k-1``.

    The split is a seeded permutation of the chosen images (its own generator, so the
    global random state is neither used nor changed). ``classes[i]`` becomes label ``i``.

    Args:
        classes: the digits to keep, distinct, each in 0–9 (at least two).
        seed: seed of the permutation.
        val_fraction: share of the images in the validation split.
        test_fraction: share of the images in the test split.
        size: image height and width, as in :func:`digits_images`.

    Returns:
        ``(train, val, test)`` TensorDatasets of ``(image, label)``.

    Raises:
        ValueError: bad classes or fractions.
    """
    classes = [int(c) for c in classes]
    if len(classes) < 2 or len(set(classes)) != len(classes) or not all(0 <= c <= 9 for c in classes):
        raise ValueError(f"classes must be at least two distinct digits in 0-9, got {classes}")
    if not (0.0 < val_fraction < 1.0 and 0.0 < test_fraction < 1.0 and val_fraction + test_fraction < 1.0):
        raise ValueError(f"val_fraction={val_fraction} and test_fraction={test_fraction} must be in (0, 1) "
                         "and leave some training data")
    images, labels = digits_images(size)
    keep = torch.isin(labels, torch.tensor(classes))
    images, labels = images[keep], labels[keep]
    remap = torch.full((10,), -1, dtype=torch.int64)
    remap[torch.tensor(classes)] = torch.arange(len(classes))
    labels = remap[labels]
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_val, n_test = round(len(order) * val_fraction), round(len(order) * test_fraction)
    val_idx, test_idx, train_idx = order[:n_val], order[n_val:n_val + n_test], order[n_val + n_test:]
    return tuple(TensorDataset(images[i], labels[i]) for i in (train_idx, val_idx, test_idx))


class SmallCNN(nn.Module):
    """A small VGG-style CNN: ``features`` (conv-BN-ReLU-pool stages, global pooling) + ``head``.

    ``features`` maps ``(N, in_channels, H, W)`` to ``(N, feature_dim)``; ``head`` is one
    ``nn.Linear(feature_dim, num_classes)`` — the part transfer learning replaces.

    Args:
        num_classes: outputs of the head.
        in_channels: input channels (1 for the digits).
        widths: output channels of each stage; each stage halves H and W.
    """

    def __init__(self, num_classes: int = 5, in_channels: int = 1, widths: Sequence[int] = (16, 32, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.feature_dim = channels
        self.arch = {"num_classes": num_classes, "in_channels": in_channels, "widths": list(widths)}
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` of images ``(N, in_channels, H, W)``."""
        return self.head(self.features(x))


@torch.no_grad()
def evaluate(model: nn.Module, dataset: TensorDataset, device: str | torch.device = "cpu",
             batch_size: int = 256) -> float:
    """Accuracy of ``model`` on ``dataset`` in eval mode (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    correct = 0
    for x, y in DataLoader(dataset, batch_size=batch_size):
        correct += (model(x.to(device)).argmax(1).cpu() == y).sum().item()
    model.train(was_training)
    return correct / max(len(dataset), 1)


def pretrain_backbone(path: str | Path, *, classes: Sequence[int] = PRETRAIN_CLASSES, epochs: int = 3,
                      seed: int = 0, device: str | torch.device = "cpu", size: int = 32,
                      batch_size: int = 32, lr: float = 3e-3, widths: Sequence[int] = (16, 32, 64)) -> dict:
    """Pretrain a :class:`SmallCNN` on the digits of ``classes`` and save its checkpoint.

    The checkpoint is ``{"model": state_dict, "classes": [...], "arch": {...}}`` written
    with ``torch.save`` (tensors, lists, ints and strings only, so
    ``torch.load(weights_only=True)`` reads it).

    Args:
        path: the checkpoint file to write (its folder is created).
        classes: the digits to pretrain on.
        epochs: passes over the training split (AdamW, seeded shuffling).
        seed: seed of the weights, the split and the shuffling.
        device: where to train.
        size: image size.
        batch_size: images per step.
        lr: AdamW learning rate.
        widths: stage widths of the :class:`SmallCNN`.

    Returns:
        ``{"path": Path, "val_accuracy": float, "epochs": int, "classes": list}``.

    Raises:
        ValueError: ``epochs`` is below 1.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    path = Path(path)
    device = torch.device(device)
    train, val, _ = split_digits(classes, seed=seed, size=size)
    torch.manual_seed(seed)
    model = SmallCNN(num_classes=len(classes), widths=widths).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            loss = F.cross_entropy(model(x.to(device)), y.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"model": state, "classes": [int(c) for c in classes], "arch": dict(model.arch)}, path)
    return {"path": path, "val_accuracy": evaluate(model, val, device), "epochs": epochs,
            "classes": [int(c) for c in classes]}


def load_backbone(path: str | Path, device: str | torch.device = "cpu") -> SmallCNN:
    """Load a checkpoint written by :func:`pretrain_backbone` into a new :class:`SmallCNN`.

    Read with ``torch.load(weights_only=True)`` (no arbitrary pickles) and
    ``load_state_dict(strict=True)``. The model keeps its pretraining head; its
    ``pretrained_classes`` attribute lists the digits that head predicts.

    Args:
        path: the checkpoint file.
        device: where to put the model.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not such a checkpoint, or its weights do not fit the architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no backbone checkpoint at {path}: write one with "
                                "pretrain_backbone(path) first")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a pickle that is not a plain checkpoint, or not a torch file at all
        raise ValueError(f"{path} is not a backbone checkpoint readable with weights_only=True: "
                         f"{err}") from err
    if not isinstance(checkpoint, dict) or not {"model", "classes", "arch"} <= set(checkpoint):
        keys = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(f"{path} is not a backbone checkpoint: expected keys model, classes, arch; "
                         f"got {keys}")
    arch = checkpoint["arch"]
    model = SmallCNN(num_classes=int(arch["num_classes"]), in_channels=int(arch["in_channels"]),
                     widths=[int(w) for w in arch["widths"]])
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as err:
        raise ValueError(f"{path}: the weights do not fit SmallCNN(arch={arch}): {err}") from err
    model.pretrained_classes = [int(c) for c in checkpoint["classes"]]
    return model.to(device)
