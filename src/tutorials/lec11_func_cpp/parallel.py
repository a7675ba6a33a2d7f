"""Task parallelism in PyTorch today: what replaced TorchScript's ``fork``/``wait``.

Lecture 11's "dynamic parallelism" section. :func:`scripted_fork` builds the
TorchScript function the old tutorials used (``torch.jit.script`` needs the function's
source file, so it lives in a module, not on the page) and returns the deprecation
warnings it raised; :func:`submit` runs a function on a thread pool and hands back a
``torch.futures.Future``, the object ``then`` and ``collect_all`` work on;
:func:`two_streams_matmul` runs two matrix products on two CUDA streams when a GPU is
there (and one after the other otherwise).

Examples:
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> import torch
    >>> with ThreadPoolExecutor(1) as pool:
    ...     submit(pool, torch.add, torch.ones(1), 1).wait()
    tensor([2.])
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import torch
from torch import Tensor

__all__ = ["scripted_fork", "submit", "two_streams_matmul"]


def _two_branches(x: Tensor) -> Tensor:
    a = torch.jit.fork(torch.mm, x, x)  # starts mm(x, x) as an asynchronous task
    b = torch.mm(x, x.t())  # meanwhile, this thread computes the other branch
    return torch.jit.wait(a) + b  # join


def scripted_fork() -> tuple[Any, list[str]]:
    """Script :func:`_two_branches` (``fork`` + ``wait``) and collect the warnings it raises.

    Returns:
        The ``torch.jit.ScriptFunction`` and the message of each distinct warning raised
        while scripting it (a ``FutureWarning`` in torch 2.14; earlier releases raised
        a ``DeprecationWarning``, so the category is left out).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn = torch.jit.script(_two_branches)
    seen: list[str] = []
    for w in caught:
        text = str(w.message)
        if text not in seen:
            seen.append(text)
    return fn, seen


def submit(pool: Executor, fn: Callable[..., Any], *args: Any) -> torch.futures.Future:
    """Run ``fn(*args)`` on ``pool`` and return a ``torch.futures.Future`` of its result.

    An exception raised by ``fn`` is set on the future, so ``wait()`` re-raises it.

    Args:
        pool: a ``concurrent.futures`` executor (a ``ThreadPoolExecutor``: PyTorch's
            operators release the GIL, so threads run them in parallel).
        fn: the function to run.
        *args: its arguments.

    Returns:
        A future that completes with ``fn(*args)``.
    """
    fut: torch.futures.Future = torch.futures.Future()

    def run() -> None:
        try:
            fut.set_result(fn(*args))
        except Exception as err:  # noqa: BLE001 - handed to whoever waits
            fut.set_exception(err)

    pool.submit(run)
    return fut


def two_streams_matmul(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """``a @ a`` and ``b @ b``, on two CUDA streams when ``a`` is on a GPU.

    On a CUDA device each product is queued on its own side stream, so the GPU may run
    them concurrently; the current stream then waits for both before the results are
    used. On any other device the two products run one after the other.

    Args:
        a: a square matrix.
        b: a square matrix on the same device.

    Returns:
        The two products.
    """
    if a.device.type != "cuda":
        return a @ a, b @ b
    current = torch.cuda.current_stream(a.device)
    s1, s2 = torch.cuda.Stream(a.device), torch.cuda.Stream(a.device)
    s1.wait_stream(current)  # a and b were made on the current stream: wait for them
    s2.wait_stream(current)
    with torch.cuda.stream(s1):
        r1 = a @ a
    with torch.cuda.stream(s2):
        r2 = b @ b
    current.wait_stream(s1)  # join: later work on `current` sees both results
    current.wait_stream(s2)
    r1.record_stream(current)  # memory made on s1/s2 is now used on `current`
    r2.record_stream(current)
    return r1, r2
