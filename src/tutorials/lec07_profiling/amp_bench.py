"""One training step under a precision mode (fp32, bf16 or fp16 autocast), and its timing.

Mixed precision runs the matrix multiplications (forward and backward) in a 16-bit type
while the parameters, the optimizer state and the reductions stay in float32.
``torch.amp.autocast(device_type, dtype)`` picks the type per op. float16 has a narrow
exponent range, so small gradients underflow to zero; ``torch.amp.GradScaler``
multiplies the loss before backward and divides the gradients before the step.
bfloat16 has float32's exponent range and needs no scaler.

fp16 autocast is treated here as a CUDA path: CPU autocast accepts float16, but on
CPUs without native float16 arithmetic its matrix multiplications are far slower than
float32, so :func:`check_precision` refuses it with an explanation.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = nn.Linear(8, 3)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
    >>> scaler = make_scaler("bf16", "cpu")
    >>> scaler.is_enabled()  # bf16 needs no loss scaling
    False
    >>> loss = train_step(model, opt, scaler, x, y, precision="bf16", device="cpu")
    >>> loss.dtype, model.weight.dtype  # the loss is reduced in fp32; weights stay fp32
    (torch.float32, torch.float32)
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "PRECISIONS",
    "StepStats",
    "autocast_dtype",
    "bench_train_step",
    "check_precision",
    "make_scaler",
    "train_step",
]

#: Precision modes: the autocast dtype of each (``None``: plain float32).
PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def check_precision(precision: str, device: torch.device | str) -> None:
    """Raise a clear error for an unknown mode or for fp16 autocast off CUDA.

    Raises:
        ValueError: ``precision`` is not in :data:`PRECISIONS`, or it is ``"fp16"``
            on a device other than CUDA.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and torch.device(device).type != "cuda":
        raise ValueError(
            "fp16 autocast with GradScaler is a CUDA path: on CPUs without native "
            "float16 arithmetic it is far slower than float32; use precision='bf16' "
            "on CPU"
        )


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a precision mode (``None`` for fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    return PRECISIONS[precision]


def make_scaler(precision: str, device: torch.device | str) -> torch.amp.GradScaler:
    """A ``torch.amp.GradScaler``, enabled only for fp16 (bf16 and fp32 need no scaling)."""
    device = torch.device(device)
    check_precision(precision, device)
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    x: Tensor,
    y: Tensor,
    *,
    precision: str,
    device: torch.device | str,
) -> Tensor:
    """One optimizer step on a classification batch under a precision mode.

    Args:
        model: the model (its parameters stay float32).
        optimizer: its optimizer.
        scaler: from :func:`make_scaler` (a disabled scaler is a pass-through).
        x: the input batch, already on ``device``.
        y: the class labels, already on ``device``.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        device: where the model runs.

    Returns:
        The loss, detached (no sync: call ``.item()`` only when you need the value).
    """
    device = torch.device(device)
    dtype = autocast_dtype(precision)
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None):
        loss = F.cross_entropy(model(x), y)  # autocast picks fp32 for the loss
    scaler.scale(loss).backward()  # backward runs outside autocast, in each op's dtype
    scaler.step(optimizer)  # unscales the grads; skips the step if any is inf/NaN
    scaler.update()
    return loss.detach()


@dataclass(frozen=True)
class StepStats:
    """Timing and memory of a training step.

    Attributes:
        precision: the mode.
        median_ms: median wall time of one step, in milliseconds.
        iqr_ms: interquartile range of the step times.
        peak_mb: peak CUDA memory allocated during the timed steps (MB), or ``None``
            on CPU, where this module does not measure it.
    """

    precision: str
    median_ms: float
    iqr_ms: float
    peak_mb: float | None


def bench_train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    y: Tensor,
    *,
    precision: str,
    device: torch.device | str,
    steps: int = 10,
    warmup: int = 3,
) -> StepStats:
    """Time ``steps`` training steps (after ``warmup`` untimed ones) under ``precision``.

    On CUDA each step is bracketed by ``torch.cuda.synchronize`` so the time covers
    the GPU work, and the peak comes from ``torch.cuda.max_memory_allocated``.

    Raises:
        ValueError: ``steps`` < 1, or the precision is not usable on ``device``.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = torch.device(device)
    scaler = make_scaler(precision, device)
    cuda = device.type == "cuda"
    for _ in range(warmup):
        train_step(model, optimizer, scaler, x, y, precision=precision, device=device)
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        train_step(model, optimizer, scaler, x, y, precision=precision, device=device)
        if cuda:
            torch.cuda.synchronize(device)  # wait for the GPU before reading the clock
        times.append((time.perf_counter() - t0) * 1e3)
    peak = torch.cuda.max_memory_allocated(device) / 1e6 if cuda else None
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return StepStats(precision, statistics.median(times), q[2] - q[0], peak)
