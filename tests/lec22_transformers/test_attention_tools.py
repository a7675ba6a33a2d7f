"""The chapter's helpers on tiny inputs."""

import pytest
import torch

from tutorials.lec22_transformers import attention_tools as tools


def test_attention_matrix_bytes_is_exact():
    assert tools.attention_matrix_bytes(2, 3, 5) == 2 * 3 * 25 * 4
    assert tools.attention_matrix_bytes(1, 1, 8, dtype=torch.bfloat16) == 128
    with pytest.raises(ValueError, match="must be >= 1"):
        tools.attention_matrix_bytes(1, 0, 8)


def test_time_attention_returns_one_positive_time_per_length():
    calls = []

    def attend(q, k, v):
        calls.append(tuple(q.shape))
        return q

    times = tools.time_attention(attend, [4, 8], heads=2, head_dim=3, repeats=2)
    assert len(times) == 2 and all(t >= 0 for t in times)
    assert calls == [(1, 2, 4, 3)] * 3 + [(1, 2, 8, 3)] * 3  # one warm-up + two timed each
    with pytest.raises(ValueError, match="repeats"):
        tools.time_attention(attend, [4], repeats=0)


def test_reversal_batch():
    src, tgt_in, tgt = tools.reversal_batch(3, 5, torch.Generator().manual_seed(0))
    assert src.shape == tgt_in.shape == tgt.shape == (3, 5)
    assert torch.equal(tgt, src.flip(1)) and torch.equal(tgt_in[:, 1:], tgt[:, :-1])
    assert (tgt_in[:, 0] == 10).all() and src.max() < 10
    with pytest.raises(ValueError, match="collides"):
        tools.reversal_batch(1, 2, torch.Generator(), bos=3)


def test_figures_are_written(tmp_path):
    path = tools.draw_heatmaps([(torch.rand(4, 5), "t", "x", "y")], tmp_path / "h.png")
    assert path.stat().st_size > 1000
    with pytest.raises(ValueError, match="2-D"):
        tools.draw_heatmaps([(torch.rand(4), "bad", "x", "y")], tmp_path / "bad.png")
    path = tools.draw_patch_grid([(torch.rand(8, 8), 2, "digit"), (torch.rand(16, 16, 3), 4, "photo")],
                                 tmp_path / "p.png")
    assert path.stat().st_size > 1000
    with pytest.raises(ValueError, match="whole number"):
        tools.draw_patch_grid([(torch.rand(9, 8), 2, "odd")], tmp_path / "odd.png")
