"""Each figure function writes a PNG of the expected size, finite and non-finite points alike."""

import doctest

from PIL import Image

from tutorials.lec26_debugging_hpc import figures
from tutorials.lec26_debugging_hpc.caching_allocator import MiB


def test_doctest():
    assert doctest.testmod(figures).failed == 0


def test_each_figure(tmp_path):
    runs = {"a": [(0, 1.0, 2.0), (1, 1e9, 1e10), (2, float("inf"), float("nan"))], "b": [(0, 1.0, 1.0)]}
    paths = [
        figures.plot_grad_norms(runs, bad_step=1, path=tmp_path / "g.png"),
        figures.plot_loss_scale([2.0**4, 2.0**3, 2.0**3, 2.0**4], skipped=[0], path=tmp_path / "s.png"),
        figures.plot_segments({"x": [[(0, 2 * MiB, True), (2 * MiB, 18 * MiB, False)]]}, unit=MiB,
                              capacity=40 * MiB, request=10 * MiB, path=tmp_path / "m.png"),
    ]
    for path in paths:
        width, height = Image.open(path).size
        assert width > 500 and height > 200, (path, width, height)
