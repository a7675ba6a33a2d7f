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
  the page printed, and its working directory (see ``tests/lectures``).

The parent (:class:`PageProcess`) reads one JSON line per block from a results
file while the page runs, so the test of a block finishes as soon as that block
has run.
"""

from __future__ import annotations

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

__all__ = ["PageProcess", "PageResult"]

RESULTS = "_page_results.jsonl"
LOG = "_page_stderr.log"
JOB = "_page_job.pkl"


class PageResult(dict):
    """One line of the results file: ``index``, ``status``, ``output``, ``message``, ``seconds``."""


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
    """

    def __init__(self, page_blocks: Sequence[blocks.Block], workdir: Path, env: dict[str, str],
                 claims: Path | None = None, compare: bool = True, all_output_shown: bool = True,
                 offline: bool = True, name_written_files: bool = True) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.indices = [b.index for b in page_blocks]
        self.results: dict[int, PageResult] = {}
        self.claims_result: PageResult | None = None
        self.done = False
        self._offset = 0
        (self.workdir / RESULTS).write_text("")
        job = {"blocks": list(page_blocks), "claims": str(claims) if claims else None, "compare": compare,
               "all_output_shown": compare and all_output_shown, "offline": offline,
               "name_written_files": name_written_files}
        (self.workdir / JOB).write_bytes(pickle.dumps(job))
        env = dict(env)
        env["PYTHONIOENCODING"] = "utf-8"
        self._log = open(self.workdir / LOG, "wb")  # noqa: SIM115 - closed when the process ends
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tutorials._book.runner", str(self.workdir / JOB)],
            cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
        )

    def _read(self) -> None:
        with open(self.workdir / RESULTS, encoding="utf-8") as f:
            f.seek(self._offset)
            while True:
                line = f.readline()
                if not line.endswith("\n"):
                    break  # not completely written yet
                self._offset = f.tell()
                item = PageResult(json.loads(line))
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
        """Wait for the child to exit and close its log."""
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


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
    printed: list[str] = []
    ok = True
    with open(workdir / RESULTS, "a", encoding="utf-8") as out:
        for block in job["blocks"]:
            if not job["compare"]:
                block.expected_output = None
            start = time.perf_counter()
            try:
                output = session.run(block)
                item = {"index": block.index, "status": "passed", "output": output}
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
        if ok and job["claims"]:
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
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
