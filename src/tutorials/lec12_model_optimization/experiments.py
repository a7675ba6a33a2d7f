"""Controlled training runs: one digits MLP, trained again and again with one thing changed.

Lecture 12 and its labs compare optimizers, learning-rate schedules, clipping,
accumulation and mixed precision. A comparison is fair when everything but the
one setting stays the same, so every run goes through :func:`train_run`: the
same model (:func:`make_model`), from the same initial weights when given, on the
same batches in the same order (:class:`tutorials.core.batches.Batches`), trained
by :func:`tutorials.lec12_model_optimization.training.fit`.

* :func:`make_model`: the MLP of the chapter, its labs and its search objective:
  64 pixels → hidden → hidden → 10 classes, with dropout.
* :func:`train_run` and :func:`final`: one run, which records the learning rate of
  every optimizer step and reports a loss that turned NaN instead of raising.
* :func:`optimizer_factories`, :data:`SCHEDULES`, :func:`warmup_cosine`: the
  optimizers and schedules compared.
* :func:`manual_accumulation` and :func:`max_param_diff`: the textbook
  accumulation loop that ``fit``'s weighted accumulation is compared with.

Examples:
    >>> import torch
    >>> from tutorials.core.datasets import digits_split
    >>> data = digits_split(seed=0)
    >>> run = train_run(data, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), epochs=1,
    ...                 batch_size=64, seed=0, device=torch.device("cpu"))
    >>> len(run["history"]), len(run["lrs"]), run["error"]  # 1,438 samples: 23 steps
    (1, 23, None)
    >>> final(run, "val_accuracy") > 0.5
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from tutorials.core.batches import Batches
from tutorials.lec12_model_optimization.training import TrainConfig, fit

__all__ = [
    "SCHEDULES",
    "Data",
    "final",
    "make_model",
    "manual_accumulation",
    "max_param_diff",
    "optimizer_factories",
    "train_run",
    "warmup_cosine",
]

Data = tuple[Tensor, Tensor, Tensor, Tensor]  # x_train, y_train, x_val, y_val
OptimizerFn = Callable[[list[nn.Parameter]], torch.optim.Optimizer]
SchedulerFn = Callable[[torch.optim.Optimizer, int], object]  # (optimizer, total steps)


def make_model(hidden: int = 128, dropout: float = 0.1) -> nn.Sequential:
    """An MLP 64 → hidden → hidden → 10; dropout makes training draw random numbers.

    With ``dropout=0.0`` the ``Dropout`` layers stay (the layer indices, and so the
    ``state_dict`` keys, are the same) but draw nothing and change nothing.
    """
    return nn.Sequential(
        nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, 10),
    )


def train_run(data: Data, optimizer_fn: OptimizerFn, *, epochs: int, batch_size: int, seed: int,
              device: torch.device, init_state: dict | None = None,
              scheduler_fn: SchedulerFn | None = None, clip: float | None = None,
              accumulation: int = 1, amp: str = "off", hidden: int = 128,
              dropout: float = 0.1) -> dict:
    """Train one model with :func:`~tutorials.lec12_model_optimization.training.fit`; never raise on a NaN.

    The model is built after ``torch.manual_seed(seed)`` (its weights, unless
    ``init_state`` replaces them, and its dropout masks), the training batches come
    from :class:`~tutorials.core.batches.Batches` seeded with ``seed``, and an
    optimizer *step pre-hook* records the LR of every optimizer step.

    Args:
        data: ``(x_train, y_train, x_val, y_val)``, already on ``device``.
        optimizer_fn: builds the optimizer from the list of parameters.
        epochs: passes over the training data.
        batch_size: samples per batch (per micro-batch with ``accumulation``).
        seed: seeds the weights, the dropout masks and the batch order.
        device: where the model trains.
        init_state: initial weights (a ``state_dict`` of :func:`make_model`), or
            ``None`` for the seeded initialization.
        scheduler_fn: builds the LR scheduler from the optimizer and the total
            number of optimizer steps; ``fit`` steps it after every optimizer step.
        clip: max total gradient norm, or ``None``.
        accumulation: micro-batches per optimizer step.
        amp: ``"off"``, ``"bf16"`` or ``"fp16"``.
        hidden: width of the hidden layers.
        dropout: dropout probability.

    Returns:
        ``{"history", "lrs", "error", "model", "seconds"}``: the per-epoch records
        (as far as training got), the LR of every optimizer step, the non-finite
        loss message or ``None``, the trained model and the wall time.
    """
    x_tr, y_tr, x_val, y_val = data
    torch.manual_seed(seed)  # weights (if not given) and dropout masks
    model = make_model(hidden, dropout)
    if init_state is not None:
        model.load_state_dict(init_state)
    model.to(device)
    optimizer = optimizer_fn(list(model.parameters()))
    lrs: list[float] = []
    # the hook runs just before each optimizer.step(): the LR this step uses
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: lrs.append(opt.param_groups[0]["lr"]))
    steps_per_epoch = math.ceil(len(Batches(x_tr, y_tr, batch_size)) / accumulation)
    scheduler = scheduler_fn(optimizer, epochs * steps_per_epoch) if scheduler_fn else None
    config = TrainConfig(epochs=epochs, accumulation_steps=accumulation, clip_grad_norm=clip,
                         amp=amp, device=device.type, progress=False)
    history: list[dict] = []
    error = None
    start = time.perf_counter()
    try:
        fit(model, Batches(x_tr, y_tr, batch_size, seed), Batches(x_val, y_val, 512),
            nn.CrossEntropyLoss(), optimizer, scheduler, config=config, on_epoch_end=history.append)
    except RuntimeError as err:
        if "not finite" not in str(err):
            raise  # only the NaN/inf report of fit is an expected outcome here
        error = str(err).split(";")[0]  # "epoch 3: loss is not finite (train nan, val nan)"
    return {"history": history, "lrs": lrs, "error": error, "model": model,
            "seconds": time.perf_counter() - start}


def final(run: dict, key: str) -> float:
    """The last epoch's value of ``key`` in a :func:`train_run` result, or NaN when the run failed."""
    if run["error"] is not None or not run["history"]:
        return float("nan")
    return float(run["history"][-1][key])


