"""Train until something is non-finite, then replay the failing step and say where it came from.

The procedure of Lecture 26, sections 2–4, as functions the lab ``lab_26_nan_hunt`` runs:

1. :func:`train_until_nonfinite` trains a small sequence classifier, logging the loss and
   the total gradient norm of every step, and keeping the weights and the batch of the
   current step; it stops at the first step whose loss or gradient norm is not finite.
2. :func:`diagnose` replays that step from the kept weights and batch: the forward pass
   under :func:`~tutorials.lec26_debugging_hpc.nonfinite.first_nonfinite` (which module
   returned NaN/Inf first), and, if the forward pass was finite, the backward pass under
   ``torch.autograd.detect_anomaly`` (which backward function, made by which forward line).
3. :func:`first_spike` finds where the gradient norm jumped, often steps before anything
   was non-finite.

:data:`FAULTS` are the injected causes: ``bad-batch`` (a batch whose features are 10,000 times
too large at ``fault_step``), ``empty-sequence`` (a sequence with no real token at ``fault_step``:
softmax over an all ``-inf`` row), ``sqrt-where`` (a feature layer that takes
``where(h > 0, sqrt(h), 0)``: finite forward, NaN backward from the first step) and
``none``.

Examples:
    >>> run = train_until_nonfinite("empty-sequence", steps=20, fault_step=5)
    >>> run.failed_at, run.what
    (5, 'loss')
    >>> diagnose(run)["forward"]["module"]
    'pool'
"""

from __future__ import annotations

import math
import re
import statistics
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tutorials.lec26_debugging_hpc.nonfinite import NonFiniteError, first_nonfinite

__all__ = ["FAULTS", "HuntRun", "SequenceClassifier", "diagnose", "first_spike", "make_batch",
           "train_until_nonfinite"]

FAULTS = ("none", "bad-batch", "empty-sequence", "sqrt-where")
FEATURES, DIM, CLASSES, LENGTH = 8, 32, 3, 12


class AttentionPool(nn.Module):
    """Attention pooling over a padded sequence; padding gets a score of ``-inf``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        scores = self.score(h).squeeze(-1).masked_fill(~mask, float("-inf"))
        return (scores.softmax(dim=-1).unsqueeze(-1) * h).sum(dim=1)


class RootFeatures(nn.Module):
    """``sqrt`` of the positive part, written with one ``where``: its backward is NaN for h < 0."""

    def forward(self, h: Tensor) -> Tensor:
        return torch.where(h > 0, torch.sqrt(h), torch.zeros_like(h))


class SequenceClassifier(nn.Module):
    """Embed tokens, encode them, pool with attention, classify.

    Args:
        root_features: put :class:`RootFeatures` after the encoder (the ``sqrt-where`` fault).
    """

    def __init__(self, root_features: bool = False) -> None:
        super().__init__()
        self.embed = nn.Linear(FEATURES, DIM)
        self.encoder = nn.Sequential(nn.Linear(DIM, DIM), RootFeatures() if root_features else nn.ReLU())
        self.pool = AttentionPool(DIM)
        self.head = nn.Linear(DIM, CLASSES)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return self.head(self.pool(self.encoder(self.embed(x)), mask))


def make_batch(step: int, batch_size: int, seed: int, fault: str = "none", fault_step: int = -1,
               device: torch.device | str = "cpu") -> tuple[Tensor, Tensor, Tensor]:
    """The batch of one step (a function of the arguments): tokens ``(B, T, 8)``, mask, labels.

    The label is which third of the range the mean of the first feature over the
    real tokens falls in, so the task can be learned.

    Args:
        step: the training step.
        batch_size: sequences per batch.
        seed: the run's seed.
        fault: one of :data:`FAULTS`; ``bad-batch`` and ``empty-sequence`` change the
            batch of ``fault_step``.
        fault_step: the step whose batch is corrupted.
        device: where the tensors go.

    Returns:
        ``(x, mask, y)``.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    x = torch.randn(batch_size, LENGTH, FEATURES, generator=g)
    lengths = torch.randint(1, LENGTH + 1, (batch_size,), generator=g)
    mask = torch.arange(LENGTH) < lengths[:, None]
    mean = (x[..., 0] * mask).sum(1) / lengths
    y = torch.bucketize(mean, torch.tensor([-0.25, 0.25]))
    if step == fault_step and fault == "bad-batch":
        x *= 1e4  # a shard of data in the wrong unit: features 10,000 times too large
    if step == fault_step and fault == "empty-sequence":
        mask[0] = False  # a sequence without a single real token
    return x.to(device), mask.to(device), y.to(device)


@dataclass
class HuntRun:
    """What :func:`train_until_nonfinite` saw.

    Attributes:
        fault: the injected fault.
        history: ``[(step, loss, grad_norm)]``, the last one non-finite if the run failed.
        failed_at: the first step with a non-finite loss or gradient norm, or ``None``.
        what: ``"loss"`` (the forward pass) or ``"gradient"`` (the loss was finite), or ``None``.
        state: the model's weights before the failing step (or the last step).
        batch: the failing step's batch.
    """

    fault: str
    history: list[tuple[int, float, float]] = field(default_factory=list)
    failed_at: int | None = None
    what: str | None = None
    state: dict[str, Tensor] = field(default_factory=dict)
    batch: tuple[Tensor, Tensor, Tensor] | None = None
    device: str = "cpu"


