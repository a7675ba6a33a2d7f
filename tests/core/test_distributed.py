"""tutorials.core.distributed: real gloo groups, output in rank order, failures and hangs named, none left."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import time

import psutil
import pytest
import torch
import torch.distributed as dist

from tutorials.core.distributed import WorkerError, WorkerTimeout, free_port, launch, torchrun


def _children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture(autouse=True)
def no_process_left():
    before = {p.pid for p in _children()}
    yield
    left = [p for p in _children() if p.pid not in before]
    assert not left, f"processes left running: {[(p.pid, p.cmdline()) for p in left]}"
    assert not multiprocessing.active_children()


def _sum_of_ranks(rank, world_size):
    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    print(f"rank {rank} of {world_size}: sum {t.item():.0f}")
    print("second line", file=sys.stderr)
    return {"rank": rank, "sum": t, "env": (os.environ["RANK"], os.environ["WORLD_SIZE"])}


def test_values_come_back_by_rank_and_output_is_printed_in_rank_order(capsys):
    values = launch(_sum_of_ranks, 3)
    assert [v["rank"] for v in values] == [0, 1, 2]
    assert all(torch.equal(v["sum"], torch.tensor([6.0])) for v in values)
    assert [v["env"] for v in values] == [("0", "3"), ("1", "3"), ("2", "3")]
    assert capsys.readouterr().out.splitlines() == [
        "[rank0]: rank 0 of 3: sum 6", "[rank0]: second line",
        "[rank1]: rank 1 of 3: sum 6", "[rank1]: second line",
        "[rank2]: rank 2 of 3: sum 6", "[rank2]: second line",
    ]


def test_show_false_prints_nothing_and_args_and_env_reach_the_ranks(capsys):
    def fn(rank, world_size, scale):
        return rank * scale, os.environ["EXTRA"], torch.get_num_threads()

    assert launch(fn, 2, args=(10,), env={"EXTRA": "x"}, threads=1, show=False) == [(0, "x", 1), (10, "x", 1)]
    assert capsys.readouterr().out == ""


def test_without_a_backend_no_group_is_created():
    assert launch(lambda rank, n: (dist.is_initialized(), os.environ["MASTER_ADDR"]), 2, backend=None,
                  show=False) == [(False, "127.0.0.1")] * 2


def test_a_rank_that_raises_is_named_with_its_exception():
    def fn(rank, world_size):
        if rank == 1:
            raise ValueError("bad shard")
        dist.barrier()

    start = time.monotonic()
    with pytest.raises(WorkerError, match=r"rank 1 failed: ValueError: bad shard") as info:
        launch(fn, 2, show=False)
    assert info.value.failures[1] == "ValueError: bad shard"
    assert time.monotonic() - start < 20


def test_a_hang_is_killed_at_the_timeout_and_names_the_ranks():
    def fn(rank, world_size):
        print(f"rank {rank} before")
        if rank == 0:
            dist.barrier()  # rank 1 never arrives
        else:
            time.sleep(60)

    start = time.monotonic()
    with pytest.raises(WorkerTimeout, match=r"ranks 0, 1 did not finish within the 2 s timeout") as info:
        launch(fn, 2, timeout=2, show=False)
    assert time.monotonic() - start < 15
    assert info.value.outputs[1] == "rank 1 before\n"


def test_a_rank_killed_by_a_signal_is_reported():
    def fn(rank, world_size):
        if rank == 1:
            os.kill(os.getpid(), 9)
        return rank

    with pytest.raises(WorkerError, match=r"rank 1 failed: the process died \(signal SIGKILL\)"):
        launch(fn, 2, show=False)


def test_a_value_that_cannot_be_pickled_is_said_so():
    with pytest.raises(WorkerError, match="the return value of rank 0 cannot be pickled"):
        launch(lambda rank, n: (lambda: None), 1, backend=None, show=False)


@pytest.mark.parametrize(("kwargs", "match"), [({"world_size": 0}, "world_size must be a positive int"),
                                               ({"timeout": 0}, "timeout must be positive")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        launch(lambda rank, n: None, **kwargs)


def test_free_port_can_be_bound():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_torchrun_runs_a_script_and_a_timeout_leaves_nothing(tmp_path):
    hello = tmp_path / "hello.py"
    hello.write_text("import os, sys\n"
                     "print('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'], sys.argv[1])\n")
    result = torchrun(hello, 2, args=["x"], timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == ["rank 0 of 2 x", "rank 1 of 2 x"]
    sleepy = tmp_path / "sleepy.py"
    sleepy.write_text("import pathlib, os, time\npathlib.Path(os.environ['RANK']).touch()\ntime.sleep(60)\n")
    with pytest.raises(subprocess.TimeoutExpired):
        torchrun(sleepy, 2, timeout=8, cwd=tmp_path)
    assert (tmp_path / "0").exists() and (tmp_path / "1").exists(), "the ranks had started"
    time.sleep(0.5)
    sleepers = [p for p in psutil.process_iter(["cmdline"])
                if str(sleepy) in " ".join(p.info["cmdline"] or [])]
    assert not sleepers, "torchrun's ranks survived its timeout"


def test_the_debug_level_comes_from_the_ranks_environment():
    def fn(rank, world_size):
        return str(dist.get_debug_level())

    assert launch(fn, 2, env={"TORCH_DISTRIBUTED_DEBUG": "DETAIL"}, show=False) == ["DebugLevel.DETAIL"] * 2


def test_the_parent_garbage_collector_is_not_left_frozen():
    import gc

    launch(lambda rank, n: None, 1, backend=None, show=False)
    assert gc.get_freeze_count() == 0
