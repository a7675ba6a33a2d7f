"""Claims about what the chapter computes, checked in the page's own session.

The page runs once, in a fresh interpreter (tests/test_docs_pages.py); after its last
block, ``claims`` receives that session's globals, everything the page printed, and
its working directory.
"""

import json

import pytest

PAGE = "docs/lectures/07-profiling.md"
pytestmark = pytest.mark.xdist_group(PAGE)


def claims(ns, out, workdir):
    assert {p.name for p in workdir.glob("*.png")} == {"lec07-schedule.png",
                                                       "lec07-ops-per-phase.png"}
    trace = json.loads((workdir / "lec07-trace.json").read_text())
    names = {e.get("name") for e in trace["traceEvents"]}
    assert {"forward", "backward", "optimizer", "ProfilerStep#4"} <= names
    assert ns["actions"][:4] == ["NONE", "WARMUP", "RECORD", "RECORD_AND_SAVE"]
    assert ns["counts"]["backward"] > ns["counts"]["forward"] > ns["counts"]["optimizer"]
    assert ns["profiling"].classify_bottleneck(ns["slow"]) == "data-bound"
    assert ns["profiling"].classify_bottleneck(ns["fast"]) == "compute-bound"
    assert "train_logging_every_step  {'aten::item': 8" in out
    assert "train_logging_once        {'aten::item': 1" in out
    assert "{'Linear': torch.bfloat16, 'ReLU': torch.bfloat16}" in out
    assert "Profiler must be initialized" in out


def test_claims(sessions_root):
    import docs_support  # not at the top: claims() also runs in the page's process

    docs_support.check_claims(PAGE, sessions_root)
