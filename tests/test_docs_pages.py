"""Every executable block of every page, run as the reader sees it; figures checked too."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

import docs_support
from tutorials._book.update_outputs import figure_names, trace_names

PAGES = docs_support.pages()
BLOCKS = [
    pytest.param(
        b,
        id=b.test_id,
        marks=[pytest.mark.xdist_group(b.page)]
        + ([pytest.mark.skip(reason=r)] if (r := docs_support.skip_reason(b)) else []),
    )
    for _, page_blocks in PAGES.values()
    for b in page_blocks
]


@pytest.fixture(scope="session")
def sessions_root(tmp_path_factory):
    return tmp_path_factory.mktemp("pages")


@pytest.mark.parametrize("block", BLOCKS)
def test_block(block, sessions_root):
    docs_support.run_block(block, sessions_root)


def test_every_page_has_blocks_and_few_skips():
    assert PAGES, "no pages found under docs/"
    for page, (_, page_blocks) in PAGES.items():
        if page.startswith("docs/lectures/"):
            assert len(page_blocks) >= 10, f"{page}: a chapter should teach with runnable code"
            skipped = [b for b in page_blocks if docs_support.skip_reason(b)]
            assert not skipped, f"{page}: chapter blocks must all run, skipped: {skipped}"


def test_outputs_follow_code_blocks():
    """Every output block belongs to an executed block (no hand-written outputs)."""
    for page, (expanded, page_blocks) in PAGES.items():
        shown = len(re.findall(r"pytest-codeblocks:expected-output", expanded.text))
        checked = sum(b.expected_output is not None for b in page_blocks)
        assert shown == checked, f"{page}: {shown} output blocks but {checked} attached to code"


LECTURES = [p for p in PAGES if p.startswith("docs/lectures/")]


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.xdist_group(p)) for p in LECTURES])
def test_page_figures_come_from_its_code(page, sessions_root):
    """A chapter shows at least one figure, and each is the file its code writes now."""
    expanded, page_blocks = PAGES[page]
    names = figure_names(expanded.text)
    assert names, f"{page}: a chapter needs at least one picture produced by its code"
    runnable = [b for b in page_blocks if not docs_support.skip_reason(b)]
    docs_support.run_block(runnable[-1], sessions_root)  # the whole page has run
    workdir = docs_support.RUNS[page].session.workdir
    for name in names:
        produced = workdir / name
        committed = docs_support.DOCS / "assets" / "figures" / name
        assert produced.is_file(), f"{page} shows {name}, but its code did not write it"
        a = np.asarray(Image.open(produced).convert("RGB"), dtype=np.float32)
        b = np.asarray(Image.open(committed).convert("RGB"), dtype=np.float32)
        assert a.shape == b.shape, (
            f"{committed.relative_to(docs_support.ROOT)} is {b.shape[:2]}, the code now draws "
            f"{a.shape[:2]}: run `python -m tutorials._book.update_outputs {page}`"
        )
        diff = float(np.abs(a - b).mean() / 255)
        assert diff < 0.01, (
            f"{name} differs from what the code draws now (mean pixel difference {diff:.3f}); "
            f"run `python -m tutorials._book.update_outputs {page}` and review"
        )


@pytest.mark.parametrize("page", LECTURES)
def test_chapter_pasted_into_a_fresh_interpreter(page, tmp_path):
    """The chapter's Python blocks, in order, in a new process: stdout is exactly what the
    page shows under its blocks (nothing printed is hidden, nothing shown is invented)."""
    import subprocess
    import sys

    _, page_blocks = PAGES[page]
    python = [b for b in page_blocks if b.language == "python" and not docs_support.skip_reason(b)]
    script = "\n".join(b.code for b in python)
    shown = "".join(b.expected_output or "" for b in python)
    proc = subprocess.run(
        [sys.executable, "-"], input=script, cwd=tmp_path, capture_output=True, text=True,
        env=docs_support.blocks.shell_env(), timeout=600,
    )
    assert proc.returncode == 0, f"{page} fails in a fresh interpreter:\n{proc.stderr[-3000:]}"
    assert proc.stdout == shown, (
        f"{page}: what a fresh interpreter prints differs from the outputs on the page "
        "(a block prints something the page does not show, or the reverse)"
    )


TRACED = [p for p in PAGES if trace_names(PAGES[p][0].text)]


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.xdist_group(p)) for p in TRACED])
def test_page_traces_come_from_its_code(page, sessions_root):
    """A linked trace is a valid speedscope file holding the events its code records now.

    Timings differ run to run, so the comparison is on the recorded frame names.
    """
    import json

    expanded, page_blocks = PAGES[page]
    runnable = [b for b in page_blocks if not docs_support.skip_reason(b)]
    docs_support.run_block(runnable[-1], sessions_root)
    workdir = docs_support.RUNS[page].session.workdir
    for name in trace_names(expanded.text):
        committed = docs_support.DOCS / "assets" / "traces" / name
        data = json.loads(committed.read_text(encoding="utf-8"))
        assert data["exporter"] == "tutorials.trace_viewer" and data["profiles"], committed
        for prof in data["profiles"]:
            opened = sum(e["type"] == "O" for e in prof["events"])
            assert opened * 2 == len(prof["events"]), f"{name}: unbalanced open/close events"
        fresh = json.loads((workdir / name).read_text(encoding="utf-8"))
        names = {f["name"] for f in data["shared"]["frames"]}
        now = {f["name"] for f in fresh["shared"]["frames"]}
        assert names == now, (
            f"{name}: the committed trace records other events than the code does now "
            f"(only committed: {sorted(names - now)[:5]}, only now: {sorted(now - names)[:5]}); "
            f"run `python -m tutorials._book.update_outputs {page}`"
        )
