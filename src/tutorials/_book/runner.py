"""Run a page's blocks in a new Python process, as a reader pasting them into one.

The test suite and the author tool run every page this way, once:

* the blocks execute in a fresh interpreter, in order, in the globals of its real
  ``__main__`` module (as in an interactive session: classes defined on the page
  pickle, nothing imported by the test process leaks in);
* standard output is captured per block at the file-descriptor level, so text
  printed by C code or by child processes (DataLoader workers, shell commands) is
  captured as a terminal would show it, and each block's output is compared with
  the output block shown under it; a Python block with no output block must print
  nothing;
* the page is offline: its Python code may connect to loopback addresses only;
* after the last block, an optional *claims* function checks what the page
  computed: ``claims(ns, out, workdir)`` receives the session's globals, everything
  the page printed, and its working directory (see ``tests/lecNN_slug/claims.py``).

The parent (:class:`PageProcess`) reads one JSON line per block from a results
file while the page runs, so the test of a block finishes as soon as that block
has run.

**The learner's run.** A page is also run as a learner who did the exercises alone:
every block of a "Solution" box left out. Up to the first solution block, that run
is the reader's run block for block, so the page's process forks there
(``learner_run=True``): the copy waits until the reader's run has finished (the two
never compete for the cores), then runs the rest of the page without the solutions,
in a copy of the working directory, and reports to :data:`LEARNER_RESULTS`
(:class:`LearnerRun` reads it). A forked copy of a process that has used OpenMP
threads must not start OpenMP threads again (GNU libgomp's pool does not survive a
fork: the copy would hang), so the copy runs with one intra-op thread, one of the
configurations every page must pass under. Where ``os.fork`` does not exist the
caller starts a fresh interpreter for the learner's run instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import subprocess
import sys
import time
import traceback
import types
from collections.abc import Sequence
from pathlib import Path

from tutorials._book import blocks

__all__ = ["PageProcess", "PageResult", "LearnerRun", "can_fork"]


def can_fork() -> bool:
    """Whether the learner's run can be forked from the reader's (POSIX)."""
    return hasattr(os, "fork")

RESULTS = "_page_results.jsonl"
LEARNER_RESULTS = "_page_results_without_solutions.jsonl"
LEARNER_SUFFIX = "-without-solutions"  # the learner's working directory: <workdir><suffix>
LOG = "_page_stderr.log"
JOB = "_page_job.pkl"


class PageResult(dict):
    """One line of the results file.

    Keys: ``index``, ``status``, ``output`` (and ``stderr`` for a shell block),
    ``message``, ``seconds``.
    """


def _new_lines(path: Path, offset: int) -> tuple[list[PageResult], int]:
    """The complete lines a results file has gained since ``offset``, and the new offset."""
    if not path.is_file():
        return [], offset
    items = []
    with open(path, encoding="utf-8") as f:
        f.seek(offset)
        while True:
            line = f.readline()
            if not line.endswith("\n"):
                break  # not completely written yet
            offset = f.tell()
            items.append(PageResult(json.loads(line)))
    return items, offset


class PageProcess:
    """A page running in its own interpreter; results are read as they arrive.

    Args:
        page_blocks: the blocks to run, in order (skipped blocks left out).
        workdir: the session's working directory (results, log and the files the
            page writes land here).
        env: the child's environment.
        claims: a Python file defining ``claims(ns, out, workdir)``, run after the
            last block when every block passed.
        compare: compare outputs with the page (``False`` collects them).
        all_output_shown: a Python block without an output block must print
            nothing (chapters; a setup page may print machine-specific facts).
        offline: Python code of the page may connect to loopback addresses only.
        name_written_files: a block that writes files under ``workdir`` must name
            them in its output.
        learner_run: fork at the first solution block and run the rest of the page
            without its solutions too (see the module's docstring; :attr:`learner`).
    """

    def __init__(self, page_blocks: Sequence[blocks.Block], workdir: Path, env: dict[str, str],
                 claims: Path | None = None, compare: bool = True, all_output_shown: bool = True,
                 offline: bool = True, name_written_files: bool = True, learner_run: bool = False) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.indices = [b.index for b in page_blocks]
        self.results: dict[int, PageResult] = {}
        self.claims_result: PageResult | None = None
        self.done = False
        self._offset = 0
        (self.workdir / RESULTS).write_text("")
        forks = learner_run and can_fork() and any(b.in_solution for b in page_blocks)
        self.learner = LearnerRun(Path(str(self.workdir) + LEARNER_SUFFIX),
                                  [b.index for b in page_blocks if not b.in_solution]) if forks else None
        job = {"blocks": list(page_blocks), "claims": str(claims) if claims else None, "compare": compare,
               "all_output_shown": compare and all_output_shown, "offline": offline,
               "name_written_files": name_written_files,
               "learner_dir": str(self.learner.workdir) if self.learner else None}
        (self.workdir / JOB).write_bytes(pickle.dumps(job))
        env = dict(env)
        env["PYTHONIOENCODING"] = "utf-8"
        self._log = open(self.workdir / LOG, "wb")  # noqa: SIM115 - closed when the process ends
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tutorials._book.runner", str(self.workdir / JOB)],
            cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
        )

    def _read(self) -> None:
        items, self._offset = _new_lines(self.workdir / RESULTS, self._offset)
        for item in items:
            if "index" in item:
                self.results[item["index"]] = item
            elif "claims" in item:
                self.claims_result = item
            elif item.get("done"):
                self.done = True

    def _died(self) -> str:
        tail = (self.workdir / LOG).read_text(encoding="utf-8", errors="replace")[-3000:]
        return (f"the page's Python process ended with exit code {self.proc.returncode} "
                f"before reporting; its stderr ends with:\n{tail}")

    def wait_for(self, index: int | None, timeout: float = 600.0) -> PageResult | None:
        """The result of block ``index`` (``None``: wait until the page finished).

        Returns ``None`` when the block was not run because an earlier one failed.

        Raises:
            blocks.BlockFailure: the process died or the block took longer than ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while True:
            self._read()
            if index is not None and index in self.results:
                return self.results[index]
            if self.done:
                self.close()
                return self.results.get(index) if index is not None else None
            if self.proc.poll() is not None:
                self._read()
                if not self.done:
                    message = self._died()
                    self.close()
                    raise blocks.BlockFailure(message)
                continue
            if time.monotonic() > deadline:
                self.proc.kill()
                self.close()
                raise blocks.BlockFailure(f"no result after {timeout:.0f} s; the page's process was killed")
            time.sleep(0.02)

    def close(self) -> None:
        """Wait for the child to exit (after the learner's run, if it forked one) and close its log."""
        try:
            self.proc.wait(timeout=600 if self.learner else 60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class LearnerRun:
    """The results of the learner's run, forked from a page's process (see the module's docstring).

    Args:
        workdir: its working directory (a copy of the reader's at the fork).
        indices: the blocks it runs: every block of the page outside the solutions.
    """

    def __init__(self, workdir: Path, indices: list[int]) -> None:
        self.workdir = workdir
        self.indices = indices
        self.results: dict[int, PageResult] = {}
        self.done = False
        self._pid: int | None = None
        self._offset = 0

    def _read(self) -> None:
        items, self._offset = _new_lines(self.workdir / LEARNER_RESULTS, self._offset)
        for item in items:
            if "index" in item:
                self.results[item["index"]] = item
            elif "pid" in item:
                self._pid = item["pid"]
            elif item.get("done"):
                self.done = True

    def _alive(self) -> bool:
        if self._pid is None:
            return True
        try:
            os.kill(self._pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def wait(self, reader: PageProcess, timeout: float = 600.0) -> None:
        """Wait until the learner's run has finished (the reader's process first).

        Raises:
            blocks.BlockFailure: it was not started (the reader's run stopped before the
                first solution block), died before reporting, or took longer than ``timeout``.
        """
        reader.wait_for(None, timeout=timeout)
        started = time.monotonic()
        while True:
            self._read()
            if self.done:
                return
            waited = time.monotonic() - started
            if self._pid is None and waited > 30:
                raise blocks.BlockFailure(
                    "the run without solutions did not start: the page's run stopped before its "
                    "first solution block (see the failing block above)")
            if self._pid is not None and not self._alive():
                self._read()
                if self.done:
                    return
                tail = (reader.workdir / LOG).read_text(encoding="utf-8", errors="replace")[-3000:]
                raise blocks.BlockFailure("the run without solutions ended before reporting; the "
                                          f"page's stderr ends with:\n{tail}")
            if waited > timeout:
                if self._pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self._pid, 9)
                raise blocks.BlockFailure(f"the run without solutions gave no result after "
                                          f"{timeout:.0f} s; it was killed")
            time.sleep(0.02)


def _start_learner(workdir: Path, learner_dir: Path, ignore: frozenset[str]) -> tuple[int, int]:
    """Fork the learner's copy of this session; return (pid, write end of its go-pipe) in the parent.

    In the copy, returns (0, -1) after the go signal: the reader's run has finished.
    """
    import shutil

    if learner_dir.exists():
        shutil.rmtree(learner_dir)
    shutil.copytree(workdir, learner_dir, ignore=lambda _d, names: [n for n in names if n in ignore])
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(r)
        return pid, w
    os.close(w)
    os.read(r, 1)  # blocks until the reader's run writes (or dies: end of file)
    os.close(r)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.set_num_threads(1)  # no new OpenMP team after a fork (see the module's docstring)
        inductor = sys.modules.get("torch._inductor.config")
        if inductor is not None:
            inductor.compile_threads = 1  # the reader's compile workers are not this process's
    os.chdir(learner_dir)
    return 0, -1


def _write(out, item: dict) -> None:
    out.write(json.dumps(item) + "\n")
    out.flush()


def _child(job_path: str) -> int:
    """Body of the page's process: run the blocks, report each, then the claims."""
    job_file = Path(job_path)
    job = pickle.loads(job_file.read_bytes())
    workdir = job_file.parent
    if job["offline"]:
        # Pages are hermetic: as under the test suite's pytest-socket, connections go
        # to loopback only (a block that reaches the network fails, naming the host).
        from pytest_socket import socket_allow_hosts

        socket_allow_hosts(["127.0.0.1", "localhost", "::1"], allow_unix_socket=True)
    # The globals of a fresh interactive interpreter: a new, empty __main__ module.
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    session = blocks.PageSession(workdir, dict(os.environ), namespace=main.__dict__,
                                 silent_without_output=job["all_output_shown"],
                                 name_written_files=job["name_written_files"],
                                 ignore_files=frozenset({RESULTS, LOG, JOB}))
    ignore = frozenset({RESULTS, LOG, JOB})
    learner_dir = Path(job["learner_dir"]) if job.get("learner_dir") else None
    fork_at = next((b.index for b in job["blocks"] if b.in_solution), None) if learner_dir else None
    go = -1  # the parent's end of the learner's go-pipe
    printed: list[str] = []
    ok = True
    out = open(workdir / RESULTS, "a", encoding="utf-8")  # noqa: SIM115 - the learner swaps it
    learner = False
    for block in job["blocks"]:
        if block.index == fork_at and ok:
            learner_pid, go = _start_learner(workdir, learner_dir, ignore)
            if learner_pid == 0:  # this is the learner's copy, after the reader's run
                learner = True
                out.close()
                out = open(learner_dir / LEARNER_RESULTS, "a", encoding="utf-8")  # noqa: SIM115
                _write(out, {"pid": os.getpid()})
                session.workdir = learner_dir
                printed = []
        if learner and block.in_solution:
            continue
        if not job["compare"]:
            block.expected_output = None
        start = time.perf_counter()
        try:
            output = session.run(block)
            item = {"index": block.index, "status": "passed", "output": output}
            if block.language != "python":
                item["stderr"] = session.last_stderr
            printed.append(output if block.language == "python" else "")
        except blocks.BlockFailure as err:
            item = {"index": block.index, "status": "failed", "message": str(err)}
            ok = False
        finally:
            if "matplotlib.pyplot" in sys.modules:  # figures do not pile up over a page
                sys.modules["matplotlib.pyplot"].close("all")
        item["seconds"] = round(time.perf_counter() - start, 3)
        _write(out, item)
        if not ok:
            break
    if ok and job["claims"] and not learner:
        import importlib.util

        spec = importlib.util.spec_from_file_location("_page_claims", job["claims"])
        try:
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.claims(main.__dict__, "".join(printed), workdir)
            _write(out, {"claims": "passed"})
        except Exception:  # report any failure of the claims with its traceback
            _write(out, {"claims": "failed", "message": traceback.format_exc()})
    _write(out, {"done": True})
    out.close()
    if learner:
        os._exit(0)  # the copy leaves no trace in the reader's process (no atexit, no flush twice)
    if go >= 0:
        os.write(go, b"g")  # the reader's run has finished: the learner's copy may start
        os.close(go)
        os.waitpid(learner_pid, 0)  # and this process reaps it (no zombie left to PID 1)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
