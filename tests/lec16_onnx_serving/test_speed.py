import numpy as np
import pytest

from tutorials.lec16_onnx_serving.speed import latency_rows, plot_latency, speedups


def test_rows_speedups_and_plot(tmp_path):
    rows = latency_rows({"a": np.copy, "b": np.sort}, [1, 8], lambda b: np.zeros((b, 4), np.float32),
                        min_run_time=0.005)
    assert [(r["batch"], r["runner"]) for r in rows] == [(1, "a"), (1, "b"), (8, "a"), (8, "b")]
    assert all(r["ms"] > 0 for r in rows)
    assert all(r["samples_per_s"] == pytest.approx(r["batch"] / (r["ms"] / 1e3)) for r in rows)
    ratio = speedups(rows, baseline="a")
    assert ratio["a", 1] == ratio["a", 8] == 1.0
    path = plot_latency(rows, tmp_path / "sub" / "lat.png", "test")
    assert path.stat().st_size > 5_000


def test_speedups_need_the_baseline():
    with pytest.raises(KeyError):
        speedups([{"batch": 1, "runner": "x", "ms": 1.0}], baseline="eager")
