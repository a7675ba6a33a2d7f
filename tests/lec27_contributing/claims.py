"""What Lecture 27 computes, checked after its last block in the page's own session."""

import torch

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    assert files_written(workdir, "*.png") == {"lec27/compile-pipeline.png"}
    # the op the page built has CPU, fake and autograd kernels, right values and gradients
    op = torch.ops.course27.softcap
    x = torch.randn(7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: op(t, 1.5), (x,))
    assert torch.allclose(op(x, 1.5), 1.5 * torch.tanh(x / 1.5))
    assert op(torch.full((3,), 1e4), 2.0).abs().max() <= 2.0  # saturates at the cap
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    assert has("course27::softcap", "CPU") and has("course27::softcap", "Meta")
    # the compile pipeline: Dynamo's graph holds the Python calls, AOTAutograd's backward
    # holds the ATen derivatives, Inductor fused the pointwise ops and called a library mm
    stages = ns["stages"]
    assert stages["dynamo"][:2] == ["matmul", "gelu"]
    assert "gelu_backward.default" in stages["backward"] and "mm.default" in stages["forward"]
    assert len(ns["kernels"]) == 1 and ns["extern"] == ["mm"]
    # the generated code is C++ with a kernel function; its text differs per CPU (not checked)
    code = (workdir / "lec27" / "inductor_output_code.py").read_text(encoding="utf-8")
    assert 'extern "C"' in code and ns["kernels"][0] in code and "def call(" in code
    # recompiles: an int, a size and a dtype change each cost one; repeats cost none
    assert len(ns["compiled_graphs"]) == 4 and len(ns["recompiles"].reasons) == 3
    assert "graphs: 2 | breaks: 1" in out
    assert "Mismatch in kernel C++ signatures" in out
