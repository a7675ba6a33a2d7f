"""Claims about what the chapter computes, checked in the page's own session.

The page runs once, in a fresh interpreter (tests/test_docs_pages.py); after its last
block, ``claims`` receives that session's globals, everything the page printed, and
its working directory.
"""

import pytest
import torch

PAGE = "docs/lectures/04-dispatcher.md"
pytestmark = pytest.mark.xdist_group(PAGE)


def claims(ns, out, workdir):
    assert {p.name for p in workdir.glob("*.png")} == {"lec04-op-counts.png",
                                                       "lec04-dispatch-path.png"}
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


def test_claims(sessions_root):
    import docs_support  # not at the top: claims() also runs in the page's process

    docs_support.check_claims(PAGE, sessions_root)
