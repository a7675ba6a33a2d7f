"""What the chapter computes, checked after its last block in the page's own session."""

import torch
from torch.func import jvp, vmap

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    assert {"lec11/ntk.png", "lec11/jacfwd-vs-jacrev.png"} <= files_written(workdir, "*.png")
    # section 10 (recorded timings): forward mode wins clearly on the tallest Jacobian,
    # reverse mode on the widest — the direction the pass counting predicts
    rows = {(r["n_in"], r["n_out"]): r for r in ns["rows"]}
    assert rows[(2, 1024)]["rev_over_fwd"] > 2.0, rows[(2, 1024)]
    assert rows[(1024, 2)]["rev_over_fwd"] < 0.5, rows[(1024, 2)]
    # 8 x 256 (8 outputs): reverse mode needs 32 times fewer passes; it wins, if by less
    assert rows[(256, 8)]["rev_over_fwd"] < 1.0, rows[(256, 8)]
    assert "J is 1024 x 2 " in out and "J is    2 x 1024" in out
    # section 9: the NTK is a Gram matrix of the parameter Jacobian
    ntk, jg = ns["ntk"], ns["Jg"]
    assert ntk.shape == (41, 41) and jg.shape[0] == 41
    assert torch.allclose(ntk, ntk.T, rtol=1e-5, atol=1e-5)
    assert torch.linalg.eigvalsh(ntk.double()).min() > -1e-6 * ntk.diagonal().sum()
    assert torch.allclose(ntk.diagonal(), (jg * jg).sum(1), rtol=1e-4)
    # section 7: per-sample gradients average to the batch gradient
    for k, g in ns["per_sample"].items():
        assert g.shape[0] == 16
        assert torch.allclose(g.mean(0), ns["grads"][k], atol=1e-6)
    # sections 3-4: Hessian (forward over reverse) and the dual-number JVP
    x, v = ns["x"], torch.tensor([1.0, 0.0, 0.0])
    assert torch.allclose(ns["H"], torch.autograd.functional.hessian(ns["energy"], x))
    assert torch.allclose(ns["tangent"], jvp(ns["h"], (x,), (v,))[1])
    # section 8: the ensemble ran five different models
    preds = ns["preds"]
    assert preds.shape[0] == 5 and not torch.allclose(preds[0], preds[1])
    # section 5: nested vmap is a matrix product
    assert torch.allclose(vmap(vmap(ns["dot"], (0, None)), (None, 0))(ns["A"], ns["B"]), ns["B"] @ ns["A"].T)
    # section 12: the C++ program trained (loss falls), and Python reads its weights back
    run = ns["run"]
    assert "lec11/mlp_cpp.pt" in files_written(workdir)
    assert run.losses[300] < 0.5 * run.losses[0] and run.accuracy > 0.9
    assert run.parameters == sum(p.numel() for p in ns["cpp_model"].parameters())
    assert all(abs(ns["py_losses"][k] - run.losses[k]) < 1e-3 for k in run.losses)
    # section 13: TorchScript's fork/wait warn as deprecated; the graph holds prim::fork
    assert "`torch.jit.fork` is deprecated" in out
    assert "prim::fork" in str(ns["two_branches"].graph)
