"""What the chapter computes, checked after its last block in the page's own session."""

import torch

from tutorials._book.layout import files_written


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
    # Recorded too: mixing layouts costs, two transposed operands do not.
    mixed = ns["t_mixed"] / ns["t_same"]
    both = ns["t_both"] / ns["t_same"]
    assert mixed > 3, f"a + b.t() only {mixed:.2f}x the time of a + b"
    assert 0.6 < both < 1.6, f"a.t() + b.t() took {both:.2f}x the time of a + b"
    assert "(1024, 1) (1, 1024)" in out  # the result's layout follows its inputs
    assert files_written(workdir, "*.png") == {
        "lec02/strides.png", "lec02/channels-last.png"}
    assert "refers to a single memory location" in out

