"""What the chapter computes, checked after its last block in the page's own session."""

import torch


def claims(ns, out, workdir):
    assert ns["t"].stride() == (1, 4) and not ns["t"].is_contiguous()
    assert ns["windows"].stride() == (2, 1)
    assert ns["nhwc"].stride() == (60, 1, 15, 3)
    assert ns["out"].is_contiguous(memory_format=torch.channels_last)
    assert ns["right"].tolist() == [1.0, 3.0, 0.0, 1.0]
    # The timing is recorded output (machine-dependent): what must hold everywhere is
    # that a walk with a stride of 16 floats is clearly slower than a dense one.
    ratio = ns["t_sparse"].median_us / ns["t_dense"].median_us
    assert ratio > 1.5, f"strided sum only {ratio:.2f}x the dense time"
    assert {p.relative_to(workdir).as_posix() for p in workdir.rglob("*.png")} == {
        "lec02/strides.png", "lec02/channels-last.png"}
    assert "refers to a single memory location" in out

