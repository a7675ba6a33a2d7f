"""How many images per second a ``DataLoader`` configuration delivers.

:func:`measure_loader` runs one epoch of a loader built with the given
``num_workers``, ``batch_size`` and ``pin_memory``, moves every batch to the target
device (as a training loop would) and optionally hands it to a ``step`` function (a
training step, for an end-to-end figure). :func:`sweep` measures a grid of settings
and :func:`best_setting` picks the fastest.

The figure is the *whole* epoch's rate, worker start-up included, because that is
what a training run pays each epoch unless ``persistent_workers=True``; the time to
the first batch is reported separately.

Examples:
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> ds = TensorDataset(torch.randn(64, 3, 8, 8), torch.zeros(64, dtype=torch.long))
    >>> r = measure_loader(ds, num_workers=0, batch_size=16, pin_memory=False)
    >>> r.images, r.batches, r.images_per_s > 0
    (64, 4, True)
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["LoaderThroughput", "best_setting", "measure_loader", "sweep"]


@dataclass(frozen=True)
class LoaderThroughput:
    """One measured loader configuration.

    Attributes:
        num_workers: worker processes (0: load in the main process).
        batch_size: images per batch.
        pin_memory: the ``pin_memory`` flag given to the loader.
        pinned: whether the batches really arrived in pinned memory (needs CUDA).
        images: images delivered in the epoch.
        batches: batches delivered.
        seconds: wall time of the epoch, from ``iter(loader)`` to the last batch.
        first_batch_s: wall time until the first batch (worker start-up included).
        images_per_s: ``images / seconds``.
    """

    num_workers: int
    batch_size: int
    pin_memory: bool
    pinned: bool
    images: int
    batches: int
    seconds: float
    first_batch_s: float
    images_per_s: float

    def as_row(self) -> dict[str, Any]:
        """The figures as a flat dict (for a table or JSON)."""
        return asdict(self)


def _first_tensor(batch: Any) -> torch.Tensor:
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, (list, tuple)) and batch:
        return _first_tensor(batch[0])
    if isinstance(batch, dict) and batch:
        return _first_tensor(next(iter(batch.values())))
    raise TypeError(f"cannot find a tensor in a batch of type {type(batch).__name__}")


def _to(batch: Any, device: torch.device, non_blocking: bool) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to(b, device, non_blocking) for b in batch)
    if isinstance(batch, dict):
        return {k: _to(v, device, non_blocking) for k, v in batch.items()}
    return batch


def measure_loader(
    dataset: Dataset,
    *,
    num_workers: int,
    batch_size: int,
    pin_memory: bool,
    device: torch.device | str = "cpu",
    step: Callable[[Any], object] | None = None,
    seed: int = 0,
    **loader_kwargs: Any,
) -> LoaderThroughput:
    """Time one shuffled epoch of ``DataLoader(dataset, ...)``.

    Args:
        dataset: a map-style dataset whose batches hold tensors.
        num_workers: ``DataLoader(num_workers=...)``.
        batch_size: ``DataLoader(batch_size=...)``.
        pin_memory: ``DataLoader(pin_memory=...)``; only has an effect with CUDA.
        device: where each batch is copied (``non_blocking`` when pinned).
        step: called with each batch on ``device`` (e.g. a training step).
        seed: seeds the loader's generator, so shuffling and worker seeds repeat.
        **loader_kwargs: further ``DataLoader`` arguments (``prefetch_factor``…).

    Returns:
        A :class:`LoaderThroughput`.

    Raises:
        ValueError: ``num_workers`` is negative or ``batch_size`` is not positive.
    """
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    with warnings.catch_warnings():
        # Without CUDA, pin_memory=True only warns and does nothing; we record that
        # in `pinned` instead of printing the warning for every configuration.
        warnings.filterwarnings("ignore", message=".*pin_memory.*")
        loader = DataLoader(
            dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers,
            pin_memory=pin_memory, generator=torch.Generator().manual_seed(seed),
            **loader_kwargs,
        )
        images = batches = 0
        pinned = False
        first = 0.0
        start = time.perf_counter()
        for batch in loader:
            if batches == 0:
                first = time.perf_counter() - start
                pinned = _first_tensor(batch).is_pinned()
            batch = _to(batch, device, non_blocking=pinned)
            if step is not None:
                step(batch)
            images += len(_first_tensor(batch))
            batches += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the copies and steps above are asynchronous
        seconds = time.perf_counter() - start
    return LoaderThroughput(
        num_workers=num_workers, batch_size=batch_size, pin_memory=pin_memory,
        pinned=pinned, images=images, batches=batches, seconds=seconds,
        first_batch_s=first, images_per_s=images / seconds if seconds > 0 else 0.0,
    )


def sweep(
    dataset: Dataset,
    workers: Iterable[int],
    batch_sizes: Iterable[int],
    pin_memory: Iterable[bool] = (False, True),
    progress: Callable[[LoaderThroughput], object] | None = None,
    repeats: int = 1,
    **kwargs: Any,
) -> list[LoaderThroughput]:
    """Measure every combination of ``workers × batch_sizes × pin_memory``.

    Args:
        dataset: the dataset to load.
        workers: values of ``num_workers``.
        batch_sizes: values of ``batch_size``.
        pin_memory: values of ``pin_memory``.
        progress: called with each result as it is measured (e.g. to print it).
        repeats: epochs measured per combination; the one with the median
            images per second is kept (robust to a disturbed epoch).
        **kwargs: passed to :func:`measure_loader` (``device``, ``step``, ``seed``…).

    Returns:
        One :class:`LoaderThroughput` per combination, in grid order.

    Raises:
        ValueError: ``repeats`` is smaller than 1.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    results = []
    for w in workers:
        for b in batch_sizes:
            for p in pin_memory:
                runs = sorted(
                    (measure_loader(dataset, num_workers=w, batch_size=b, pin_memory=p,
                                    **kwargs) for _ in range(repeats)),
                    key=lambda r: r.images_per_s,
                )
                r = runs[len(runs) // 2]
                results.append(r)
                if progress is not None:
                    progress(r)
    return results


def best_setting(results: Sequence[LoaderThroughput]) -> LoaderThroughput:
    """The configuration with the most images per second.

    Raises:
        ValueError: ``results`` is empty.
    """
    if not results:
        raise ValueError("best_setting needs at least one measured configuration")
    return max(results, key=lambda r: r.images_per_s)
