"""A training loop a learner can read in one sitting and trust.

:func:`train_one_epoch` and :func:`evaluate` do one pass each; :func:`fit` runs
epochs, evaluates, logs and stops early. What they get right, and where:

* ``model.train()`` / ``model.eval()`` around each pass (dropout, batch norm);
  evaluation under ``torch.inference_mode()``.
* ``optimizer.zero_grad(set_to_none=True)`` once per optimizer step.
* Gradient accumulation that equals the large batch exactly: each micro-batch's
  mean loss is weighted by its share of the samples in its accumulation group
  (a short last group included). ``loss_fn`` must average over the batch
  (``reduction="mean"``, the default of PyTorch's losses).
* Mixed precision with ``torch.amp``: ``"bf16"`` autocast needs no scaler,
  ``"fp16"`` uses a ``GradScaler`` (gradients are unscaled before clipping).
* Gradient clipping by total norm, after unscaling.
* LR schedulers stepped after the optimizer, per step or per epoch
  (``ReduceLROnPlateau`` with the validation loss).
* A tqdm progress bar only when standard error is a terminal; optional
  TensorBoard scalars.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at 0x...>
    >>> data = TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    >>> model = nn.Linear(4, 2)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> history = fit(model, DataLoader(data, batch_size=16), DataLoader(data, batch_size=64),
    ...               nn.CrossEntropyLoss(), opt, config=TrainConfig(epochs=2))
    >>> [sorted(h) for h in history][0]
    ['epoch', 'grad_norm', 'lr', 'lrs', 'train_loss', 'val_accuracy', 'val_loss']
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from tutorials.core.runtime import pick_device

__all__ = ["AMP_MODES", "TrainConfig", "autocast_for", "evaluate", "fit", "train_one_epoch"]

#: Accepted values of ``TrainConfig.amp`` and of the labs' ``--amp`` flag.
AMP_MODES = ("off", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Settings of :func:`fit`.

    Attributes:
        epochs: passes over the training data.
        accumulation_steps: micro-batches per optimizer step.
        clip_grad_norm: max total gradient norm, or ``None`` for no clipping.
        amp: ``"off"``, ``"bf16"`` or ``"fp16"``.
        scheduler_interval: ``"step"`` (after each optimizer step) or ``"epoch"``.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        progress: show a progress bar; ``None`` means only when stderr is a terminal.
        log_dir: write TensorBoard scalars here (needs the ``tensorboard`` package).
    """

    epochs: int = 1
    accumulation_steps: int = 1
    clip_grad_norm: float | None = None
    amp: str = "off"
    scheduler_interval: str = "step"
    device: str = "auto"
    progress: bool | None = None
    log_dir: str | None = None

    def __post_init__(self) -> None:
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.scheduler_interval not in ("step", "epoch"):
            raise ValueError(f"scheduler_interval must be 'step' or 'epoch', got {self.scheduler_interval!r}")
        if self.epochs < 1 or self.accumulation_steps < 1:
            raise ValueError(
                f"epochs and accumulation_steps must be >= 1, got {self.epochs}, {self.accumulation_steps}"
            )
        if self.clip_grad_norm is not None and not self.clip_grad_norm > 0:
            raise ValueError(f"clip_grad_norm must be positive or None, got {self.clip_grad_norm}")


def autocast_for(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """The ``torch.amp.autocast`` context for an AMP mode (a no-op context for ``"off"``).

    Raises:
        ValueError: ``amp`` is not one of :data:`AMP_MODES`.
    """
    if amp not in AMP_MODES:
        raise ValueError(f"amp must be one of {AMP_MODES}, got {amp!r}")
    if amp == "off":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.amp.autocast(device_type=device.type, dtype=dtype)


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to(b, device) for b in batch)
    return batch


