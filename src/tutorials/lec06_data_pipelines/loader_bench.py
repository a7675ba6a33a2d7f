"""How many images per second a ``DataLoader`` configuration delivers.

:func:`measure_loader` runs one epoch of a loader built with the given
``num_workers``, ``batch_size`` and ``pin_memory``, moves every batch to the target
device (as a training loop would) and optionally hands it to a ``step`` function (a
training step, for an end-to-end figure). :func:`sweep` measures a grid of settings,
:func:`best_setting` picks the fastest, and :func:`recommend_setting` the simplest
setting among those within the measurement noise of the fastest (differences within
noise are ties, not evidence).

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

import dataclasses
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["MIN_NOISE", "LoaderThroughput", "Recommendation", "best_setting", "measure_loader",
           "measured_noise", "recommend_setting", "sweep"]

#: The smallest relative difference :func:`recommend_setting` treats as real (5 %).
#: Two epochs of the same loader differ by a few percent even on a quiet machine
#: (worker start-up, scheduling, the page cache); a larger measured noise replaces it.
MIN_NOISE = 0.05


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
        repeat_rates: images per second of every epoch measured for this setting
            (:func:`sweep` fills it; ``images_per_s`` is their median).
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
    repeat_rates: tuple[float, ...] = ()

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
            images per second is kept (robust to a disturbed epoch), with every
            epoch's rate in ``repeat_rates``.
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
                r = dataclasses.replace(runs[len(runs) // 2],
                                        repeat_rates=tuple(x.images_per_s for x in runs))
                results.append(r)
                if progress is not None:
                    progress(r)
    return results


def best_setting(results: Sequence[LoaderThroughput]) -> LoaderThroughput:
    """The configuration with the most images per second (noise not considered).

    Raises:
        ValueError: ``results`` is empty.
    """
    if not results:
        raise ValueError("best_setting needs at least one measured configuration")
    return max(results, key=lambda r: r.images_per_s)


def measured_noise(results: Sequence[LoaderThroughput]) -> tuple[float | None, str]:
    """The largest relative difference between two epochs of the same loader.

    Two epochs run the same loader when they are repeats of one setting
    (``repeat_rates``), or settings that differ only in a ``pin_memory`` flag the
    loader ignored (``pin_memory=True`` without an accelerator: ``pinned`` is false, and
    ``DataLoader`` runs exactly the ``pin_memory=False`` code).

    Returns:
        ``(noise, how)``: ``(max - min) / max`` over the rates of each such group, the
        largest; ``None`` when no loader was measured twice. ``how`` says which
        measurements it comes from.
    """
    groups: dict[tuple, list[float]] = defaultdict(list)
    flags: dict[tuple, set[bool]] = defaultdict(set)
    for r in results:
        key = (r.num_workers, r.batch_size, r.pinned)
        groups[key] += list(r.repeat_rates) or [r.images_per_s]
        flags[key].add(r.pin_memory)
    spreads = [(max(rates) - min(rates)) / max(rates) for rates in groups.values()
               if len(rates) > 1 and max(rates) > 0]
    if not spreads:
        return None, "no loader was measured twice"
    sources = []
    if any(len(r.repeat_rates) > 1 for r in results):
        sources.append("repeated epochs of a setting")
    if any(len(f) > 1 for f in flags.values()):
        sources.append("pin_memory=True and False, which run the same loader without an accelerator")
    return max(spreads), "two epochs of the same loader: " + " and ".join(sources)


@dataclass(frozen=True)
class Recommendation:
    """What :func:`recommend_setting` chose, and why.

    Attributes:
        setting: the recommended configuration.
        fastest: the configuration with the most images per second.
        noise: relative difference below which two rates are a tie.
        noise_source: where ``noise`` comes from.
        ties: every configuration within ``noise`` of the fastest, in grid order.
    """

    setting: LoaderThroughput
    fastest: LoaderThroughput
    noise: float
    noise_source: str
    ties: tuple[LoaderThroughput, ...]


def recommend_setting(results: Sequence[LoaderThroughput], min_noise: float = MIN_NOISE) -> Recommendation:
    """The simplest configuration whose rate is within the measurement noise of the fastest.

    A difference smaller than the noise is a tie, not a reason for a more complex
    setting. The noise is :func:`measured_noise`, at least ``min_noise``. Among the
    ties the simplest wins: ``pin_memory=False`` before ``True`` (pinned buffers cost
    page-locked host memory, and do nothing without an accelerator), then fewer
    workers (fewer processes and copies of the dataset), then the faster.

    Raises:
        ValueError: ``results`` is empty, or ``min_noise`` is not in [0, 1).
    """
    if not 0 <= min_noise < 1:
        raise ValueError(f"min_noise must be in [0, 1), got {min_noise}")
    fastest = best_setting(results)
    measured, how = measured_noise(results)
    if measured is None or measured < min_noise:
        noise = min_noise
        how = (f"{how}; the floor of {min_noise:.0%} applies" if measured is None
               else f"{how} ({measured:.1%}), below the floor of {min_noise:.0%}, which applies")
    else:
        noise = measured
    ties = tuple(r for r in results if r.images_per_s >= fastest.images_per_s * (1 - noise))
    setting = min(ties, key=lambda r: (r.pin_memory, r.num_workers, -r.images_per_s))
    return Recommendation(setting=setting, fastest=fastest, noise=noise, noise_source=how, ties=ties)
