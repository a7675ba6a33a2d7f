"""Small real image datasets as tensors, without a download.

Introduced in Lecture 5; also used by Lectures 8, 12, 13, 14, 15, 16, 17, 18, 22, 23.

:func:`digits_images` turns scikit-learn's handwritten digits (1,797 real 8×8
grayscale scans that ship with the package) into image tensors shaped like a
small colour dataset: upsampled to ``size``×``size``, repeated to 3 channels and
standardized with the training split's statistics. That is enough for a CNN built
for CIFAR-sized inputs to learn something real in seconds on a CPU.

:func:`digits_arrays` reads the scans once per process, without importing scikit-learn.

:func:`digits_split` gives the same scans as flat 64-pixel vectors in [0, 1], the
input of the small MLPs of the training chapters and labs.

:func:`cifar10_images` reads the CIFAR-10 python archive
(``cifar-10-batches-py``) through ``torchvision.datasets.CIFAR10(download=False)``
for readers who have it on disk.

Examples:
    >>> train, test = digits_images(size=16)
    >>> len(train), len(test)
    (1438, 359)
    >>> x, y = train[0]
    >>> tuple(x.shape), y.dtype
    ((3, 16, 16), torch.int64)
    >>> x_train, y_train, x_val, y_val = digits_split(seed=0)
    >>> tuple(x_train.shape), tuple(x_val.shape), float(x_train.max())
    ((1438, 64), (359, 64), 1.0)
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

__all__ = ["cifar10_images", "digits_arrays", "digits_images", "digits_split"]


@functools.cache
def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as ``(N, 64)`` float64 pixels 0-16 and ``(N,)`` int64 labels, read once per process.

    ``sklearn.datasets.load_digits`` reads them from ``sklearn/datasets/data/digits.csv.gz``
    (64 pixels and the label per row); reading that file directly skips importing
    scikit-learn (about 2 s, which the short lab runs feel). Falls back to ``load_digits``.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    csv = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" if spec else None
    if csv is not None and csv.is_file():
        data = np.loadtxt(csv, delimiter=",")
        return data[:, :-1], data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data, digits.target


def _standardize(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # per-channel statistics of the *training* images only: no test leakage
    mean = train.mean(dim=(0, 2, 3), keepdim=True)
    std = train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def digits_images(size: int = 32, channels: int = 3, test_fraction: float = 0.2,
                  seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """Scikit-learn's digits as ``(N, channels, size, size)`` float images and labels.

    Args:
        size: output height and width (≥ 8); the 8×8 scans are resized bilinearly.
        channels: 1 for grayscale, 3 to feed models built for RGB input.
        test_fraction: share of the 1,797 images held out, drawn at random.
        seed: seed of the train/test split.

    Returns:
        ``(train, test)`` TensorDatasets of ``(image, label)``; labels are int64 in 0–9.

    Raises:
        ValueError: an argument is out of range.
    """
    if size < 8:
        raise ValueError(f"size must be at least 8 (the digits are 8×8), got {size}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    pixels, target = digits_arrays()
    images = torch.tensor(pixels, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    labels = torch.tensor(target, dtype=torch.int64)
    if size != 8:  # (N, 1, 8, 8) -> (N, 1, size, size)
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = images.repeat(1, channels, 1, 1)  # grey -> "RGB" with equal channels
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = round(len(labels) * test_fraction)
    test_idx, train_idx = order[:n_test], order[n_test:]
    train_x, test_x = _standardize(images[train_idx], images[test_idx])
    return (TensorDataset(train_x, labels[train_idx]),
            TensorDataset(test_x, labels[test_idx]))


def digits_split(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The digits as flat vectors: ``(x_train, y_train, x_val, y_val)``, an 80/20 split.

    Pixels are float32 in [0, 1] (the scans hold 0–16), 64 per image; labels are
    int64 in 0–9. One fifth of the 1,797 images (359) is held out for validation,
    chosen by a permutation from a generator seeded with ``seed``, so the split
    does not depend on (or change) the global random state.

    Args:
        seed: seed of the split's permutation.
    """
    pixels, target = digits_arrays()
    x = torch.tensor(pixels, dtype=torch.float32) / 16.0  # (1797, 64)
    y = torch.tensor(target, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_val = len(x) // 5
    val, train = perm[:n_val], perm[n_val:]
    return x[train], y[train], x[val], y[val]


def cifar10_images(root: str | Path, limit: int | None = None
                   ) -> tuple[TensorDataset, TensorDataset]:
    """CIFAR-10 from an extracted ``cifar-10-batches-py`` folder under ``root``.

    Nothing is downloaded: ``root`` must already hold the archive's folder (as
    ``torchvision.datasets.CIFAR10(root, download=True)`` leaves it).

    Args:
        root: the folder that contains ``cifar-10-batches-py``.
        limit: keep only the first ``limit`` training and test images (``None``: all).

    Returns:
        ``(train, test)`` TensorDatasets of standardized ``(N, 3, 32, 32)`` images.

    Raises:
        FileNotFoundError: ``root`` does not contain the CIFAR-10 python archive.
    """
    from torchvision.datasets import CIFAR10

    folder = Path(root) / CIFAR10.base_folder
    if not folder.is_dir():
        raise FileNotFoundError(
            f"--data-dir {root}: no {CIFAR10.base_folder}/ folder there; extract "
            "cifar-10-python.tar.gz into it (the digits are used when --data-dir is not given)")
    splits = []
    for train in (True, False):
        ds = CIFAR10(str(root), train=train, download=False)
        data, targets = ds.data[:limit], ds.targets[:limit]  # (N, 32, 32, 3) uint8
        x = torch.from_numpy(data).permute(0, 3, 1, 2).float() / 255.0
        splits.append((x, torch.tensor(targets, dtype=torch.int64)))
    (train_x, train_y), (test_x, test_y) = splits
    train_x, test_x = _standardize(train_x, test_x)
    return TensorDataset(train_x, train_y), TensorDataset(test_x, test_y)
