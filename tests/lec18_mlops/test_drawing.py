"""The two figures are drawn from plain data."""

import numpy as np

from tutorials.lec18_mlops.drawing import _coarse, _range, draw_drift, draw_tensorboard


def test_coarse_keeps_the_count():
    edges = np.concatenate([-np.logspace(1, -3, 50), np.logspace(-3, 1, 50), [np.inf]])
    counts = np.zeros(len(edges))
    counts[40:60] = 5
    lo, hi = _range(edges, counts)
    centres, summed = _coarse(edges, counts, np.linspace(lo, hi, 31))
    assert len(centres) == 30 and abs(summed.sum() - counts.sum()) < 1e-6


def test_figures(tmp_path):
    curves = {"a": {"loss/train": [(1, 1.0), (2, 0.5)], "accuracy/val": [(1, 0.5), (2, 0.8)]}}
    edges = np.linspace(-1, 1, 21)
    hist = [(1, edges, np.ones(21)), (2, edges, np.arange(21.0))]
    path = draw_tensorboard(curves, hist, "w", tmp_path / "tb.png")
    assert path.stat().st_size > 10_000
    rng = np.random.default_rng(0)
    path = draw_drift(
        rng.normal(0.3, 0.03, 500), {"d": rng.normal(0.5, 0.03, 200)}, {"d": 8.0}, tmp_path / "d.png"
    )
    assert path.stat().st_size > 10_000
