"""Start real ``torch.distributed`` process groups on one machine, and always clean them up.

Introduced in Lecture 13; also used by Lectures 14, 16, 18, 26.

:func:`launch` runs a function on ``world_size`` processes, each one rank of a real process
group (``gloo`` on CPU; ``nccl`` on GPUs), the way ``torch.multiprocessing.spawn`` does,
with what a course page (and a test suite) needs on top:

* **A free port each time** (:func:`free_port`): no fixed ``MASTER_PORT`` that a second
  run, or another program, already holds.
* **Output in rank order.** Each rank's ``stdout`` and ``stderr`` (Python's and the C++
  library's, file descriptors 1 and 2) go to a file of their own; when every rank is done
  the parent prints them rank by rank, each line prefixed ``[rank0]:`` as ``torchrun``
  prefixes them. Processes print concurrently; the page shows the same text every run.
* **Results by rank.** ``fn(rank, world_size, *args)`` returns a value (pickled; tensors
  are fine); :func:`launch` returns the list of them, index = rank.
* **Fail fast, name the rank.** A rank that raises, or dies (a signal, ``os._exit``),
  makes :func:`launch` raise :class:`WorkerError` naming the rank and its exception; ranks
  still running a few seconds later (blocked in a collective the failed rank will never
  join) are killed. A rank that does not finish within ``timeout`` seconds raises
  :class:`WorkerTimeout`, naming the ranks that hung. No process outlives the call.
* **One intra-op thread per rank by default**: two ranks with all cores each on a small
  machine would oversubscribe it (Lecture 13 measures this).
* **Cheap forks**: the parent's objects are frozen (``gc.freeze``) while the ranks start,
  so a rank's garbage collector does not copy the parent's heap page by page (about
  0.3 s per rank otherwise), and each rank reads ``TORCH_DISTRIBUTED_DEBUG`` again
  (``env=`` may set it; a forked process would keep the parent's level).

The ranks are started with ``fork`` by default, so ``fn`` may be defined in a notebook or
an interactive session (``spawn`` re-imports ``fn`` by name, which only works for a function
in an importable module). Fork is safe here because the parent has not created a process
group; it is **not** safe after CUDA was initialised in the parent: for ``nccl``, pass
``start_method="spawn"`` and define ``fn`` in a module (a script with an
``if __name__ == "__main__":`` guard).

:func:`torchrun` runs ``python -m torch.distributed.run --standalone`` (the ``torchrun``
command) on a module, bounded by a timeout, and kills its whole process group on timeout.

Examples:
    >>> from tutorials.core.distributed import free_port
    >>> 1024 < free_port() < 65536
    True
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

__all__ = ["WorkerError", "WorkerTimeout", "free_port", "kill_process_tree", "launch", "torchrun"]

#: Seconds the other ranks get to finish after one rank failed, before they are killed.
GRACE_AFTER_FAILURE = 3.0


class WorkerError(RuntimeError):
    """One or more ranks failed; ``failures`` maps each failed rank to its error text.

    Attributes:
        failures: ``{rank: "ExceptionType: message"}`` (the full message, as raised).
        outputs: ``{rank: text}`` what each rank printed before it stopped.
    """

    def __init__(self, message: str, failures: dict[int, str], outputs: dict[int, str]):
        super().__init__(message)
        self.failures = failures
        self.outputs = outputs


class WorkerTimeout(WorkerError):
    """Ranks did not finish within the timeout (a hang: a collective some rank never joined)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the OS picks it; bind to port 0, read, release).

    Args:
        host: the address the port must be free on.

    Returns:
        The port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _error_text(err: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(err), err)).strip()


