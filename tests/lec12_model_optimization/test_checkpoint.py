import hashlib
import io
import os

import pytest
import torch
from torch import nn

from tutorials.lec12_model_optimization.checkpoint import (
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


def test_unwrap_torch_compile_wrapper_keeps_plain_keys(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    compiled = torch.compile(model)  # wrapping only: nothing is compiled until it is called
    assert any(k.startswith("_orig_mod.") for k in compiled.state_dict())
    assert unwrap_model(compiled) is model
    write_checkpoint(tmp_path / "c.pt", {"model": unwrap_model(compiled).state_dict()})
    fresh = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    load_model_state(fresh, read_checkpoint(tmp_path / "c.pt", map_location="cpu")["model"])
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values()))


def _ddp_worker(rank: int, world: int, init_file: str, out: str) -> None:
    import torch.distributed as dist

    from tutorials.lec12_model_optimization.checkpoint import CheckpointManager, unwrap_model

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)  # same initial weights on every rank (DDP also broadcasts rank 0's)
        ddp = nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
        opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
        torch.manual_seed(100 + rank)  # each rank sees different data
        ddp(torch.randn(8, 3)).square().mean().backward()  # gradients are all-reduced (averaged)
        opt.step()
        assert all(k.startswith("module.") for k in ddp.state_dict())
        if rank == 0:
            CheckpointManager(out).save({"model": unwrap_model(ddp).state_dict()}, step=1)
        # every rank writes its own weights so the test can check they agree after the step
        torch.save(unwrap_model(ddp).state_dict(), f"{out}/rank{rank}.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_model_is_unwrapped_under_a_real_process_group(tmp_path):
    import torch.multiprocessing as mp

    out = tmp_path / "ckpt"
    out.mkdir()
    # Two gloo ranks on this machine (child processes talk over loopback; the test process opens no socket).
    mp.start_processes(_ddp_worker, args=(2, str(tmp_path / "rendezvous"), str(out)), nprocs=2,
                       start_method="spawn")
    _, state = CheckpointManager(out).load_latest(map_location="cpu")
    assert not any(k.startswith("module.") for k in state["model"]), list(state["model"])
    plain = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    load_model_state(plain, state["model"], source="DDP checkpoint")
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for key, value in plain.state_dict().items():
        assert torch.equal(value, ranks[0][key]) and torch.equal(value, ranks[1][key]), key
    # the loaded weights are the trained ones, not the initial ones
    torch.manual_seed(0)
    initial = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert not torch.equal(initial[0].weight, plain[0].weight)
