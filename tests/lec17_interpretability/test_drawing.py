"""The chapter's figures are written as PNG files of a sensible size."""

import numpy as np
import torch
from PIL import Image

from tutorials.lec17_interpretability import drawing


def _size(path):
    return Image.open(path).size


def test_attribution_grid(tmp_path):
    path = tmp_path / "grid.png"
    maps = {"a": torch.randn(3, 16, 16), "b": torch.zeros(3, 16, 16)}
    drawing.attribution_grid(torch.rand(3, 16, 16), maps, ["x", "y", "z"], path, title="t")
    w, h = _size(path)
    assert w > 300 and h > 300


def test_token_colors(tmp_path):
    path = tmp_path / "tokens.png"
    drawing.token_colors([["good", "movie"], ["bad"]], [[1.0, -0.1], [-2.0]], ["p=1", "p=0"], path)
    assert _size(path)[0] == 900


def test_pathology_panels_and_curves_and_scatter(tmp_path):
    drawing.pathology_panels({"a": [1e-3, 1e-1]}, {"a": [1.0, 2.0]}, {"lr": [0.0, 1.0]}, [0.1, 2.0],
                             ["clean", "bad"], tmp_path / "p.png")
    drawing.curves(["l1", "l2"], {"s": [0.5, 0.9]}, "acc", "t", tmp_path / "c.png", ylim=(0, 1))
    pts = np.random.default_rng(0).normal(size=(50, 2))
    drawing.embedding_scatter({"pca": pts}, np.arange(50) % 10, tmp_path / "e.png")
    for name in ("p.png", "c.png", "e.png"):
        assert (tmp_path / name).stat().st_size > 5_000
