"""Read where a stuck process is: Python stacks from ``faulthandler``, C++ stacks from ``gdb``.

Two tools answer "where is it now?" for a process that hangs:

* ``faulthandler`` (standard library) prints the Python stack of every thread from a
  signal handler written in C, so it works while the main thread is blocked inside
  C++ (a collective, a lock, a CUDA call). Register it for a signal
  (``faulthandler.register(signal.SIGUSR1)``, then ``kill -USR1 <pid>``), or for
  ``SIGTERM`` with ``chain=True`` so that a launcher killing a hung rank gets its stack
  first, or arm ``faulthandler.dump_traceback_later(seconds)`` as a watchdog.
  :func:`stack_functions` reads such a dump back as function names.
* ``gdb`` attaches to a live process and shows the native frames: which C++ function
  of ``libtorch`` or gloo/NCCL the thread waits in; with CPython's gdb extension,
  ``py-bt`` shows the Python frames as well. :func:`gdb_backtrace` runs it in batch
  mode; :func:`native_functions` keeps the function names of its ``bt``.
  ``py-spy dump --pid <pid>`` gives both stacks without gdb (``pip install py-spy``).

Attaching needs the right to trace the process: the same user, and in a container
``--cap-add=SYS_PTRACE`` (Docker) or a kernel with ``kernel.yama.ptrace_scope`` 0.

Examples:
    >>> text = '''Current thread 0x00007f (most recent call first):
    ...   File "/x/c10d_logger.py", line 83 in wrapper
    ...   File "/x/train.py", line 15 in step
    ...   File "/x/distributed.py", line 121 in _rank_main
    ... '''
    >>> stack_functions(text)
    ['wrapper', 'step']
"""

from __future__ import annotations

import re
import shutil
import subprocess

__all__ = ["gdb_backtrace", "native_functions", "stack_functions"]

_FAULTHANDLER_FRAME = re.compile(r'^\s*File "[^"]*", line \d+ in (\S+)\s*$')
_GDB_FRAME = re.compile(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(.+?) \(")


def stack_functions(dump: str, stop_at: str = "_rank_main") -> list[str]:
    """The function names of the first stack in a ``faulthandler`` dump, innermost first.

    Args:
        dump: what ``faulthandler`` wrote (``File "...", line N in name`` lines).
        stop_at: the name of a frame where to stop (not included): by default the
            body of a rank in ``tutorials.core.distributed.launch``, below which every
            rank's stack is the same.

    Returns:
        The names, from the frame that was running to the outermost one kept.
    """
    names = []
    for line in dump.splitlines():
        if names and not line.strip():
            break  # the end of the first thread's stack
        m = _FAULTHANDLER_FRAME.match(line)
        if m:
            if m.group(1) == stop_at:
                break
            names.append(m.group(1))
    return names


def native_functions(backtrace: str) -> list[str]:
    """The function names of a ``gdb`` ``bt``, innermost first (template arguments kept).

    Args:
        backtrace: gdb's output, ``#0  0x... in name (args) at file:line`` lines.

    Returns:
        One name per frame.
    """
    out = []
    for line in backtrace.splitlines():
        m = _GDB_FRAME.match(line)
        if m:
            out.append(m.group(1))
    return out


def gdb_backtrace(pid: int, *, python: bool = True, timeout: float = 120.0) -> str:
    """Attach ``gdb`` to a running process and return its ``py-bt`` and ``bt`` of the main thread.

    The process is stopped only while gdb reads it, and continues when gdb detaches.

    Args:
        pid: the process.
        python: also run ``py-bt`` (needs CPython's gdb extension, ``python3.X-gdb.py``,
            which Debian's ``python3-dbg`` and pyenv builds install).
        timeout: seconds before gdb is killed.

    Returns:
        What gdb printed (standard output).

    Raises:
        FileNotFoundError: ``gdb`` is not installed.
        subprocess.TimeoutExpired: gdb took longer than ``timeout``.
    """
    gdb = shutil.which("gdb")
    if gdb is None:
        raise FileNotFoundError("gdb is not installed (apt install gdb); `py-spy dump --pid N` is an "
                                "alternative")
    cmd = [gdb, "-q", "-batch", "-iex", "set auto-load safe-path /", "-p", str(pid)]
    if python:
        cmd += ["-ex", "py-bt"]
    cmd += ["-ex", "bt"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout
