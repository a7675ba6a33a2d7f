"""Training tools of Lecture 23's transfer-learning labs (23.1 and 23.2).

* :func:`new_head` / :func:`freeze_backbone` / :func:`trainable_names`: replace the
  classifier of a backbone with ``features`` and ``head`` (the course's
  :class:`~tutorials.lec23_computer_vision.backbone.SmallCNN`, or torchvision's
  ResNet-18 through :func:`resnet18_backbone`) and freeze everything but the head.
* :func:`autocast` and :func:`grad_scaler`: mixed precision with ``torch.amp``.
  ``bf16`` autocast runs on CPUs and GPUs and needs no scaler (bfloat16 has float32's
  exponent range, so small gradients do not underflow). ``fp16`` is for CUDA only
  and needs ``torch.amp.GradScaler``: it multiplies the loss by a large factor
  before ``backward`` so that small float16 gradients do not flush to zero, unscales
  the gradients before the optimizer step, skips the step if any gradient is
  ``inf``/``nan``, and adapts the factor (halved after an overflow, doubled after a
  run of good steps). The scaler is created ``enabled`` only for fp16 on CUDA, and
  is a no-op otherwise, so one training loop serves every precision.
* :func:`fit`: epochs of training with a per-epoch LR schedule, validation loss and
  accuracy, the best checkpoint by validation accuracy (``torch.save``, readable
  with ``weights_only=True``), early stopping on the validation loss, and a
  record of what autocast did (the dtype of the logits in training).
* :class:`Augmented`: a dataset wrapper applying a ``torchvision.transforms.v2``
  transform to each image (so every sample gets its own random parameters).
* :func:`plot_curves`: loss, accuracy and learning rate per epoch.

Example:
    >>> from tutorials.lec23_computer_vision.backbone import SmallCNN
    >>> model = new_head(SmallCNN(num_classes=5, widths=(4, 8)), num_classes=3, pool=2)
    >>> freeze_backbone(model)
    ['head.2.bias', 'head.2.weight']
    >>> model(torch.zeros(1, 1, 16, 16)).shape
    torch.Size([1, 3])
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

__all__ = [
    "AMP_DTYPES",
    "Augmented",
    "autocast",
    "digits_augmentation",
    "evaluate_loss_accuracy",
    "fit",
    "freeze_backbone",
    "grad_scaler",
    "load_checkpoint",
    "new_head",
    "plot_curves",
    "resnet18_backbone",
    "trainable_names",
]

#: ``--precision`` values and the autocast dtype of each (``None``: no autocast).
AMP_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def new_head(model: nn.Module, num_classes: int, pool: int = 1) -> nn.Module:
    """Replace ``model.head`` with a new, randomly initialised classifier for ``num_classes``.

    With ``pool=1`` the head is one ``nn.Linear`` on the backbone's globally pooled
    features. With ``pool=p > 1`` the backbone's trailing global pooling (a
    parameter-free ``AdaptiveAvgPool2d(1)`` + ``Flatten``) moves out of ``features`` and
    the head becomes ``AdaptiveAvgPool2d(p)``, ``Flatten``, ``nn.Linear(C * p * p,
    num_classes)``: it sees *where* in the image each feature fired (a coarse p × p
    grid), which a global average throws away. The backbone's parameters and their
    names are unchanged either way.

    Args:
        model: a module with ``features`` (ending in global pooling when ``pool > 1``) and ``head``.
        num_classes: outputs of the new head.
        pool: side of the pooled grid the head reads.

    Returns:
        The same model, changed in place.

    Raises:
        ValueError: ``pool > 1`` but ``features`` does not end in ``AdaptiveAvgPool2d(1)``, ``Flatten``.
    """
    device = next(model.parameters()).device
    if pool == 1:
        model.head = nn.Linear(model.head.in_features, num_classes).to(device)
        return model
    layers = list(model.features)
    if len(layers) < 2 or not isinstance(layers[-2], nn.AdaptiveAvgPool2d) or not isinstance(
            layers[-1], nn.Flatten):
        raise ValueError("new_head(pool > 1) needs features ending in AdaptiveAvgPool2d(1), Flatten; "
                         f"got {[type(m).__name__ for m in layers[-2:]]}")
    model.features = nn.Sequential(*layers[:-2])
    channels = model.feature_dim
    model.head = nn.Sequential(nn.AdaptiveAvgPool2d(pool), nn.Flatten(),
                               nn.Linear(channels * pool * pool, num_classes)).to(device)
    return model


def trainable_names(model: nn.Module) -> list[str]:
    """Sorted names of the parameters with ``requires_grad=True``."""
    return sorted(name for name, p in model.named_parameters() if p.requires_grad)


def freeze_backbone(model: nn.Module, frozen: bool = True) -> list[str]:
    """Freeze (or unfreeze) ``model.features``; the head stays trainable.

    ``requires_grad=False`` stops gradients, not batch-norm statistics: :func:`fit`
    also keeps a frozen backbone in ``eval()`` mode, so its running means do not drift.

    Returns:
        The names of the trainable parameters afterwards.
    """
    for p in model.features.parameters():
        p.requires_grad_(not frozen)
    for p in model.head.parameters():
        p.requires_grad_(True)
    model.backbone_frozen = frozen
    return trainable_names(model)


class _ResNetFeatures(nn.Module):
    """ResNet-18 without its ``fc``: one channel repeated to three, then pooled features."""

    def __init__(self, resnet: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(*(m for name, m in resnet.named_children() if name != "fc"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:  # grey digits -> the three channels ImageNet models expect
            x = x.expand(-1, 3, -1, -1)
        return self.body(x).flatten(1)


class _FeaturesHead(nn.Module):
    def __init__(self, features: nn.Module, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.features, self.feature_dim = features, feature_dim
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def resnet18_backbone(num_classes: int, imagenet_weights: bool = False) -> nn.Module:
    """Torchvision's ResNet-18 as ``features`` + ``head``, optionally with ImageNet weights.

    ``imagenet_weights=True`` is the path for readers online: it passes
    ``weights=ResNet18_Weights.IMAGENET1K_V1``, which **downloads** the weights (about
    45 MB) to the torch hub cache on first use. Its ``fc`` is replaced by the new head.
    """
    from torchvision.models import ResNet18_Weights, resnet18

    weights = ResNet18_Weights.IMAGENET1K_V1 if imagenet_weights else None
    resnet = resnet18(weights=weights)
    return _FeaturesHead(_ResNetFeatures(resnet), resnet.fc.in_features, num_classes)


def autocast(device: torch.device, precision: str):
    """``torch.autocast`` for ``precision`` (``fp32``: a context that changes nothing)."""
    dtype = AMP_DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A ``torch.amp.GradScaler`` enabled for fp16 on CUDA only (elsewhere its calls pass through)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16" and device.type == "cuda")


class Augmented(Dataset):
    """``dataset`` with ``transform`` applied to each image (labels unchanged)."""

    def __init__(self, dataset: Dataset, transform: Callable | None) -> None:
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        x, y = self.dataset[i]
        return (self.transform(x) if self.transform is not None else x), y


def digits_augmentation(background: float):
    """Small shifts, rotations and zooms for digit images, the empty border filled with ``background``.

    No horizontal flip: a mirrored digit is not the same digit (flips suit photos, not
    characters). No colour jitter either: v2's jitter clamps float images to [0, 1],
    and these images are normalised (negative background).
    """
    from torchvision.transforms import v2

    return v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), fill=background)


@torch.no_grad()
def evaluate_loss_accuracy(model: nn.Module, loader: DataLoader, device: torch.device,
                           precision: str = "fp32") -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` over ``loader`` (eval mode, restored after)."""
    was_training = model.training
    model.eval()
    total, correct, n = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        with autocast(device, precision):
            logits = model(x)
        total += F.cross_entropy(logits.float(), y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
    model.train(was_training)
    return total / max(n, 1), correct / max(n, 1)


def load_checkpoint(model: nn.Module, path: str | Path) -> dict:
    """Load a checkpoint written by :func:`fit` into ``model`` (``weights_only=True``); return its record."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    return {k: v for k, v in checkpoint.items() if k != "model"}


def fit(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader, *,
        optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler | None,
        epochs: int, device: torch.device,
        precision: str = "fp32", checkpoint: str | Path | None = None, patience: int | None = None,
        log: Callable[[str], None] | None = None) -> dict:
    """Train for up to ``epochs``; keep the best checkpoint by validation accuracy.

    Each epoch: training with autocast (``precision``) and a ``GradScaler`` (enabled for
    fp16 on CUDA), ``scheduler.step()`` once, validation. A frozen backbone
    (:func:`freeze_backbone`) stays in eval mode. The checkpoint file holds
    ``{"model": state_dict, "epoch": int, "val_accuracy": float, "val_loss": float}``.

    Args:
        model: the network (already on ``device``).
        train_loader: training batches ``(x, y)``.
        val_loader: validation batches.
        optimizer: over the trainable parameters.
        scheduler: an LR scheduler stepped once per epoch (or ``None``).
        epochs: the most epochs.
        device: where to train.
        precision: ``fp32``, ``bf16`` or ``fp16`` (see :data:`AMP_DTYPES`).
        checkpoint: where to save the best model (``None``: keep a copy in memory only).
        patience: stop after this many epochs without a lower validation loss (``None``: never).
        log: called with one line per epoch.

    Returns:
        ``history`` (one dict per epoch: ``lrs`` at the start of the epoch, train and val
        loss/accuracy, seconds), ``best_epoch``, ``best_val_accuracy``, ``stopped_early``
        (the epoch it stopped after, or ``None``), ``logits_dtype`` (of the training
        forward, e.g. ``torch.bfloat16`` under bf16 autocast), ``scaler_enabled``,
        ``best_state`` (the best weights, on the CPU) and ``seconds``.
    """
    if precision not in AMP_DTYPES:
        raise ValueError(f"precision must be one of {', '.join(AMP_DTYPES)}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"precision fp16 needs CUDA, the device is {device.type}: use bf16 or fp32")
    scaler = grad_scaler(device, precision)
    history: list[dict] = []
    best_acc, best_epoch, best_state = -math.inf, None, None
    best_loss, since_best_loss, stopped = math.inf, 0, None
    logits_dtype = None
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        lrs = [g["lr"] for g in optimizer.param_groups]
        model.train()
        if getattr(model, "backbone_frozen", False):
            model.features.eval()  # frozen: no batch-norm statistics updates either
        total, correct, n = 0.0, 0, 0
        for x, y in train_loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast(device, precision):
                logits = model(x)
                loss = F.cross_entropy(logits, y)  # autocast runs cross_entropy in float32
            logits_dtype = logits.dtype
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()  # disabled scaler: scale() returns the loss unchanged
            scaler.step(optimizer)         # unscales, skips the step on inf/nan gradients
            scaler.update()                # adapts the scale factor
            total += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
        if scheduler is not None:
            scheduler.step()
        val_loss, val_acc = evaluate_loss_accuracy(model, val_loader, device, precision)
        record = {"epoch": epoch, "lrs": lrs, "train_loss": total / max(n, 1),
                  "train_accuracy": correct / max(n, 1), "val_loss": val_loss, "val_accuracy": val_acc,
                  "seconds": time.perf_counter() - t0}
        history.append(record)
        improved = val_acc > best_acc
        if improved:
            best_acc, best_epoch = val_acc, epoch
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            if checkpoint is not None:
                Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
                torch.save({"model": best_state, "epoch": epoch, "val_accuracy": val_acc,
                            "val_loss": val_loss}, checkpoint)
        if log is not None:
            log(f"   epoch {epoch:2d}  lr {lrs[-1]:.2e}  train loss {record['train_loss']:.3f}  "
                f"val loss {val_loss:.3f}  val acc {val_acc:.3f}{'  *best' if improved else ''}")
        if val_loss < best_loss:
            best_loss, since_best_loss = val_loss, 0
        else:
            since_best_loss += 1
            if patience is not None and since_best_loss >= patience:
                stopped = epoch
                if log is not None:
                    log(f"   early stop: no lower val loss for {patience} epoch(s)")
                break
    return {"history": history, "best_epoch": best_epoch, "best_val_accuracy": best_acc,
            "stopped_early": stopped, "logits_dtype": logits_dtype, "scaler_enabled": scaler.is_enabled(),
            "best_state": best_state, "seconds": time.perf_counter() - start}


def plot_curves(runs: dict[str, list[dict]], path: str | Path | None = None):
    """Loss, accuracy and learning rate per epoch for each named run; save as PNG if ``path``."""
    import sys

    import matplotlib

    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(1, 3, figsize=(12, 3.4))
    for i, (name, history) in enumerate(runs.items()):
        epochs = [h["epoch"] for h in history]
        colour = f"C{i}"
        ax_loss.plot(epochs, [h["train_loss"] for h in history], color=colour, linestyle="--",
                     label=f"{name}: train")
        ax_loss.plot(epochs, [h["val_loss"] for h in history], color=colour, marker="o", label=f"{name}: val")
        ax_acc.plot(epochs, [h["val_accuracy"] for h in history], color=colour, marker="o", label=name)
        for g in range(len(history[0]["lrs"])):
            ax_lr.plot(epochs, [h["lrs"][g] for h in history], color=colour, marker=".",
                       linestyle="-" if g == len(history[0]["lrs"]) - 1 else ":",
                       label=f"{name}: group {g}")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="validation accuracy")
    ax_lr.set(xlabel="epoch", ylabel="learning rate", title="learning rate", yscale="log")
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