def train_until_nonfinite(fault: str, steps: int, fault_step: int, *, batch_size: int = 32, lr: float = 0.05,
                          seed: int = 0, device: torch.device | str = "cpu") -> HuntRun:
    """Train with SGD for ``steps`` steps, or until the loss or the gradient norm is not finite.

    Args:
        fault: one of :data:`FAULTS`.
        steps: the most steps to run.
        fault_step: the step whose batch the fault corrupts.
        batch_size: sequences per batch.
        lr: the SGD learning rate.
        seed: seeds the weights and the batches.
        device: where to train.

    Returns:
        The run, with the weights and batch of the failing step kept for :func:`diagnose`.

    Raises:
        ValueError: an unknown fault.
    """
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; expected one of {', '.join(FAULTS)}")
    torch.manual_seed(seed)
    model = SequenceClassifier(root_features=fault == "sqrt-where").to(device)
    run = HuntRun(fault, device=str(device))
    for step in range(steps):
        batch = make_batch(step, batch_size, seed, fault, fault_step, device)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}  # before the step
        loss = F.cross_entropy(model(batch[0], batch[1]), batch[2])
        model.zero_grad()
        loss.backward()
        norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
        run.history.append((step, loss.item(), norm.item()))
        run.state, run.batch = state, batch
        if not math.isfinite(loss.item()) or not math.isfinite(norm.item()):
            run.failed_at, run.what = step, "loss" if not math.isfinite(loss.item()) else "gradient"
            break
        with torch.no_grad():  # plain SGD, written out
            for p in model.parameters():
                p -= lr * p.grad
    return run


def first_spike(history: list[tuple[int, float, float]], factor: float = 100.0,
                warmup: int = 5) -> int | None:
    """The first step whose gradient norm exceeds ``factor`` times the median of the steps before it.

    Args:
        history: ``[(step, loss, grad_norm)]``.
        factor: how many times the median counts as a spike.
        warmup: steps before any spike is reported (the median needs a few values).

    Returns:
        The step, or ``None`` (no finite spike: a run that fails at once has none).
    """
    norms: list[float] = []
    for step, _, norm in history:
        if len(norms) >= warmup and math.isfinite(norm) and norm > factor * statistics.median(norms):
            return step
        norms.append(norm)
    return None


def diagnose(run: HuntRun) -> dict[str, Any]:
    """Replay the failing step of ``run`` with the forward hooks, then with anomaly mode.

    Args:
        run: a run from :func:`train_until_nonfinite`.

    Returns:
        ``{"failed_at", "what", "spike_at", "forward", "backward", "overflow"}``;
        ``forward`` is ``None`` or the first module that returned NaN/Inf (``module``,
        ``kind``, ``nan``, ``inf``, ``inputs_finite``); ``backward`` is ``None`` or the
        backward function that returned NaN (``function``) with the innermost forward
        frame that created it (``forward_file``, ``forward_function``,
        ``forward_line``); ``overflow`` lists the parameters whose gradients are Inf
        when the replayed backward made no NaN (``[]`` if only the norm overflowed).
    """
    out: dict[str, Any] = {"failed_at": run.failed_at, "what": run.what, "spike_at": first_spike(run.history),
                           "forward": None, "backward": None, "overflow": None}
    if run.failed_at is None or run.batch is None:
        return out
    model = SequenceClassifier(root_features=run.fault == "sqrt-where").to(run.device)
    model.load_state_dict(run.state)
    x, mask, y = run.batch
    try:
        with first_nonfinite(model):
            loss = F.cross_entropy(model(x, mask), y)
    except NonFiniteError as err:
        out["forward"] = {"module": err.module, "kind": err.kind, "nan": err.nan, "inf": err.inf,
                          "inputs_finite": err.inputs_finite}
        return out
    if not math.isfinite(loss.item()):  # the loss function itself made it (no module did)
        out["forward"] = {"module": "(loss)", "kind": "cross_entropy", "nan": 1, "inf": 0,
                          "inputs_finite": True}
        return out
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with torch.autograd.detect_anomaly():  # raises at the first backward function returning NaN
                F.cross_entropy(model(x, mask), y).backward()
        except RuntimeError as err:
            function = re.search(r"Function '(\w+)'", str(err))
            note = next((str(w.message) for w in caught if "Error detected in" in str(w.message)), "")
            frames = re.findall(r'File "([^"]*)", line \d+, in (\w+)\n\s*(.*)', note)
            out["backward"] = {"function": function.group(1) if function else str(err),
                               "forward_file": Path(frames[-1][0]).name if frames else None,
                               "forward_function": frames[-1][1] if frames else None,
                               "forward_line": frames[-1][2].strip() if frames else None}
            return out
    # no NaN anywhere: the gradients overflowed to Inf (anomaly mode checks for NaN only)
    out["overflow"] = [name for name, p in model.named_parameters()
                       if p.grad is not None and not torch.isfinite(p.grad).all()]
    return out
