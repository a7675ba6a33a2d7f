"""Self-checks for the exercises of Lecture 6 (data pipelines).

Each ``check_*`` function takes *your* answer, exercises it on inputs it builds
itself, prints a one-line confirmation when the answer is right, and raises an
``AssertionError`` that says what is wrong (and usually a hint) when it is not.

Examples:
    >>> import torch
    >>> from torch.nn.utils.rnn import pad_sequence
    >>> def pad(samples):
    ...     tokens, labels = zip(*samples)
    ...     return (pad_sequence(tokens, batch_first=True),
    ...             torch.tensor([len(t) for t in tokens]), torch.tensor(labels))
    >>> check_pad_collate(pad)
    ✓ pad: padded (B, T_max) batch, lengths and labels are right, also inside a DataLoader

"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

__all__ = ["check_image_folder", "check_pad_collate", "check_sharded_stream"]


def _name(obj: object) -> str:
    return getattr(obj, "__name__", type(obj).__name__)


def _channels(image: object) -> int:
    if isinstance(image, Image.Image):
        return len(image.getbands())
    if isinstance(image, Tensor):
        return int(image.shape[0]) if image.ndim == 3 else -1
    return -1


def check_image_folder(dataset_cls: type) -> None:
    """Exercise 1: an image-folder ``Dataset`` written from scratch.

    ``dataset_cls(root, transform=None)`` must read ``root/<class>/<file>``: sorted
    class names in ``classes``, the map ``class_to_idx``, only ``.png``, ``.jpg`` and
    ``.jpeg`` files (other files ignored), ``(image, label)`` samples with the image
    converted to RGB and then passed through ``transform``, and an error whose
    message names the file when an image cannot be decoded.

    Args:
        dataset_cls: your class.

    Raises:
        AssertionError: one of the rules above is broken.
    """
    from tutorials.lec06_data_pipelines.imagefolder import write_digit_folder

    name = _name(dataset_cls)
    with tempfile.TemporaryDirectory() as tmp:
        root = write_digit_folder(Path(tmp) / "digits", per_class=6, classes=3, size=16,
                                  corrupt=True)
        (root / "1" / "notes.txt").write_text("not an image\n")
        ds = dataset_cls(root)
        assert getattr(ds, "classes", None) == ["0", "1", "2"], (
            f"{name}.classes should be the sorted class folder names ['0', '1', '2'], "
            f"got {getattr(ds, 'classes', None)!r}"
        )
        assert getattr(ds, "class_to_idx", None) == {"0": 0, "1": 1, "2": 2}, (
            f"{name}.class_to_idx should map each class name to its position in classes, "
            f"got {getattr(ds, 'class_to_idx', None)!r}"
        )
        assert len(ds) == 3 * 6 + 1, (
            f"len({name}(root)) is {len(ds)}, expected 19: 18 images plus corrupt.png "
            "(an image by its name); notes.txt must be ignored"
        )
        labels, bad = [], []
        for i in range(len(ds)):
            try:
                image, label = ds[i]
            except Exception as err:  # noqa: BLE001 - we check the message of any error
                bad.append(str(err))
                continue
            assert _channels(image) == 3, (
                f"{name}[{i}] has {_channels(image)} channel(s); call .convert('RGB') on "
                "every image (the folder holds grayscale and palette files)"
            )
            labels.append(int(label))
        assert len(bad) == 1, (
            f"expected exactly one unreadable file (corrupt.png), {len(bad)} samples raised"
            + (f": {bad[:2]}" if bad else "; did you skip it silently?")
        )
        assert "corrupt.png" in bad[0], (
            f"the error for the corrupt file must name it; the message was {bad[0]!r}"
        )
        assert labels == [0] * 6 + [1] * 6 + [2] * 6, (
            f"labels in order should be six 0s, six 1s and six 2s, got {labels}"
        )
        tf_ds = dataset_cls(root, transform=lambda im: ("seen", im.size))
        assert tf_ds[0][0] == ("seen", (16, 16)), (
            f"{name}(root, transform=f)[0] should return f(image) as the image"
        )
    print(f"✓ {name}: classes, labels, RGB conversion, file filter, transform and "
          "corrupt-file error are right")


def check_pad_collate(collate: Callable) -> None:
    """Exercise 2: a ``collate_fn`` for sequences of different lengths.

    ``collate(samples)`` receives a list of ``(tokens, label)``, ``tokens`` a 1-D
    ``LongTensor``, and must return ``(padded, lengths, labels)``: ``padded`` of shape
    ``(B, T_max)`` filled with 0 after each sequence, ``lengths`` and ``labels`` 1-D
    tensors of length ``B``.

    Raises:
        AssertionError: a shape, value or dtype is wrong.
    """
    name = _name(collate)
    g = torch.Generator().manual_seed(0)
    lengths = [3, 1, 5, 2]
    samples = [(torch.randint(1, 50, (n,), generator=g), k % 2) for k, n in enumerate(lengths)]
    out = collate(samples)
    assert isinstance(out, tuple) and len(out) == 3, (
        f"{name} must return a tuple (padded, lengths, labels), got {type(out).__name__}"
    )
    padded, got_lengths, labels = out
    assert isinstance(padded, Tensor) and tuple(padded.shape) == (4, 5), (
        f"padded should have shape (B, T_max) = (4, 5), got "
        f"{tuple(getattr(padded, 'shape', ()))}: one row per sample, as wide as the longest "
        "sequence of the batch"
    )
    assert padded.dtype == torch.long, f"padded should keep the token dtype int64, got {padded.dtype}"
    for row, (tokens, _) in enumerate(samples):
        n = len(tokens)
        assert torch.equal(padded[row, :n], tokens) and not padded[row, n:].any(), (
            f"row {row} of padded should be its tokens {tokens.tolist()} then zeros, "
            f"got {padded[row].tolist()}"
        )
    assert torch.is_tensor(got_lengths) and got_lengths.tolist() == lengths, (
        f"lengths should be tensor({lengths}), got {got_lengths!r}"
    )
    assert torch.is_tensor(labels) and labels.tolist() == [0, 1, 0, 1], (
        f"labels should be tensor([0, 1, 0, 1]), got {labels!r}"
    )
    loader = DataLoader(samples, batch_size=2, collate_fn=collate)
    shapes = [tuple(b[0].shape) for b in loader]
    assert shapes == [(2, 3), (2, 5)], (
        f"inside DataLoader(batch_size=2) the padded shapes should be [(2, 3), (2, 5)] "
        f"(each batch padded to its own longest sequence), got {shapes}"
    )
    print(f"✓ {name}: padded (B, T_max) batch, lengths and labels are right, "
          "also inside a DataLoader")


def _tag_with_worker(item: object) -> tuple[int, int]:
    """``collate_fn`` for the sharded-stream check: runs in the worker, names it."""
    info = get_worker_info()
    return (0 if info is None else info.id), int(item)


# (n, num_workers): exact and inexact splits, and fewer items than workers
_SHARD_CASES = ((10, 0), (10, 1), (10, 2), (10, 3), (7, 4), (3, 4))


def check_sharded_stream(stream_cls: type) -> None:
    """Exercise 3: an ``IterableDataset`` that splits its items between workers.

    ``stream_cls(n)`` must yield the integers ``0 … n-1``, each exactly once per epoch
    whatever ``num_workers`` the ``DataLoader`` uses, and give each worker one
    contiguous block of them (consecutive integers in increasing order). The check
    tries several ``n`` and worker counts, some of which do not divide ``n``.

    Raises:
        AssertionError: it is not an ``IterableDataset``, an item is missing or
            repeated for some ``n`` and number of workers, or a worker's items are
            not one contiguous block.
    """
    name = _name(stream_cls)
    assert isinstance(stream_cls, type) and issubclass(stream_cls, IterableDataset), (
        f"{name} must subclass torch.utils.data.IterableDataset"
    )
    for n, workers in _SHARD_CASES:
        per_worker: dict[int, list[int]] = {}
        with warnings.catch_warnings():  # 3 or 4 workers on a machine with fewer cores
            warnings.filterwarnings("ignore", message="This DataLoader will create")
            loader = DataLoader(stream_cls(n), batch_size=None, num_workers=workers,
                                collate_fn=_tag_with_worker)
            for worker, item in loader:
                per_worker.setdefault(worker, []).append(item)
        items = sorted(v for block in per_worker.values() for v in block)
        case = f"with n={n} and num_workers={workers}"
        if items != list(range(n)):
            wrong = {
                "missing": sorted(set(range(n)) - set(items)),
                "repeated": sorted({v for v in items if items.count(v) > 1}),
                "out of range": sorted({v for v in items if not 0 <= v < n}),
            }
            raise AssertionError(
                f"{case} the epoch yielded {items}, expected 0..{n - 1} once each; "
                + ", ".join(f"{what} {vs}" for what, vs in wrong.items() if vs)
                + ". In __iter__, torch.utils.data.get_worker_info() is None in the main "
                "process and tells a worker its id and num_workers; the workers' blocks "
                "must not overlap and must together cover 0..n-1, also when num_workers "
                "does not divide n"
            )
        for worker, block in sorted(per_worker.items()):
            assert block == list(range(block[0], block[0] + len(block))), (
                f"{case} worker {worker} yielded {block}: every item once, but not one "
                "contiguous block; give each worker consecutive items (as it would read "
                "its own shard files), not every num_workers-th item"
            )
    cases = ", ".join(f"{n}/{w}" for n, w in _SHARD_CASES)
    print(f"✓ {name}: every item exactly once, one contiguous block per worker "
          f"(n/num_workers = {cases})")