def _rank_main(fn: Callable, rank: int, world_size: int, args: tuple, backend: str | None,
               port: int, timeout: float, threads: int, env: dict[str, str], folder: str) -> None:
    """The body of one rank (in the child process)."""
    log = open(Path(folder) / f"rank{rank}.log", "w", buffering=1, encoding="utf-8")  # noqa: SIM115
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    result: tuple = ("error", "did not start")
    try:
        os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                           "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size),
                           "LOCAL_WORLD_SIZE": str(world_size), **env})
        import torch
        import torch.distributed as dist

        dist.set_debug_level_from_env()  # a forked rank keeps the parent's level: read the variable again
        torch.set_num_threads(threads)
        if backend is not None:
            dist.init_process_group(backend, rank=rank, world_size=world_size,
                                    timeout=timedelta(seconds=timeout))
        try:
            value = fn(rank, world_size, *args)
            gc.collect()  # FSDP2 on gloo: free the sharded state before the group goes (see ECOSYSTEM)
            if backend is not None:
                dist.barrier()
            result = ("ok", value)
        finally:
            if backend is not None and dist.is_initialized():
                dist.destroy_process_group()
    except BaseException as err:  # report every failure to the parent, with its type
        result = ("error", _error_text(err))
    try:
        payload = pickle.dumps(result)
    except Exception as err:  # a value that cannot travel is the caller's error, said as such
        payload = pickle.dumps(("error", f"the return value of rank {rank} cannot be pickled: {err}"))
    tmp = Path(folder) / f"rank{rank}.tmp"
    tmp.write_bytes(payload)
    tmp.replace(Path(folder) / f"rank{rank}.pkl")
    log.flush()
    os._exit(0 if result[0] == "ok" else 1)  # no atexit handlers or static destructors of the parent's


def _stop(procs: Sequence) -> None:
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(2)
        if p.is_alive():
            p.kill()
            p.join()


def launch(fn: Callable[..., Any], world_size: int = 2, *, args: tuple = (), backend: str | None = "gloo",
           timeout: float = 60.0, threads: int = 1, env: dict[str, str] | None = None,
           start_method: str = "fork", show: bool = True) -> list:
    """Run ``fn(rank, world_size, *args)`` on ``world_size`` processes in one process group.

    Args:
        fn: the function each rank runs; its return value comes back (pickled).
        world_size: the number of processes (ranks 0 .. world_size - 1).
        args: more positional arguments for ``fn``.
        backend: ``"gloo"`` (CPU), ``"nccl"`` (GPUs), or ``None`` to start the processes
            without a process group (``fn`` then sets up what it needs, e.g. RPC); the
            rendezvous variables are set either way.
        timeout: seconds the whole run may take; also the process group's timeout.
        threads: intra-op threads per rank (``torch.set_num_threads``).
        env: more environment variables for the ranks (e.g. ``TORCH_DISTRIBUTED_DEBUG``).
        start_method: ``"fork"`` (``fn`` may live in a notebook) or ``"spawn"``.
        show: print each rank's output, rank by rank, when all are done.

    Returns:
        The ranks' return values, index = rank.

    Raises:
        ValueError: ``world_size`` below 1 or ``timeout`` not positive.
        WorkerError: a rank raised or died; the message names each failed rank.
        WorkerTimeout: ranks were still running after ``timeout`` seconds.
    """
    import multiprocessing

    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"launch: world_size must be a positive int, got {world_size!r}")
    if timeout <= 0:
        raise ValueError(f"launch: timeout must be positive, got {timeout!r}")
    ctx = multiprocessing.get_context(start_method)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="tutorials-dist-") as folder:
        procs = [ctx.Process(target=_rank_main, name=f"rank{rank}", daemon=True,
                             args=(fn, rank, world_size, tuple(args), backend, port, timeout, threads,
                                   dict(env or {}), folder))
                 for rank in range(world_size)]
        hung: list[int] = []
        try:
            # Forked ranks share the parent's memory until written; the garbage collector of each
            # would touch (and so copy) the parent's whole heap. Frozen objects it leaves alone.
            if start_method == "fork":
                gc.freeze()
            try:
                for p in procs:
                    p.start()
            finally:
                if start_method == "fork":
                    gc.unfreeze()
            deadline = time.monotonic() + timeout
            first_failure: float | None = None
            while any(p.is_alive() for p in procs):
                now = time.monotonic()
                if first_failure is None and any(p.exitcode not in (None, 0) for p in procs):
                    first_failure = now
                late = first_failure is not None and now > first_failure + GRACE_AFTER_FAILURE
                if now > deadline or late:
                    hung = [r for r, p in enumerate(procs) if p.is_alive()]
                    break
                time.sleep(0.02)
        finally:
            _stop(procs)
        outputs: dict[int, str] = {}
        values: list = []
        failures: dict[int, str] = {}
        for rank, p in enumerate(procs):
            log = Path(folder) / f"rank{rank}.log"
            outputs[rank] = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
            result_file = Path(folder) / f"rank{rank}.pkl"
            if rank in hung:
                continue
            if result_file.exists():
                status, value = pickle.loads(result_file.read_bytes())
                if status == "ok":
                    values.append(value)
                    continue
                failures[rank] = value
            else:
                code = p.exitcode
                killed = code is not None and code < 0
                why = f"signal {signal.Signals(-code).name}" if killed else f"exit code {code}"
                failures[rank] = f"the process died ({why}) before it reported"
    if show:
        for rank in range(world_size):
            for line in outputs[rank].splitlines():
                print(f"[rank{rank}]: {line}")
    if hung:
        after = (f"{GRACE_AFTER_FAILURE:g} s after rank {min(failures)} failed" if failures
                 else f"within the {timeout:g} s timeout")
        names = ", ".join(str(r) for r in hung)
        plural = len(hung) > 1
        message = (f"rank{'s' if plural else ''} {names} did not finish {after} (blocked in a collective "
                   f"another rank never joined?) and {'were' if plural else 'was'} killed")
        if failures:
            message += "; " + "; ".join(f"rank {r} failed: {t}" for r, t in sorted(failures.items()))
        raise WorkerTimeout(message, failures, outputs)
    if failures:
        raise WorkerError("; ".join(f"rank {r} failed: {t}" for r, t in sorted(failures.items())),
                          failures, outputs)
    return values