def optimizer_factories(lr: float, adam_lr: float, weight_decay: float) -> dict[str, OptimizerFn]:
    """The four optimizers compared, each as a function of the parameters.

    Args:
        lr: learning rate of SGD and SGD with momentum (0.9).
        adam_lr: learning rate of Adam and AdamW.
        weight_decay: Adam's L2 term and AdamW's decoupled decay.
    """
    return {
        "SGD": lambda p: torch.optim.SGD(p, lr=lr),
        "SGD+momentum": lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9),
        # the same weight_decay number means different things: an L2 term added to
        # the gradient (Adam, then rescaled per weight) or a shrink of the weights (AdamW)
        "Adam": lambda p: torch.optim.Adam(p, lr=adam_lr, weight_decay=weight_decay),
        "AdamW": lambda p: torch.optim.AdamW(p, lr=adam_lr, weight_decay=weight_decay),
    }


def warmup_cosine(optimizer: torch.optim.Optimizer, total: int,
                  warmup_fraction: float = 0.1) -> torch.optim.lr_scheduler.SequentialLR:
    """Linear warmup from 1 % of the LR, then cosine annealing to 0, over ``total`` steps."""
    warm = max(1, int(warmup_fraction * total))
    sched = torch.optim.lr_scheduler
    return sched.SequentialLR(optimizer, [
        sched.LinearLR(optimizer, start_factor=0.01, end_factor=1.0, total_iters=warm),
        sched.CosineAnnealingLR(optimizer, T_max=max(1, total - warm)),
    ], milestones=[warm])


#: The schedules compared, each called as ``SCHEDULES[name](optimizer, total steps, peak lr)``.
SCHEDULES: dict[str, Callable[[torch.optim.Optimizer, int, float], object]] = {
    "constant": lambda opt, total, lr: torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0),
    "step decay": lambda opt, total, lr: torch.optim.lr_scheduler.StepLR(
        opt, step_size=max(1, total // 3), gamma=0.1),
    "cosine": lambda opt, total, lr: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total),
    "warmup + cosine": lambda opt, total, lr: warmup_cosine(opt, total),
    "OneCycle": lambda opt, total, lr: torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=total),
}


def manual_accumulation(model: nn.Module, batches: Batches, optimizer: torch.optim.Optimizer,
                        k: int, divide_by_k: bool) -> None:
    """One epoch of the textbook accumulation loop (for comparison with ``fit``).

    Every ``k`` micro-batches make one optimizer step; each micro-batch's mean loss
    is divided by ``k`` (``divide_by_k``) or not scaled at all. Both are the usual
    mistakes: dividing by ``k`` is wrong for a short last group, not scaling gives a
    ``k`` times larger gradient.
    """
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    group: list[tuple[Tensor, Tensor]] = []
    for i, batch in enumerate(batches):
        group.append(batch)
        if len(group) == k or i == len(batches) - 1:
            optimizer.zero_grad(set_to_none=True)
            for x, y in group:
                loss = loss_fn(model(x), y)
                (loss / k if divide_by_k else loss).backward()
            optimizer.step()
            group = []


def max_param_diff(a: nn.Module, b: nn.Module) -> float:
    """Largest absolute difference between corresponding parameters."""
    with torch.no_grad():
        return max(float((p - q).abs().max()) for p, q in zip(a.parameters(), b.parameters()))
