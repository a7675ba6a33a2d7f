"""Checkpoints that survive a kill at any moment, and never execute pickled code.

A checkpoint file is ``MAGIC | sha256 of the payload (64 hex chars) | payload``,
where the payload is what ``torch.save`` writes. Saving goes to a temporary file
in the same directory, which is flushed, ``fsync``-ed and renamed over the target
with ``os.replace`` (atomic on POSIX), then the directory itself is ``fsync``-ed:
a crash leaves either the previous file or the new one, never half of one. On
load, the checksum catches truncated or corrupted files, and ``torch.load`` runs
with ``weights_only=True``, which refuses anything but tensors and plain
containers (a malicious pickle cannot run code).

:class:`CheckpointManager` keeps the last *k* checkpoints plus the best one and
resumes from the newest readable checkpoint, reporting (by path) any it skips.

Examples:
    >>> import tempfile, torch
    >>> d = tempfile.mkdtemp()
    >>> mgr = CheckpointManager(d, keep_last=2)
    >>> path = mgr.save({"w": torch.ones(2)}, step=1)
    >>> path.name, mgr.load_latest()[1]["w"].tolist()
    ('ckpt-00000001.pt', [1.0, 1.0])
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "CheckpointError",
    "CheckpointManager",
    "atomic_write_bytes",
    "capture_rng_state",
    "read_checkpoint",
    "restore_rng_state",
    "unwrap_model",
    "write_checkpoint",
]

log = logging.getLogger(__name__)

MAGIC = b"TUTCKPT1"
_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, corrupted, or does not fit the model."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one.

    Args:
        path: destination; its directory must exist.
        data: the complete contents.

    Returns:
        The destination path.

    Raises:
        FileNotFoundError: the destination directory does not exist (named).
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"checkpoint directory {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
    os.replace(tmp, path)  # atomic: readers see the old file or the new one
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)
    return path


def write_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Serialize ``state`` with ``torch.save``, prefix magic and checksum, write atomically."""
    buf = io.BytesIO()
    torch.save(dict(state), buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode("ascii")
    return atomic_write_bytes(path, MAGIC + digest + payload)


def read_checkpoint(path: str | os.PathLike, map_location: Any = None) -> dict[str, Any]:
    """Verify and load a checkpoint written by :func:`write_checkpoint`.

    Args:
        path: the checkpoint file.
        map_location: passed to ``torch.load`` (e.g. ``"cpu"`` to load CUDA tensors on CPU).

    Raises:
        CheckpointError: the file is missing, not a checkpoint, truncated or
            corrupted (checksum mismatch), or holds anything but tensors and plain
            data (``weights_only=True`` refused it). The message names the file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read checkpoint ({err.strerror})") from err
    head = len(MAGIC) + 64
    if len(raw) < head or not raw.startswith(MAGIC):
        raise CheckpointError(f"{path}: not a checkpoint of this format (or truncated to {len(raw)} bytes)")
    digest, payload = raw[len(MAGIC) : head], raw[head:]
    if hashlib.sha256(payload).hexdigest().encode("ascii") != digest:
        raise CheckpointError(f"{path}: checksum mismatch: the file is truncated or corrupted")
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as err:  # UnpicklingError for refused globals, RuntimeError for bad zips
        raise CheckpointError(f"{path}: refused by torch.load(weights_only=True): {err}") from err


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module under ``torch.compile`` (``_orig_mod``) and DDP/DataParallel (``module``)."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        else:
            return model


def capture_rng_state() -> dict[str, Any]:
    """The state of every random generator a training step may draw from.

    Python's ``random``, NumPy's global generator, torch's CPU generator and every
    CUDA device's generator, in a form ``torch.load(weights_only=True)`` accepts.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the generators captured by :func:`capture_rng_state`."""
    random.setstate(_to_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_tuple(x: Any) -> Any:
    return tuple(_to_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


class CheckpointManager:
    """Numbered checkpoints in one directory: keep the last *k*, track the best, resume safely.

    Args:
        directory: where ``ckpt-<step>.pt`` and ``best.pt`` live (created if missing).
        keep_last: how many numbered checkpoints to keep (older ones are deleted
            after a newer one is safely on disk).

    Raises:
        ValueError: ``keep_last`` is smaller than 1.
    """

    def __init__(self, directory: str | os.PathLike, keep_last: int = 3) -> None:
        if keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {keep_last}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.keep_last = keep_last
        self.skipped: list[tuple[Path, str]] = []

    def checkpoints(self) -> list[Path]:
        """Numbered checkpoint files, oldest first."""
        found = [p for p in self.directory.iterdir() if _NAME.match(p.name)]
        return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))

    def save(self, state: Mapping[str, Any], step: int, is_best: bool = False) -> Path:
        """Write ``ckpt-<step>.pt`` (and ``best.pt`` when ``is_best``), then prune old ones."""
        path = write_checkpoint(self.directory / f"ckpt-{step:08d}.pt", state)
        if is_best:
            write_checkpoint(self.directory / "best.pt", state)
        for old in self.checkpoints()[: -self.keep_last]:
            old.unlink(missing_ok=True)
        for stale in self.directory.glob(".ckpt-*.tmp-*"):  # left by a process killed mid-save
            if stale.stat().st_mtime < path.stat().st_mtime:
                stale.unlink(missing_ok=True)
        return path

    def load_latest(self, map_location: Any = None) -> tuple[Path, dict[str, Any]] | None:
        """The newest checkpoint that verifies, or ``None`` if there is none.

        Unreadable checkpoints are skipped with a warning naming each file (also
        kept in :attr:`skipped`), so a run resumes from the previous good one.
        """
        for path in reversed(self.checkpoints()):
            try:
                return path, read_checkpoint(path, map_location)
            except CheckpointError as err:
                log.warning("skipping unreadable checkpoint: %s", err)
                self.skipped.append((path, str(err)))
        return None

    def load_best(self, map_location: Any = None) -> dict[str, Any]:
        """The state saved with ``is_best=True``.

        Raises:
            CheckpointError: no best checkpoint was saved yet, or it is unreadable.
        """
        return read_checkpoint(self.directory / "best.pt", map_location)


def load_model_state(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "") -> None:
    """``load_state_dict(strict=True)`` with an error that lists what does not match.

    Raises:
        CheckpointError: keys are missing or unexpected, or a tensor's shape differs;
            the message names the keys (and the checkpoint, via ``source``).
    """
    model = unwrap_model(model)
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state_dict)) if own[k].shape != state_dict[k].shape]
    if missing or unexpected or shapes:
        where = f"{source}: " if source else ""
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:8]}{' …' if len(missing) > 8 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:8]}{' …' if len(unexpected) > 8 else ''}")
        if shapes:
            parts.append("shape mismatches " + "; ".join(shapes[:8]))
        raise CheckpointError(f"{where}checkpoint does not fit {type(model).__name__}: " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)
