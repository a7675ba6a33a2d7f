"""Claims about what the chapter computes, checked in the page's own session.

The page runs once, in a fresh interpreter (tests/test_docs_pages.py); after its last
block, ``claims`` receives that session's globals, everything the page printed, and
its working directory.
"""

import pytest
import torch

PAGE = "docs/lectures/03-autograd.md"
pytestmark = pytest.mark.xdist_group(PAGE)


def claims(ns, out, workdir):
    assert ns["same"] is True, "micro-batch accumulation equals the full batch"
    assert (ns["d"].value, ns["d"].tangent) == (10.0, 13.0), "dual numbers give f and f'"
    assert torch.allclose(ns["J_forward"], ns["J_reverse"])
    assert {p.name for p in workdir.glob("*.png")} == {"lec03-backward-graph.png",
                                                       "lec03-gradient-norms.png"}
    assert "SwishFunction   saves 2 tensor(s), new memory held: 4 MB" in out
    assert "Function 'SqrtBackward0' returned nan values" in out


def test_claims(sessions_root):
    import docs_support  # not at the top: claims() also runs in the page's process

    docs_support.check_claims(PAGE, sessions_root)
