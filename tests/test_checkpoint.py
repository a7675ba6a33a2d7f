import hashlib
import io
import os

import pytest
import torch
from torch import nn

from tutorials.checkpoint import (
    MAGIC,
    CheckpointError,
    CheckpointManager,
    atomic_write_bytes,
    capture_rng_state,
    load_model_state,
    read_checkpoint,
    restore_rng_state,
    unwrap_model,
    write_checkpoint,
)


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    buf = io.BytesIO()
    torch.save({"model": Exploit()}, buf)
    payload = buf.getvalue()
    path = tmp_path / "evil.pt"
    path.write_bytes(MAGIC + hashlib.sha256(payload).hexdigest().encode() + payload)
    with pytest.raises(CheckpointError, match="evil.pt: refused by torch.load"):
        read_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_truncated_corrupt_and_foreign_files(tmp_path):
    good = write_checkpoint(tmp_path / "a.pt", {"w": torch.arange(1000.0)})
    raw = good.read_bytes()
    (tmp_path / "t.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="t.pt: checksum mismatch"):
        read_checkpoint(tmp_path / "t.pt")
    (tmp_path / "x.pt").write_bytes(b"hello")
    with pytest.raises(CheckpointError, match="x.pt: not a checkpoint"):
        read_checkpoint(tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="missing.pt: cannot read"):
        read_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_bytes(tmp_path / "no" / "dir.pt", b"x")


def test_manager_keeps_last_k_and_best(tmp_path):
    mgr = CheckpointManager(tmp_path, keep_last=2)
    for step in range(1, 5):
        mgr.save({"step": step}, step=step, is_best=step == 2)
    assert [p.name for p in mgr.checkpoints()] == ["ckpt-00000003.pt", "ckpt-00000004.pt"]
    assert mgr.load_best()["step"] == 2
    assert mgr.load_latest()[1]["step"] == 4
    with pytest.raises(ValueError, match="keep_last"):
        CheckpointManager(tmp_path, keep_last=0)


def test_rng_state_round_trip():
    import random

    import numpy as np

    state = capture_rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_unwrap_compiled_model_and_load_errors():
    model = nn.Linear(3, 2)
    wrapped = nn.DataParallel(model)
    assert unwrap_model(wrapped) is model
    sd = model.state_dict()
    other = nn.Linear(3, 2)
    load_model_state(nn.DataParallel(other), sd)
    assert torch.equal(other.weight, model.weight)
    with pytest.raises(CheckpointError, match=r"missing keys \['bias'\]"):
        load_model_state(nn.Linear(3, 2), {"weight": sd["weight"]}, source="a.pt")
