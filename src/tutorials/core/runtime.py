"""Device selection and a short report of the environment.

Introduced in Lecture 1; also used by Lectures 2, 3, 5, 6, 7, 8, 9, 12, 14, 16, 17, 21, 22, 23, 26.

Examples:
    >>> from tutorials.core.runtime import pick_device
    >>> pick_device("cpu")
    device(type='cpu')
"""

from __future__ import annotations

import platform

import torch

__all__ = ["DEVICE_CHOICES", "describe_environment", "device_label", "pick_device"]

#: Values accepted by every ``--device`` flag in the labs.
DEVICE_CHOICES = ("auto", "cpu", "cuda")


def pick_device(name: str = "auto") -> torch.device:
    """Turn a ``--device`` value into a ``torch.device``.

    Args:
        name: ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.

    Returns:
        The device to run on.

    Raises:
        ValueError: ``name`` is not one of :data:`DEVICE_CHOICES`.
        RuntimeError: ``"cuda"`` was asked for on a machine without a usable GPU.
    """
    if name not in DEVICE_CHOICES:
        raise ValueError(f"--device must be one of {DEVICE_CHOICES}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "--device cuda was requested but torch.cuda.is_available() is False "
            f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); "
            "use --device cpu or --device auto"
        )
    return torch.device(name)


def device_label(device: torch.device | str) -> str:
    """Human-readable name of a device: ``"CPU"`` or the GPU's product name."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type.upper()


def describe_environment() -> dict[str, str]:
    """Versions and hardware that a benchmark figure depends on.

    Returns:
        A flat dict (python, torch, cuda, device, threads) suitable for printing
        or for storing next to measured results.
    """
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "none",
        "device": device_label(pick_device("auto")),
        "cpu threads": str(torch.get_num_threads()),
    }
