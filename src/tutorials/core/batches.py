"""Mini-batches of tensors already in memory, in an order fixed by a seed.

Introduced in Lecture 7; also used by Lecture 12.

A model as small as the digits MLPs of these chapters trains faster than a
``DataLoader`` can index and collate single samples, so the labs keep the whole
dataset in two tensors on the device and cut batches out of a permutation:

* :func:`shuffled_batches` is one pass: the permutation drawn from the
  ``generator`` it is given (the identity when it gets none), from batch ``start``
  on, so that a resumed run can skip the batches it already trained on.
* :class:`Batches` is what a training loop iterates over every epoch: each pass
  draws a new permutation from the iterator's *own* generator, so the order of
  the batches is fixed by the seed and does not depend on (or change) anything
  else that draws random numbers. A ``DataLoader`` with ``shuffle=True,
  generator=torch.Generator().manual_seed(seed)`` gives the same guarantee.

Examples:
    >>> import torch
    >>> x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    >>> [b.tolist() for _, b in shuffled_batches(x, y, batch_size=4)]
    [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    >>> batches = Batches(x, y, batch_size=4, seed=0)
    >>> len(batches)
    3
    >>> first, second = [[b.tolist() for _, b in batches] for _ in range(2)]
    >>> first != second, sorted(sum(first, [])) == list(range(10))  # a new order each pass, every sample once
    (True, True)
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

__all__ = ["Batches", "shuffled_batches"]


def shuffled_batches(x: Tensor, y: Tensor, batch_size: int, generator: torch.Generator | None = None,
                     start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
    """One pass over ``(x, y)`` in batches, in an order drawn from ``generator``.

    Args:
        x: inputs, first dimension = samples.
        y: targets, as many as ``x``.
        batch_size: samples per batch (the last batch may be smaller).
        generator: a CPU generator the permutation is drawn from (one
            ``torch.randperm`` call); ``None`` keeps the samples in order.
        start: the first batch to yield; the batches before it are skipped
            (the permutation is drawn all the same).

    Yields:
        ``(x[idx], y[idx])`` for each batch of indices ``idx``.
    """
    n = len(x)
    order = torch.arange(n) if generator is None else torch.randperm(n, generator=generator)
    for idx in order.to(x.device).split(batch_size)[start:]:
        yield x[idx], y[idx]


class Batches:
    """``(inputs, targets)`` mini-batches of in-memory tensors, reshuffled each pass.

    Args:
        x: inputs, first dimension = samples.
        y: targets.
        batch_size: samples per batch (the last batch may be smaller).
        seed: seeds this iterator's own generator; ``None`` keeps the order fixed.
    """

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, seed: int | None = None) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return shuffled_batches(self.x, self.y, self.batch_size, self.generator)
