"""Content-hashed steps: keys, the manifest, skipping and re-running."""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tutorials.lec18_mlops.steps import StepManifest, file_digest, fingerprint, run_step


def test_fingerprint_is_canonical_and_content_based(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("x")
    key = fingerprint({"a": 1, "b": [1, 2.5, None, True], "f": f})
    assert key == fingerprint({"f": f, "b": [1, 2.5, None, True], "a": 1})
    os.utime(f, ns=(1, 1))
    assert key == fingerprint({"a": 1, "b": [1, 2.5, None, True], "f": f}), "times do not matter"
    f.write_text("y")
    assert key != fingerprint({"a": 1, "b": [1, 2.5, None, True], "f": f})
    assert len(key) == 64 and int(key, 16) >= 0


def test_fingerprint_dataclass_and_refusals():
    @dataclass(frozen=True)
    class C:
        x: int = 1

    assert fingerprint(C()) == fingerprint({"x": 1})
    with pytest.raises(TypeError, match="cannot fingerprint a object"):
        fingerprint({"x": object()})
    with pytest.raises(ValueError, match="NaN"):
        fingerprint(float("nan"))


def test_file_digest_of_folder_and_missing(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "one").write_bytes(b"1")
    first = file_digest(tmp_path / "d")
    (tmp_path / "d" / "two").write_bytes(b"2")
    assert file_digest(tmp_path / "d") != first
    with pytest.raises(FileNotFoundError, match="no such file"):
        file_digest(tmp_path / "missing")


def test_run_step_skips_records_after_success_and_revalidates(tmp_path):
    manifest = StepManifest(tmp_path / "m.json")
    calls = []

    def step():
        calls.append(1)
        return {"n": len(calls)}

    assert run_step(manifest, "s", {"x": 1}, step).status == "ran"
    skipped = run_step(manifest, "s", {"x": 1}, step)
    assert skipped.status == "skipped" and skipped.outputs == {"n": 1} and len(calls) == 1
    assert run_step(manifest, "s", {"x": 1}, step, still_valid=lambda out: False).status == "ran"
    assert run_step(manifest, "other", {"x": 1}, step).key != run_step(manifest, "s", {"x": 1}, step).key

    def boom():
        raise RuntimeError("fails")

    with pytest.raises(RuntimeError):
        run_step(manifest, "s", {"x": 2}, boom)
    assert run_step(manifest, "s", {"x": 1}, step).status == "skipped", "a failed run records nothing"
    records = json.loads(Path(tmp_path / "m.json").read_text())
    assert set(records) == {"s", "other"} and not list(tmp_path.glob(".manifest-*"))
