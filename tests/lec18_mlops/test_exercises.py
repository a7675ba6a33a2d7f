"""Each self-check passes a right answer and rejects the anticipated wrong ones with its hint."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from tutorials.lec18_mlops import exercises as ex
from tutorials.lec18_mlops.drift import psi


def good_key(inputs):
    def plain(value):
        return hashlib.sha256(value.read_bytes()).hexdigest() if isinstance(value, Path) else value

    return hashlib.sha256(
        json.dumps({k: plain(v) for k, v in inputs.items()}, sort_keys=True).encode()
    ).hexdigest()


def test_cache_key_right(capsys):
    ex.check_cache_key(good_key)
    assert capsys.readouterr().out.startswith("✓")


def test_cache_key_python_hash():
    with pytest.raises(AssertionError, match=r"return a hex digest .*hash\(\) is salted per process"):
        ex.check_cache_key(lambda inputs: str(hash(str(sorted(inputs.items(), key=lambda kv: kv[0])))))


def test_cache_key_unsorted_json():
    def unsorted(inputs):
        plain = {
            k: (hashlib.sha256(v.read_bytes()).hexdigest() if isinstance(v, Path) else v)
            for k, v in inputs.items()
        }
        return hashlib.sha256(json.dumps(plain).encode()).hexdigest()

    with pytest.raises(AssertionError, match="sort the keys"):
        ex.check_cache_key(unsorted)


def test_cache_key_path_by_name():
    def by_name(inputs):
        return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()

    with pytest.raises(AssertionError, match="hash the file's bytes .*not its name"):
        ex.check_cache_key(by_name)


def test_cache_key_modification_time():
    def by_mtime(inputs):
        plain = {k: (os.stat(v).st_mtime_ns if isinstance(v, Path) else v) for k, v in inputs.items()}
        return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()

    with pytest.raises(AssertionError, match="not its modification time"):
        ex.check_cache_key(by_mtime)


def test_psi_right(capsys):
    ex.check_psi(psi)
    assert capsys.readouterr().out.startswith("✓")


def test_psi_without_clipping():
    def unclipped(reference, current):
        edges = np.quantile(reference, np.linspace(0, 1, 11))
        edges[0], edges[-1] = -np.inf, np.inf
        r = np.histogram(reference, edges)[0] / len(reference)
        c = np.histogram(current, edges)[0] / len(current)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.sum((c - r) * np.log(c / r)))

    with pytest.raises(AssertionError, match="clip each proportion"):
        ex.check_psi(unclipped)


def test_psi_equal_width_bins():
    def equal_width(reference, current):
        edges = np.linspace(min(reference.min(), current.min()), max(reference.max(), current.max()), 11)
        r = np.clip(np.histogram(reference, edges)[0] / len(reference), 1e-4, None)
        c = np.clip(np.histogram(current, edges)[0] / len(current), 1e-4, None)
        return float(np.sum((c - r) * np.log(c / r)))

    with pytest.raises(AssertionError, match="deciles"):
        ex.check_psi(equal_width)


def test_psi_sign():
    with pytest.raises(AssertionError, match="never negative"):
        ex.check_psi(lambda r, c: -psi(r, c) - 0.01)


RIGHT = {
    "val_fraction=0.25": {"prepare", "train", "evaluate", "register", "deploy"},
    "min_accuracy=0.8": {"register"},
    "model_name='digits-cnn'": {"register", "deploy"},
    "touch raw/batch-000.npy": set(),
}


def test_rerun_plan_right(capsys):
    ex.check_rerun_plan(RIGHT)
    assert capsys.readouterr().out.startswith("✓")


@pytest.mark.parametrize(
    ("change", "wrong", "hint"),
    [
        ("min_accuracy=0.8", {"register", "deploy"}, "only register reads min_accuracy"),
        ("touch raw/batch-000.npy", {"prepare"}, "not its modification time"),
        ("model_name='digits-cnn'", {"train", "evaluate", "register", "deploy"}, "do not read it"),
        ("val_fraction=0.25", {"prepare"}, "every later step"),
    ],
)
def test_rerun_plan_wrong(change, wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        ex.check_rerun_plan({**RIGHT, change: wrong})


def test_rerun_plan_missing_and_unknown():
    with pytest.raises(AssertionError, match="missing"):
        ex.check_rerun_plan({})
    with pytest.raises(AssertionError, match="unknown steps"):
        ex.check_rerun_plan({**RIGHT, "min_accuracy=0.8": {"publish"}})
