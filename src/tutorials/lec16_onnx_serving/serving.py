"""A minimal production pattern: an HTTP service with dynamic micro-batching around ONNX Runtime.

* :class:`MicroBatcher`: requests wait in a queue; one worker thread takes the first,
  then whatever arrives within ``max_wait_ms`` (up to ``max_batch`` in all), runs the
  model **once** on the stacked batch and hands each caller its own row.
* :func:`build_app`: a FastAPI app with ``GET /health`` and ``POST /predict``
  (``{"image": 8×8 numbers}`` → ``{"logits": [...], "label": int}``); a wrong shape is a
  422 whose message names the shape received.
* :func:`serving`: runs the app with uvicorn on ``127.0.0.1`` in a thread, and always
  stops it (and the batcher) when the ``with`` block ends.
* :func:`load_test`: a bounded load test from threads with ``http.client``;
  :func:`percentiles`; :func:`plot_serving`.

Example:
    >>> import numpy as np
    >>> with MicroBatcher(lambda x: x * 2, max_batch=4, max_wait_ms=1.0) as mb:
    ...     mb.submit(np.ones(3, np.float32)).result(timeout=5).tolist()
    [2.0, 2.0, 2.0]
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel

if TYPE_CHECKING:  # FastAPI is imported when an app is built
    from fastapi import FastAPI

__all__ = ["MicroBatcher", "build_app", "get_json", "load_test", "percentiles", "plot_serving", "post_json",
           "PredictRequest", "serving"]


class MicroBatcher:
    """Group single requests into batches for one model call.

    Args:
        run_batch: ``run_batch(x)`` runs the model on a stacked ``(n, ...)`` array and returns ``(n, ...)``.
        max_batch: the most requests in one call.
        max_wait_ms: how long the first request of a batch waits for company.

    Attributes:
        batch_sizes: the size of every batch run so far, in order.
    """

    def __init__(self, run_batch: Callable[[np.ndarray], np.ndarray], max_batch: int = 16,
                 max_wait_ms: float = 2.0) -> None:
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1e3
        self.batch_sizes: list[int] = []
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def submit(self, x: np.ndarray) -> Future:
        """Queue one input (without its batch dimension); the future receives its output row."""
        if self._thread is None:
            raise RuntimeError("MicroBatcher is not running: use it in a `with` block (or call start())")
        fut: Future = Future()
        self._queue.put((x, fut))
        return fut

    def start(self) -> MicroBatcher:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._work, name="micro-batcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker thread (after the batch it is running) and wait for it."""
        if self._thread is not None:
            self._queue.put(None)  # sentinel
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> MicroBatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            items, deadline, stop = [first], time.perf_counter() + self.max_wait, False
            while len(items) < self.max_batch:  # gather until full or the first one waited enough
                left = deadline - time.perf_counter()
                try:
                    item = self._queue.get(timeout=max(left, 0.0)) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                items.append(item)
            self.batch_sizes.append(len(items))
            try:
                out = self.run_batch(np.stack([x for x, _ in items]))
                for row, (_, fut) in zip(out, items):
                    fut.set_result(row)
            except Exception as err:  # every waiting caller learns of the failure
                for _, fut in items:
                    fut.set_exception(err)
            if stop:
                return


class PredictRequest(BaseModel):
    """The body of ``POST /predict``: one image as rows of numbers."""

    image: list[list[float]]


def build_app(batcher: MicroBatcher, image_shape: tuple[int, ...] = (8, 8),
              timeout_s: float = 10.0) -> FastAPI:
    """A FastAPI app serving ``batcher``: ``GET /health`` and ``POST /predict``.

    Args:
        batcher: a running :class:`MicroBatcher` whose model returns logits.
        image_shape: the shape ``"image"`` must have; anything else is a 422.
        timeout_s: the longest a request waits for its batch.

    Returns:
        The ``fastapi.FastAPI`` application.
    """
    import asyncio

    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="digits-onnx")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "batches_run": len(batcher.batch_sizes)}

    @app.post("/predict")
    async def predict(req: PredictRequest) -> dict:
        rows = {len(r) for r in req.image}
        shape = (len(req.image), rows.pop()) if len(rows) == 1 else None
        if shape != tuple(image_shape):
            got = f"{len(req.image)} rows of lengths {sorted({len(r) for r in req.image})}" if shape is None \
                else str(shape)
            raise HTTPException(status_code=422,
                                detail=f"image must have shape {tuple(image_shape)}, got {got}")
        x = np.asarray(req.image, dtype=np.float32)[None]  # (1, H, W): one channel
        # the event loop does not block: it awaits the batcher's future
        logits = await asyncio.wait_for(asyncio.wrap_future(batcher.submit(x)), timeout_s)
        return {"logits": logits.tolist(), "label": int(logits.argmax())}

    return app


