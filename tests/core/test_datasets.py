"""Digits as small RGB-like images; CIFAR-10 read from a local archive only."""

import pickle

import numpy as np
import pytest
import torch

from tutorials.core.datasets import cifar10_images, digits_images


def test_digits_shapes_split_and_standardization():
    train, test = digits_images()
    assert len(train) + len(test) == 1797 and len(test) == 359
    x, y = train.tensors
    assert x.shape == (1438, 3, 32, 32) and y.dtype == torch.int64
    assert set(y.tolist()) == set(range(10))
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)
    assert torch.equal(x[:, 0], x[:, 2]), "grey repeated to three equal channels"
    gray, _ = digits_images(size=8, channels=1, seed=1)
    assert gray.tensors[0].shape[1:] == (1, 8, 8)
    again, _ = digits_images()
    assert torch.equal(again.tensors[0], x), "the split is seeded"


@pytest.mark.parametrize("kwargs,message", [
    ({"size": 4}, "size must be at least 8"),
    ({"channels": 2}, "channels must be 1 or 3"),
    ({"test_fraction": 1.0}, "test_fraction"),
])
def test_digits_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        digits_images(**kwargs)


def _write_fake_cifar(root):
    """A tiny archive in the real CIFAR-10 python format (pickled dicts of uint8 rows)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        entry = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)


def test_cifar10_reader_on_a_local_archive(tmp_path, monkeypatch):
    _write_fake_cifar(tmp_path)
    # the real archive's MD5 sums cannot match a fake one; everything else is real
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *a, **k: True)
    train, test = cifar10_images(tmp_path)
    assert train.tensors[0].shape == (20, 3, 32, 32) and len(test) == 4
    assert train.tensors[1].tolist()[:4] == [0, 1, 2, 3]
    small, _ = cifar10_images(tmp_path, limit=6)
    assert len(small) == 6


def test_cifar10_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no cifar-10-batches-py/ folder"):
        cifar10_images(tmp_path)


def test_digits_read_without_sklearn_are_sklearns_digits():
    """The CSV read directly is load_digits' data: 1,797 scans, its class counts and pixel sum."""
    from tutorials.core.datasets import digits_arrays

    pixels, target = digits_arrays()
    assert pixels.shape == (1797, 64) and pixels.min() == 0 and pixels.max() == 16
    assert target.tolist()[:10] == list(range(10))
    assert [int((target == d).sum()) for d in range(10)] == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert int(pixels.sum()) == 561718
