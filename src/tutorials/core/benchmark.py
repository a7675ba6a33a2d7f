"""Timings with ``torch.utils.benchmark``: median and interquartile range.

Introduced in Lecture 2; also used by Lectures 3, 9, 11, 12, 16.

``torch.utils.benchmark.Timer`` synchronizes CUDA for us, warms up, and picks the
number of repeats; we report the median (robust to outliers) and the IQR
(how noisy the measurement was).

Importing ``torch.utils.benchmark`` imports ``torch.utils.cpp_extension`` (its
C++ timers can compile code), and that module logs, once per process,
``No CUDA runtime is found, using CUDA_HOME='...'`` when it finds a CUDA toolkit
(``$CUDA_HOME``, ``$CUDA_PATH`` or ``nvcc`` on the ``PATH``) but
``torch.cuda.is_available()`` is false: a CPU-only machine with the toolkit
installed. The course never compiles an extension here, so this module keeps that
one message back during its import and :func:`import_notes` returns it with what it
means; the labs print the note first, instead of an unexplained warning.

Examples:
    >>> import torch
    >>> t = time_callable(torch.relu, torch.randn(256), label="relu", min_run_time=0.05)
    >>> t.median_us > 0
    True
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Timing", "import_notes", "time_callable"]

_NO_CUDA_RUNTIME = "No CUDA runtime is found"


class _KeepBack(logging.Filter):
    """Holds back cpp_extension's "No CUDA runtime is found" record (and only that one)."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(_NO_CUDA_RUNTIME):
            self.held.append(message)
            return False
        return True


def _import_torch_benchmark():
    keep_back = _KeepBack()
    log = logging.getLogger("torch.utils.cpp_extension")
    log.addFilter(keep_back)
    try:
        import torch.utils.benchmark as tbench
    finally:
        log.removeFilter(keep_back)
    return tbench, keep_back.held


tbench, _held_back = _import_torch_benchmark()


def import_notes() -> list[str]:
    """What importing ``torch.utils.benchmark`` logged and this module held back, explained.

    Returns:
        One line per held-back message (none on a machine without a CUDA toolkit, with
        a usable GPU, or when ``torch.utils.cpp_extension`` was imported earlier).
    """
    return [
        f"note: torch.utils.cpp_extension (imported by torch.utils.benchmark) reports "
        f'"{message}": a CUDA toolkit is installed but torch sees no usable GPU. That '
        f"matters only when compiling CUDA extensions, which the labs never do: harmless here."
        for message in _held_back
    ]


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
