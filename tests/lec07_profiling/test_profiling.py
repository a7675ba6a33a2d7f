"""tutorials.lec07_profiling.profiling: deterministic facts from a profile, and clear errors."""

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils.data import DataLoader, TensorDataset

from tutorials.lec07_profiling import profiling


def _step_fn(sync: bool):
    model = nn.Linear(8, 4)

    def step(i):
        with record_function("forward"):
            y = model(torch.ones(2, 8)).sum()
        with record_function("backward"):
            y.backward()
        if sync:
            y.item()

    return step


def test_schedule_actions():
    assert profiling.schedule_actions(6, wait=1, warmup=1, active=2, repeat=1) == [
        "NONE", "WARMUP", "RECORD", "RECORD_AND_SAVE", "NONE", "NONE"]


def test_profile_steps_records_only_active_steps_and_exports(tmp_path):
    trace = tmp_path / "sub" / "t.json"
    prof = profiling.profile_steps(_step_fn(True), wait=1, warmup=1, active=3, trace_path=trace)
    calls = {e.key: e.count for e in prof.key_averages()}
    assert calls["ProfilerStep*"] == 3 and calls["forward"] == 3
    assert profiling.sync_points(prof) == {"aten::item": 3, "aten::_local_scalar_dense": 3}
    assert profiling.labels_present(prof, ["forward", "optimizer"]) == {
        "forward": True, "optimizer": False}
    names = profiling.trace_event_names(trace, category="user_annotation")
    assert {"forward", "backward", "ProfilerStep#2", "ProfilerStep#4"} <= names


def test_no_sync_without_item():
    prof = profiling.profile_steps(_step_fn(False), wait=0, warmup=1, active=2)
    assert profiling.sync_points(prof) == {"aten::item": 0, "aten::_local_scalar_dense": 0}


def test_top_ops_is_sorted_by_count_then_name():
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            torch.ones(2).add_(1)
        torch.zeros(2)
    top = profiling.top_ops_by_count(prof, 10)
    counts = {e.key: e.count for e in prof.key_averages()}
    keys = [(-counts[k], k) for k in top]
    assert keys == sorted(keys) and all(k.startswith("aten::") for k in top)
    assert profiling.top_ops_by_count(prof.key_averages(), 1) == top[:1]


def test_op_rows_and_bad_sort_key():
    prof = profiling.profile_steps(_step_fn(True), wait=0, warmup=1, active=2,
                                   profile_memory=True)
    rows = profiling.op_rows(prof, sort_by="count", limit=3)
    assert len(rows) == 3 and rows[0]["calls"] >= rows[1]["calls"] >= rows[2]["calls"]
    assert {"op", "calls", "self CPU ms", "CPU total ms", "self CPU mem KB"} <= set(rows[0])
    with pytest.raises(ValueError, match="sort_by=.gpu_ms. is not an attribute"):
        profiling.op_rows(prof, sort_by="gpu_ms")


def test_data_bound_vs_compute_bound():
    class Slow(torch.utils.data.Dataset):
        def __len__(self):
            return 64

        def __getitem__(self, i):
            import time
            time.sleep(0.004)
            return torch.zeros(4), 0

    def run(loader, work):
        it = iter(loader)

        def step(i):
            with record_function("data"):
                next(it)
            work()
        return profiling.profile_steps(step, wait=0, warmup=1, active=2)

    slow = run(DataLoader(Slow(), batch_size=8), lambda: None)
    big = torch.randn(384, 384)
    fast = run(DataLoader(TensorDataset(torch.zeros(64, 4)), batch_size=8),
               lambda: [big @ big for _ in range(20)])
    assert profiling.classify_bottleneck(slow) == "data-bound"
    assert profiling.classify_bottleneck(fast) == "compute-bound"
    assert 0 <= profiling.data_fraction(fast) < profiling.data_fraction(slow) <= 1
    shares = profiling.step_shares(slow)
    assert len(shares) == 2 and all(0.5 < s <= 1 for s in shares)


def test_data_phase_counts_work_outside_the_loader():
    """Augmentation after next(loader) is data time, though not DataLoader time."""
    big = torch.randn(256, 256)
    it = iter(DataLoader(TensorDataset(torch.zeros(64, 4)), batch_size=8))

    def step(i):
        with record_function("data"):
            next(it)
            for _ in range(20):  # "augmenting" the batch, outside the loader
                big @ big
        big @ big  # the model

    prof = profiling.profile_steps(step, wait=0, warmup=1, active=2)
    phase = profiling.data_fraction(prof)
    loader = profiling.data_fraction(prof, profiling.DATALOADER_LABEL)
    assert loader < 0.5 <= phase  # judged by the loader alone, it would look compute-bound
    assert profiling.classify_bottleneck(prof) == "data-bound"
    assert profiling.classify_bottleneck(prof, label=profiling.DATALOADER_LABEL) == "compute-bound"
    assert all(s < p for s, p in zip(profiling.step_shares(prof, profiling.DATALOADER_LABEL),
                                     profiling.step_shares(prof)))


def test_a_missing_data_label_is_an_error_not_a_zero_share():
    prof = profiling.profile_steps(lambda i: torch.ones(8) @ torch.ones(8), wait=0, active=2)
    with pytest.raises(ValueError, match="no 'data' range.*record_function"):
        profiling.data_fraction(prof)
    with pytest.raises(ValueError, match="no 'data' range"):
        profiling.step_shares(prof)


def test_quiet_kineto_without_gpu(monkeypatch):
    monkeypatch.delenv("KINETO_LOG_LEVEL", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert profiling.quiet_kineto_without_gpu() is True
    assert os.environ["KINETO_LOG_LEVEL"] == "6"
    monkeypatch.setenv("KINETO_LOG_LEVEL", "1")  # a value set by the user is kept
    assert profiling.quiet_kineto_without_gpu() is False
    assert os.environ["KINETO_LOG_LEVEL"] == "1"
    monkeypatch.delenv("KINETO_LOG_LEVEL")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # with a GPU: left alone
    assert profiling.quiet_kineto_without_gpu() is False
    assert "KINETO_LOG_LEVEL" not in os.environ


def test_kineto_gpu_probe_is_silenced_in_a_new_process(tmp_path):
    """What the env variable does, in a process whose first profile comes after it."""
    script = (
        "import torch\n"
        "from tutorials.lec07_profiling import profiling\n"
        "print(profiling.quiet_kineto_without_gpu())\n"
        "with torch.profiler.profile() as p:\n"
        "    torch.ones(2) + 1\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120, check=True)
    assert proc.stdout.strip() == str(not torch.cuda.is_available())
    assert "gpuGetDeviceCount" not in proc.stderr, proc.stderr


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="active >= 1"):
        profiling.profile_steps(lambda i: None, active=0)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        torch.ones(2)
    with pytest.raises(ValueError, match="no ProfilerStep events"):
        profiling.data_fraction(prof)
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="is not a Chrome trace"):
        profiling.trace_event_names(bad)


def test_default_activities():
    assert profiling.default_activities("cpu") == [ProfilerActivity.CPU]
    assert ProfilerActivity.CUDA in profiling.default_activities("cuda")
