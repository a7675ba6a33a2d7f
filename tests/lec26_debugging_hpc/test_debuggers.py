"""Stacks of hung ranks: faulthandler on SIGTERM read back as function names, and gdb attached to a
rank blocked in a collective (where gdb is installed)."""

import doctest
import faulthandler
import os
import shutil
import signal
import threading
import time

import pytest
import torch
import torch.distributed as dist

from tutorials.core.distributed import WorkerTimeout, launch
from tutorials.lec26_debugging_hpc import debuggers
from tutorials.lec26_debugging_hpc.debuggers import gdb_backtrace, native_functions, stack_functions


def test_doctest():
    assert doctest.testmod(debuggers).failed == 0


def test_parsers_on_recorded_text():
    dump = ('Thread 0x01 (most recent call first):\n  File "/a.py", line 3 in inner\n'
            '  File "/a.py", line 9 in outer\n\nThread 0x02 (most recent call first):\n'
            '  File "/b.py", line 1 in other\n')
    assert stack_functions(dump) == ["inner", "outer"]
    assert stack_functions(dump, stop_at="outer") == ["inner"]
    bt = ("#0  __futex_abstimed_wait_common64 (private=0) at ./nptl/futex-internal.c:57\n"
          "#6  0x00007f in c10d::Work::wait(std::chrono::duration<long, std::ratio<1l, 1000l> >) ()"
          " from x.so\n"
          "not a frame\n")
    assert native_functions(bt) == [
        "__futex_abstimed_wait_common64",
        "c10d::Work::wait(std::chrono::duration<long, std::ratio<1l, 1000l> >)"]


def _wait_forever(lock):
    with lock:
        pass


def _stuck(rank, world_size):
    faulthandler.register(signal.SIGTERM, chain=True)
    lock = threading.Lock()
    if rank == 1:
        lock.acquire()
        _wait_forever(lock)
    dist.all_reduce(torch.ones(1))


def test_faulthandler_stacks_of_hung_ranks():
    with pytest.raises(WorkerTimeout) as info:
        launch(_stuck, 2, timeout=1.5, show=False)
    stacks = {rank: stack_functions(text) for rank, text in info.value.outputs.items()}
    assert stacks == {0: ["all_reduce", "wrapper", "_stuck"], 1: ["_wait_forever", "_stuck"]}


def _blocked(rank, world_size, folder):
    if rank == 0:
        (folder / "pid0").write_text(str(os.getpid()))
    else:
        while not (folder / "release").exists():  # rank 1 joins only once gdb has looked at rank 0
            time.sleep(0.05)
    dist.all_reduce(torch.ones(2))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")
def test_gdb_on_a_blocked_rank(tmp_path):
    """The recorded example of the page (section 9.5): rank 0 waits in c10d::Work::wait."""
    out = {}

    def attach():
        deadline = time.monotonic() + 30
        while not (tmp_path / "pid0").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # let rank 0 enter the collective
        try:
            out["text"] = gdb_backtrace(int((tmp_path / "pid0").read_text()), timeout=150)
        finally:
            (tmp_path / "release").write_text("")

    thread = threading.Thread(target=attach)
    thread.start()
    try:
        launch(_blocked, 2, args=(tmp_path,), timeout=180, show=False)
    finally:
        thread.join()
    text = out["text"]
    if "ptrace" in text.lower() and "not permitted" in text.lower():
        pytest.skip("this machine does not allow attaching to a process (ptrace)")
    frames = native_functions(text)
    assert any(f.startswith("c10d::Work::wait") for f in frames), frames[:12]
    if "Traceback (most recent call first)" in text:  # CPython's gdb extension is installed
        assert "in all_reduce" in text and "in _blocked" in text
