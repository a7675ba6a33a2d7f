"""What the chapter computes, checked after its last block in the page's own session."""

import torch

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    assert files_written(workdir, "*.png") == {
        "lec04/op-counts.png", "lec04/dispatch-path.png"}
    # the custom op has CPU, fake and autograd kernels and matches F.silu
    x = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(torch.ops.lec04.swish, (x,))
    assert torch.allclose(torch.ops.lec04.swish(x), torch.nn.functional.silu(x))
    # backward runs more ATen calls than forward, and the ReLU formula shows up
    assert ns["backward_counts"]["threshold_backward"] == 1
    assert ns["backward_counts"].total() > 2 * ns["forward_counts"].total()
    assert "values and gradients match eager: True" in out
    assert "There was no fake impl registered" in out
    assert "inside  autocast: excluded = False | mm -> torch.bfloat16" in out
    # section 6: a structured_delegate op with no dispatch: section (acos) gets kernels
    # from its out= form and is not CompositeImplicitAutograd; linear is
    has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key
    assert has_kernel("aten::acos", "CPU")
    assert not has_kernel("aten::acos", "CompositeImplicitAutograd")
    assert has_kernel("aten::linear", "CompositeImplicitAutograd")
