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
    _formula_registered_late_is_missed_by_traces()


def _formula_registered_late_is_missed_by_traces():
    """The page's warning: a formula registered after the op was first traced is missed by
    later traces (a stale OpOverload._dispatch_cache in torch 2.14.1), and eager sees it."""
    lib = torch.library.Library("lec27_claims", "DEF")
    lib.define("double(Tensor x) -> Tensor")
    lib.impl("double", lambda x: x * 2, "CPU")
    torch.library.register_fake("lec27_claims::double", lambda x: torch.empty_like(x))
    op = torch.ops.lec27_claims.double
    torch.compile(lambda t: op(t), backend="aot_eager", fullgraph=True)(torch.randn(3))
    torch.library.register_autograd("lec27_claims::double", lambda ctx, g: g * 2)
    x = torch.randn(3, requires_grad=True)
    assert op(x).grad_fn is not None  # eager uses the formula
    try:
        torch.library.opcheck(op.default, (x,))
        stale = False
    except Exception as err:  # noqa: BLE001 - OpCheckError is internal
        stale = "does not require grad" in str(err)
    assert stale, "torch fixed the stale dispatch cache: drop the page's 'Register before' warning"
    op.default._dispatch_cache.clear()
    assert set(torch.library.opcheck(op.default, (x,)).values()) == {"SUCCESS"}