def _groups(loader: Iterable, size: int) -> Iterator[list]:
    group: list = []
    for batch in loader:
        group.append(batch)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _show_progress(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else progress


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: torch.optim.Optimizer,
    *,
    device: torch.device,
    scaler: torch.amp.GradScaler | None = None,
    amp: str = "off",
    accumulation_steps: int = 1,
    clip_grad_norm: float | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
) -> dict[str, float]:
    """One pass over ``loader`` of ``(inputs, targets)`` batches.

    Args:
        model: the network (moved to ``device`` by the caller).
        loader: yields ``(inputs, targets)``.
        loss_fn: a mean-reduced loss, ``loss_fn(outputs, targets)``.
        optimizer: the optimizer.
        device: where batches are moved.
        scaler: a ``GradScaler`` for ``amp="fp16"`` (``None`` otherwise).
        amp: ``"off"``, ``"bf16"`` or ``"fp16"``.
        accumulation_steps: micro-batches per optimizer step.
        clip_grad_norm: max total gradient norm, or ``None``.
        scheduler: stepped after every optimizer step, if given.
        progress: progress bar on or off (``None``: only on a terminal).

    Returns:
        ``loss`` (mean training loss per sample), ``samples``, ``steps`` (optimizer
        steps), ``grad_norm`` (mean total gradient norm before clipping, per step) and
        ``lrs`` (the learning rate each optimizer step used).
    """
    from tqdm.auto import tqdm

    model.train()
    total_loss = torch.zeros((), device=device)  # summed on device: no sync per step
    total_norm = torch.zeros((), device=device)
    samples = steps = 0
    lrs: list[float] = []
    bar = tqdm(total=None, disable=not _show_progress(progress), leave=False, unit="step")
    for group in _groups(loader, accumulation_steps):
        group_size = sum(len(targets) for _, targets in group)
        optimizer.zero_grad(set_to_none=True)
        for inputs, targets in group:
            inputs, targets = _to(inputs, device), _to(targets, device)
            with autocast_for(device, amp):
                loss = loss_fn(model(inputs), targets)
            # weight by this micro-batch's share: the sum equals the group's mean loss
            weighted = loss * (len(targets) / group_size)
            (scaler.scale(weighted) if scaler is not None else weighted).backward()
            total_loss += loss.detach().float() * len(targets)
            samples += len(targets)
        if scaler is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        # the total norm is measured every step (inf: measure only) and clipped if asked
        norm = nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm or math.inf)
        total_norm += norm.detach().float()
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        if scaler is not None:
            scaler.step(optimizer)  # skips the step if gradients overflowed
            scaler.update()
        else:
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        steps += 1
        bar.update(1)
    bar.close()
    if samples == 0:
        raise ValueError("train_one_epoch: the loader yielded no batches")
    return {"loss": float(total_loss) / samples, "samples": samples, "steps": steps,
            "grad_norm": float(total_norm) / steps, "lrs": lrs}


