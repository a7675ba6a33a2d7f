import threading

import numpy as np
import pytest

from tutorials.core.distributed import free_port
from tutorials.lec16_onnx_serving.serving import (
    MicroBatcher,
    build_app,
    get_json,
    load_test,
    percentiles,
    plot_serving,
    post_json,
    serving,
)


def _no_threads_left():
    names = {t.name for t in threading.enumerate()}
    return "uvicorn" not in names and "micro-batcher" not in names


def test_batcher_batches_and_keeps_rows_apart():
    calls = []

    def run(x):
        calls.append(len(x))
        return x * 10

    with MicroBatcher(run, max_batch=4, max_wait_ms=50) as mb:
        futures = [mb.submit(np.full(2, i, np.float32)) for i in range(6)]
        got = [f.result(timeout=5).tolist() for f in futures]
    assert got == [[10.0 * i] * 2 for i in range(6)]
    assert sum(calls) == 6 and max(calls) <= 4 and len(calls) < 6
    assert mb.batch_sizes == calls and _no_threads_left()


def test_batcher_failure_reaches_every_caller_and_submit_needs_start():
    def boom(x):
        raise RuntimeError("model failed")

    with MicroBatcher(boom, max_batch=2, max_wait_ms=20) as mb:
        futures = [mb.submit(np.zeros(1)) for _ in range(2)]
        for f in futures:
            with pytest.raises(RuntimeError, match="model failed"):
                f.result(timeout=5)
    with pytest.raises(RuntimeError, match="not running"):
        MicroBatcher(boom).submit(np.zeros(1))


def test_service_end_to_end(tmp_path):
    def run(x):  # (n, 1, 2, 2) -> (n, 3): a fake model
        return np.stack([x.sum(axis=(1, 2, 3)), x.max(axis=(1, 2, 3)), np.zeros(len(x))], 1)

    port = free_port()
    images = np.arange(24, dtype=np.float32).reshape(6, 2, 2)
    with MicroBatcher(run, max_batch=4, max_wait_ms=5) as mb:
        with serving(build_app(mb, image_shape=(2, 2)), port) as url:
            assert url == f"http://127.0.0.1:{port}"
            assert get_json("127.0.0.1", port, "/health") == (200, {"status": "ok", "batches_run": 0})
            status, body = post_json("127.0.0.1", port, "/predict", {"image": [[1, 2], [3]]})
            assert status == 422
            assert body["detail"] == "image must have shape (2, 2), got 2 rows of lengths [1, 2]"
            status, body = post_json("127.0.0.1", port, "/predict", {"image": "x"})
            assert status == 422
            results = load_test("127.0.0.1", port, images, concurrency=3)
    assert [r[1] for r in results] == [200] * 6
    assert [r[2]["logits"][0] for r in results] == [float(i.sum()) for i in images]
    assert [r[2]["label"] for r in results] == [0] * 6
    assert sum(mb.batch_sizes) == 6 and _no_threads_left()
    lat = [1e3 * r[0] for r in results]
    p = percentiles(lat)
    assert list(p) == ["p50", "p95", "p99"] and p["p50"] <= p["p95"] <= p["p99"]
    assert plot_serving(lat, mb.batch_sizes, tmp_path / "s.png", "t").stat().st_size > 5_000


def test_serving_stops_even_when_the_block_fails():
    port = free_port()
    with MicroBatcher(lambda x: x) as mb, pytest.raises(ZeroDivisionError):
        with serving(build_app(mb), port):
            raise ZeroDivisionError("the block failed")
    assert _no_threads_left()