def kill_process_tree(proc: subprocess.Popen, grace: float = 5.0) -> tuple:
    """Stop ``proc`` and every process below it, even those in sessions of their own.

    Launchers such as torchrun and TorchX start each worker in a new session, so killing the
    launcher's process group misses them. Every descendant is noted first (Linux ``/proc``),
    the launcher is asked to stop (SIGTERM) and given ``grace`` seconds to stop its workers,
    then whatever is left is killed (SIGKILL) and ``proc`` is reaped.

    Args:
        proc: the launcher, started by :class:`subprocess.Popen`.
        grace: seconds between SIGTERM and SIGKILL.

    Returns:
        What :meth:`subprocess.Popen.communicate` returns at the end: the output not yet read
        (``(stdout, stderr)``, ``None`` for a stream that was not piped).
    """
    family = _descendants(proc.pid)
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=grace)
    for pid in [proc.pid, *family]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return proc.communicate()


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (Linux ``/proc``; empty where there is none)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def torchrun(target: str | Sequence[str], nproc: int = 2, *, args: Sequence[str] = (), timeout: float = 120.0,
             env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None
             ) -> subprocess.CompletedProcess:
    """Run ``torchrun --standalone --nproc-per-node=nproc`` on a module or script, bounded.

    Args:
        target: a module name (``"tutorials.lecNN_x.job"``, run with ``-m``) or a script
            path ending in ``.py``.
        nproc: processes to start (one rank each).
        args: the arguments after the module or script.
        timeout: seconds before the whole process group (torchrun and its ranks) is killed.
        env: environment variables added to this process's.
        cwd: the working directory.

    Returns:
        The completed process (``stdout``/``stderr`` as text); check ``returncode``.

    Raises:
        subprocess.TimeoutExpired: the run took longer than ``timeout``; nothing is left running.
    """
    target = str(target)
    what = [target] if target.endswith(".py") else ["-m", target]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           *what, *map(str, args)]
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_process_tree(proc)  # torchrun starts each rank in a session of its own
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