def evaluate(
    model: nn.Module,
    loader: Iterable,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    *,
    device: torch.device,
    amp: str = "off",
) -> dict[str, float]:
    """Mean loss and accuracy (for class-index targets) over ``loader``, in eval mode."""
    model.eval()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    samples = 0
    with torch.inference_mode():
        for inputs, targets in loader:
            inputs, targets = _to(inputs, device), _to(targets, device)
            with autocast_for(device, amp):
                outputs = model(inputs)
                loss = loss_fn(outputs, targets)
            total_loss += loss.float() * len(targets)
            if outputs.dim() == 2 and targets.dim() == 1:
                correct += (outputs.argmax(1) == targets).sum()
            samples += len(targets)
    if samples == 0:
        raise ValueError("evaluate: the loader yielded no batches")
    return {"loss": float(total_loss) / samples, "accuracy": float(correct) / samples}


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: Any = None,
    *,
    config: TrainConfig | None = None,
    early_stopping: Any = None,
    on_epoch_end: Callable[[dict], None] | None = None,
) -> list[dict[str, float]]:
    """Train for ``config.epochs`` epochs, evaluating after each; return the history.

    Args:
        model: the network; moved to the configured device.
        train_loader: training batches ``(inputs, targets)``.
        val_loader: validation batches.
        loss_fn: a mean-reduced loss.
        optimizer: built on ``model.parameters()``.
        scheduler: optional LR scheduler, stepped per ``config.scheduler_interval``;
            a ``ReduceLROnPlateau`` is stepped per epoch with the validation loss.
        config: a :class:`TrainConfig` (defaults if ``None``).
        early_stopping: optional object with ``step(value) -> bool`` (for example
            :class:`tutorials.lec12_model_optimization.early_stopping.EarlyStopping` in ``"min"`` mode), fed
            the validation loss.
        on_epoch_end: called with each epoch's record (e.g. to save a checkpoint),
            after ``early_stopping`` was stepped for that epoch.

    Returns:
        One dict per epoch: epoch, train_loss, val_loss, val_accuracy, lr (at the
        epoch's end), grad_norm (mean per step, before clipping) and lrs (per step);
        with ``early_stopping``, also is_best (this epoch improved on the best so
        far; ``None`` if the stopper has no ``improved`` method) and stop.

    Raises:
        RuntimeError: a loss became NaN or infinite (the epoch is named). Checked
            once per epoch, so that steps need no GPU sync; the epochs finished
            before are in the exception's ``history`` attribute.
    """
    config = config or TrainConfig()
    device = pick_device(config.device)
    model.to(device)
    scaler = torch.amp.GradScaler(device.type) if config.amp == "fp16" else None
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    stepwise = scheduler is not None and not plateau and config.scheduler_interval == "step"
    per_step = scheduler if stepwise else None
    writer = None
    if config.log_dir is not None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise RuntimeError(
                f"log_dir={config.log_dir!r} needs TensorBoard: pip install tensorboard"
            ) from err
        writer = SummaryWriter(config.log_dir)
    history = []
    try:
        for epoch in range(config.epochs):
            train = train_one_epoch(
                model, train_loader, loss_fn, optimizer, device=device, scaler=scaler,
                amp=config.amp, accumulation_steps=config.accumulation_steps,
                clip_grad_norm=config.clip_grad_norm, scheduler=per_step, progress=config.progress,
            )
            val = evaluate(model, val_loader, loss_fn, device=device, amp=config.amp)
            if not (math.isfinite(train["loss"]) and math.isfinite(val["loss"])):
                err = RuntimeError(
                    f"epoch {epoch}: loss is not finite (train {train['loss']}, val {val['loss']}); "
                    "lower the learning rate, clip gradients, or use bf16 instead of fp16"
                )
                err.history = history  # type: ignore[attr-defined]
                raise err
            if scheduler is not None and plateau:
                scheduler.step(val["loss"])
            elif scheduler is not None and per_step is None:
                scheduler.step()
            record = {"epoch": epoch, "train_loss": train["loss"], "val_loss": val["loss"],
                      "val_accuracy": val["accuracy"], "lr": optimizer.param_groups[0]["lr"],
                      "grad_norm": train["grad_norm"], "lrs": train["lrs"]}
            if early_stopping is not None:
                # stepped before on_epoch_end, so a checkpoint saved there holds this
                # epoch's counters, and knows whether this epoch is the best so far
                improved = getattr(early_stopping, "improved", None)
                record["is_best"] = bool(improved(val["loss"])) if improved else None
                record["stop"] = bool(early_stopping.step(val["loss"]))
            history.append(record)
            if writer is not None:
                for key in ("train_loss", "val_loss", "val_accuracy", "lr", "grad_norm"):
                    writer.add_scalar(key, record[key], epoch)
            if on_epoch_end is not None:
                on_epoch_end(record)
            if record.get("stop"):
                break
    finally:
        if writer is not None:
            writer.close()
    return history
