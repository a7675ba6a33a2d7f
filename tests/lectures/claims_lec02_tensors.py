"""What the chapter computes, checked after its last block in the page's own session."""

import torch


def claims(ns, out, workdir):
    assert ns["t"].stride() == (1, 4) and not ns["t"].is_contiguous()
    assert ns["windows"].stride() == (2, 1)
    assert ns["nhwc"].stride() == (60, 1, 15, 3)
    assert ns["out"].is_contiguous(memory_format=torch.channels_last)
    assert ns["right"].tolist() == [1.0, 3.0, 0.0, 1.0]
    assert ns["t_sparse"].median_us > 4 * ns["t_dense"].median_us
    assert {p.name for p in workdir.glob("*.png")} == {"lec02-strides.png",
                                                       "lec02-channels-last.png"}
    assert "strided read at least 4x slower: True" in out
    assert "refers to a single memory location" in out

