"""Timings with ``torch.utils.benchmark``: median and interquartile range.

``torch.utils.benchmark.Timer`` synchronizes CUDA for us, warms up, and picks the
number of repeats; we report the median (robust to outliers) and the IQR
(how noisy the measurement was).

Examples:
    >>> import torch
    >>> t = time_callable(torch.relu, torch.randn(256), label="relu", min_run_time=0.05)
    >>> t.median_us > 0
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.utils.benchmark as tbench

__all__ = ["Timing", "time_callable"]


@dataclass(frozen=True)
class Timing:
    """One measured figure.

    Attributes:
        label: what was timed.
        median_us: median time per call in microseconds.
        iqr_us: interquartile range of the per-call times in microseconds.
        runs: number of timed blocks the statistics come from.
    """

    label: str
    median_us: float
    iqr_us: float
    runs: int


def time_callable(
    fn: Callable[..., object],
    *args: object,
    label: str,
    min_run_time: float = 0.2,
    num_threads: int | None = None,
) -> Timing:
    """Time ``fn(*args)`` with ``torch.utils.benchmark.Timer.blocked_autorange``.

    Args:
        fn: the callable to time.
        *args: its arguments (built once, outside the timed region).
        label: a name for the result.
        min_run_time: seconds of timed work to collect at least.
        num_threads: CPU threads for the timer (default: torch's current setting).

    Returns:
        A :class:`Timing` with the median and IQR in microseconds.
    """
    import torch

    timer = tbench.Timer(
        stmt="fn(*args)",
        globals={"fn": fn, "args": args},
        label=label,
        num_threads=num_threads or torch.get_num_threads(),
    )
    m = timer.blocked_autorange(min_run_time=min_run_time)
    return Timing(label=label, median_us=m.median * 1e6, iqr_us=m.iqr * 1e6, runs=len(m.times))