@contextlib.contextmanager
def serving(app: object, port: int, host: str = "127.0.0.1", start_timeout: float = 20.0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread for the duration of a ``with`` block.

    Args:
        app: an ASGI application.
        port: a free port (:func:`tutorials.core.distributed.free_port`).
        host: the address to listen on (loopback by default: nothing outside this machine reaches it).
        start_timeout: seconds to wait for the server to accept connections.

    Yields:
        The base URL, ``http://host:port``.

    Raises:
        RuntimeError: the server did not start in time.
    """
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.perf_counter() + start_timeout
        while not server.started:
            if not thread.is_alive() or time.perf_counter() > deadline:
                raise RuntimeError(f"the server on {host}:{port} did not start within {start_timeout} s")
            time.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True  # uvicorn finishes open requests, then returns from run()
        thread.join(timeout=10)


def _request(host: str, port: int, method: str, path: str, payload: object | None,
             timeout: float) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        body = None if payload is None else json.dumps(payload)
        headers = {} if payload is None else {"Content-Type": "application/json"}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def get_json(host: str, port: int, path: str, timeout: float = 10.0) -> tuple[int, dict]:
    """``GET path``; returns ``(status, decoded JSON body)``."""
    return _request(host, port, "GET", path, None, timeout)


def post_json(host: str, port: int, path: str, payload: object, timeout: float = 10.0) -> tuple[int, dict]:
    """``POST path`` with a JSON body; returns ``(status, decoded JSON body)``."""
    return _request(host, port, "POST", path, payload, timeout)


def load_test(host: str, port: int, images: np.ndarray, concurrency: int = 8,
              timeout: float = 10.0) -> list[tuple[float, int, dict]]:
    """Send one ``POST /predict`` per image from ``concurrency`` threads; a fixed, bounded load.

    Args:
        host: the server's address.
        port: its port.
        images: ``(n, H, W)`` images, one request each.
        concurrency: requests in flight at most (client threads).
        timeout: seconds each request may take.

    Returns:
        ``(latency in seconds, status, body)`` per image, in the order of ``images``.
    """
    def one(image: np.ndarray) -> tuple[float, int, dict]:
        start = time.perf_counter()
        status, body = post_json(host, port, "/predict", {"image": image.tolist()}, timeout)
        return time.perf_counter() - start, status, body

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, images))


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    """``{"p50": ..., "p95": ..., "p99": ...}`` of ``values`` (linear interpolation, NumPy's default)."""
    return {f"p{q:g}": float(np.percentile(np.asarray(values, dtype=float), q)) for q in qs}


def plot_serving(latencies_ms: Sequence[float], batch_sizes: Sequence[int], path: str | Path,
                 title: str) -> Path:
    """Two panels: the histogram of request latencies with p50/p95/p99, and of the batch sizes run.

    Args:
        latencies_ms: one latency per request, in milliseconds.
        batch_sizes: the size of every batch the batcher ran.
        path: the PNG to write (its folder is created).
        title: the figure's title.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.hist(latencies_ms, bins=20, color="tab:blue", alpha=0.8)
    for name, value in percentiles(latencies_ms).items():
        ax1.axvline(value, color="k", ls="--", lw=1)
        ax1.text(value, ax1.get_ylim()[1] * 0.9, f" {name}", fontsize=8)
    ax1.set_xlabel("request latency (ms)")
    ax1.set_ylabel("requests")
    sizes = np.bincount(np.asarray(batch_sizes, dtype=int))
    ax2.bar(np.arange(len(sizes))[1:], sizes[1:], color="tab:orange")
    ax2.set_xlabel("batch size run by the model")
    ax2.set_ylabel("batches")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
