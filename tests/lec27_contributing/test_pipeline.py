"""The compile stages are captured without code generation, and drawn."""

import pytest
import torch

from tutorials.lec27_contributing import pipeline


def test_capture_stages():
    def f(x, w):
        return torch.tanh(x @ w) * 2

    stages = pipeline.capture_stages(f, torch.randn(2, 3), torch.randn(3, 4, requires_grad=True))
    assert stages["dynamo"] == ["matmul", "tanh", "mul"]
    assert stages["forward"][0] == "mm.default" and "tanh_backward.default" in stages["backward"]


def test_draw_pipeline(tmp_path):
    path = pipeline.draw_pipeline({"dynamo": 3, "forward": 4, "backward": 6, "kernels": 1, "extern": 1},
                                  tmp_path / "p.png")
    assert path.stat().st_size > 5000
    with pytest.raises(ValueError, match="lack"):
        pipeline.draw_pipeline({"dynamo": 3}, tmp_path / "q.png")
