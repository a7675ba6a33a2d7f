"""Self-checks for the exercises of Lecture 18.

Each ``check_...`` takes your answer, tries it on inputs it builds itself, prints a
line starting with ✓ when it is right, and raises an ``AssertionError`` that says what
is wrong, with a hint, when it is not.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tutorials.lec18_mlops.drift import psi

__all__ = ["RERUN_CHANGES", "check_cache_key", "check_psi", "check_rerun_plan"]


def check_cache_key(key: Callable[[dict], str]) -> None:
    """Exercise 1: ``key(inputs)`` is a step's cache key.

    It must return a hex string that is the same for equal inputs in any key order and
    in any process, and that changes when a value changes or when a file (a
    :class:`~pathlib.Path` value) gets other bytes, but not when a file is only touched.
    """
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rows.csv"
        data.write_text("1,2,3\n")
        a = key({"lr": 0.01, "epochs": 5, "data": data})
        assert isinstance(a, str) and len(a) >= 32 and all(c in "0123456789abcdef" for c in a.lower()), (
            f"key() returned {a!r}: return a hex digest (hashlib.sha256(...).hexdigest()); Python's hash() "
            "is salted per process for strings, so a key made with it never matches in the next run"
        )
        b = key({"data": data, "epochs": 5, "lr": 0.01})
        assert a == b, (
            "the same inputs in another key order gave another key: sort the keys (json.dumps(..., "
            "sort_keys=True))"
        )
        assert key({"lr": 0.02, "epochs": 5, "data": data}) != a, "changing lr did not change the key"
        stat = data.stat()
        os.utime(data, ns=(stat.st_atime_ns + 10**9, stat.st_mtime_ns + 10**9))
        assert key({"lr": 0.01, "epochs": 5, "data": data}) == a, (
            "touching the file (a new modification time, the same bytes) changed the key: hash the file's "
            "bytes, not its modification time"
        )
        data.write_text("1,2,3\n4,5,6\n")
        assert key({"lr": 0.01, "epochs": 5, "data": data}) != a, (
            "the file got new content but the key stayed the same: hash the file's bytes "
            "(hashlib.sha256(path.read_bytes())), not its name"
        )
    print("✓ the key ignores key order and file times, and follows every value and every file's bytes")


def check_psi(fn: Callable[[np.ndarray, np.ndarray], float]) -> None:
    """Exercise 2: ``fn(reference, current)`` computes the PSI with 10 bins at the reference's deciles."""
    rng = np.random.default_rng(18)
    reference = rng.normal(0.3, 0.05, 2000)
    cases = {
        "the same distribution": rng.normal(0.3, 0.05, 1000),
        "a shifted one": rng.normal(0.33, 0.05, 1000),
        "a batch far outside the reference's range": rng.normal(0.9, 0.01, 500),
    }
    for name, current in cases.items():
        got = float(fn(reference, current))
        assert math.isfinite(got), (
            f"PSI on {name} is {got}: a bin with no samples gives log(0); clip each proportion to a small "
            "epsilon (1e-4) before the logarithm"
        )
        assert got >= -1e-12, (
            f"PSI on {name} is {got:.4f} < 0: PSI is sum((c - r) * log(c / r)), never negative"
        )
        want = psi(reference, current)
        assert abs(got - want) < 1e-6 * max(1.0, want), (
            f"PSI on {name}: got {got:.4f}, expected {want:.4f}; cut 10 bins at the reference's deciles "
            "(np.quantile(reference, np.linspace(0, 1, 11))), with the outer edges at -inf and +inf so "
            "values outside the reference's range are counted"
        )
    print("✓ PSI matches on a stable batch, a shifted batch and a batch outside the reference's range")


RERUN_CHANGES = (
    "val_fraction=0.25",
    "min_accuracy=0.8",
    "model_name='digits-cnn'",
    "touch raw/batch-000.npy",
)

_PLAN = {
    "val_fraction=0.25": {"prepare", "train", "evaluate", "register", "deploy"},
    "min_accuracy=0.8": {"register"},
    "model_name='digits-cnn'": {"register", "deploy"},
    "touch raw/batch-000.npy": set(),
}
_WHY = {
    "val_fraction=0.25": "prepare reads val_fraction; new splits change the inputs of every later step",
    "min_accuracy=0.8": "only register reads min_accuracy; the model still passes, the champion is "
    "unchanged, so deploy's inputs are the same",
    "model_name='digits-cnn'": "register and deploy read model_name: a new registered model gets version 1 "
    "and its own champion; prepare, train and evaluate do not read it",
    "touch raw/batch-000.npy": "keys hash the file's bytes, not its modification time: nothing runs",
}


def check_rerun_plan(answer: dict[str, set[str]]) -> None:
    """Exercise 3: for each change in :data:`RERUN_CHANGES`, the set of steps that run (the others skip)."""
    missing = [c for c in RERUN_CHANGES if c not in answer]
    assert not missing, f"answer every change; missing: {missing}"
    for change in RERUN_CHANGES:
        got = set(answer[change])
        unknown = got - {"prepare", "train", "evaluate", "register", "deploy"}
        assert not unknown, f"{change}: unknown steps {sorted(unknown)}"
        assert got == _PLAN[change], (
            f"{change}: you said {sorted(got) or 'nothing'} runs, "
            f"but {sorted(_PLAN[change]) or 'nothing'} does. "
            f"Hint: {_WHY[change]} (STEP_FIELDS lists what each step reads)"
        )
    print(
        "✓ all four plans are right: a step runs when a config field it reads, a file's bytes or an "
        "upstream output changes"
    )
