"""Pipeline steps that skip themselves when nothing they depend on has changed.

A step is a function with declared inputs: config values and files. Its **key** is
a SHA-256 of those inputs in a canonical form (JSON with sorted keys, each file
replaced by the SHA-256 of its bytes), so it changes when, and only when, a value or
a file's *content* changes: not when a file is touched, renamed elsewhere, or the
dict is built in another order. :class:`StepManifest` keeps, per step, the key of its
last successful run and what it produced; :func:`run_step` runs a step only when its
key differs from the recorded one (or its outputs are gone), and records the new key
after the step succeeded, so a crash in the middle leaves the step to run again.

This is what build systems (make, Bazel), DVC's ``dvc.lock`` and the caching of
Kubeflow Pipelines and Airflow's ``dataset`` triggers do, in a few lines.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> manifest = StepManifest(root / "manifest.json")
    >>> run_step(manifest, "square", {"x": 3}, lambda: {"y": 9}).status
    'ran'
    >>> run_step(manifest, "square", {"x": 3}, lambda: {"y": 9}).status
    'skipped'
    >>> run_step(manifest, "square", {"x": 4}, lambda: {"y": 16}).status
    'ran'
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["StepManifest", "StepResult", "file_digest", "fingerprint", "run_step"]


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, or of a folder's files (relative names and bytes, sorted).

    Args:
        path: a file or a folder.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f.relative_to(path).as_posix().encode() + b"\0")
            digest.update(bytes.fromhex(file_digest(f)))
        return digest.hexdigest()
    if not path.exists():
        raise FileNotFoundError(f"cannot fingerprint {path}: no such file or folder")
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    """Plain JSON data for ``value``: paths become the digest of their content."""
    if isinstance(value, Path):
        return {"file sha256": file_digest(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _canonical(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN would make the JSON invalid
        raise ValueError("cannot fingerprint NaN")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot fingerprint a {type(value).__name__}: use plain data, dataclasses or Paths")


def fingerprint(inputs: Any) -> str:
    """SHA-256 (hex) of ``inputs`` in a canonical form; equal inputs give equal keys in every process.

    ``inputs`` may hold dicts, lists, strings, numbers, booleans, ``None``,
    dataclasses and :class:`~pathlib.Path` objects (hashed by content).
    Python's ``hash()`` would not do: it is salted per process for strings.

    Args:
        inputs: what a step depends on.
    """
    text = json.dumps(_canonical(inputs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclasses.dataclass
class StepResult:
    """What :func:`run_step` did: ``status`` is ``"ran"`` or ``"skipped"``; ``outputs`` as recorded."""

    name: str
    status: str
    key: str
    outputs: dict


class StepManifest:
    """The record of finished steps: a JSON file ``{step: {"key", "outputs", "finished"}}``.

    Writes are atomic (a temporary file in the same folder, then ``os.replace``), so
    a run killed while writing leaves the previous manifest intact.

    Args:
        path: the manifest's file (created on the first record).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def read(self) -> dict:
        """All records (empty when the file does not exist yet)."""
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text(encoding="utf-8"))

    def get(self, step: str) -> dict | None:
        """The record of ``step``, or ``None``."""
        return self.read().get(step)

    def record(self, step: str, key: str, outputs: dict) -> None:
        """Record that ``step`` finished with ``key`` and produced ``outputs`` (JSON-serializable)."""
        records = self.read()
        records[step] = {
            "key": key,
            "outputs": outputs,
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".manifest-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(records, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, self.path)


def run_step(
    manifest: StepManifest,
    name: str,
    inputs: Mapping[str, Any],
    fn: Callable[[], dict],
    still_valid: Callable[[dict], bool] | None = None,
) -> StepResult:
    """Run ``fn`` unless ``manifest`` records a run of ``name`` with the same inputs.

    Args:
        manifest: where finished steps are recorded.
        name: the step's name (part of its key: two steps with equal inputs differ).
        inputs: what the step depends on (see :func:`fingerprint`).
        fn: the step; returns its outputs (JSON-serializable), which later steps read.
        still_valid: checks that a recorded step's outputs still exist (files, a
            registered model); a step whose outputs are gone runs again.

    Returns:
        A :class:`StepResult`; on a skip its ``outputs`` are the recorded ones.
    """
    key = fingerprint({"step": name, "inputs": inputs})
    previous = manifest.get(name)
    if previous is not None and previous["key"] == key:
        if still_valid is None or still_valid(previous["outputs"]):
            return StepResult(name, "skipped", key, previous["outputs"])
    outputs = fn()
    manifest.record(name, key, outputs)  # only after the step succeeded
    return StepResult(name, "ran", key, outputs)
