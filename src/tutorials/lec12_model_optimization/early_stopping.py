"""Early stopping on a loss or a metric, with patience and a minimum improvement.

The run stops on the ``patience``-th consecutive epoch without improvement, as
Keras's and Lightning's ``EarlyStopping`` do.

Examples:
    >>> stopper = EarlyStopping(patience=2, mode="max", min_delta=0.01)
    >>> [stopper.step(acc) for acc in (0.50, 0.60, 0.605, 0.59)]
    [False, False, False, True]
    >>> stopper.best, stopper.best_epoch, stopper.bad_epochs
    (0.6, 1, 2)
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Stop when the monitored value has not improved by ``min_delta`` for ``patience`` epochs.

    :meth:`step` returns ``True`` on the ``patience``-th consecutive epoch without
    improvement (``patience=3``: best at epoch 5, stop at epoch 8). ``patience=0``
    stops on the first such epoch, like ``patience=1`` (as in Keras and Lightning).

    Args:
        patience: consecutive epochs without improvement after which to stop.
        mode: ``"min"`` for a loss, ``"max"`` for a metric such as accuracy.
        min_delta: the smallest change that counts as an improvement.

    Raises:
        ValueError: an unknown ``mode``, a negative ``patience`` or ``min_delta``.
    """

    def __init__(self, patience: int = 5, mode: str = "min", min_delta: float = 0.0) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if patience < 0 or min_delta < 0:
            raise ValueError(f"patience and min_delta must be >= 0, got {patience}, {min_delta}")
        self.patience, self.mode, self.min_delta = patience, mode, min_delta
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.bad_epochs = 0
        self.epoch = -1

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta``."""
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value: float) -> bool:
        """Record one epoch's value; return ``True`` when training should stop.

        That is: this epoch did not improve, and neither did the ``patience - 1``
        epochs before it.
        """
        self.epoch += 1
        if self.improved(value):
            self.best, self.best_epoch, self.bad_epochs = value, self.epoch, 0
            return False
        self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """Counters to store in a checkpoint."""
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs,
                "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore counters saved by :meth:`state_dict`."""
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.bad_epochs, self.epoch = state["bad_epochs"], state["epoch"]
