"""Every executable block of every page, run as the reader sees it; figures checked too."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

import docs_support
from tutorials._book import layout
from tutorials._book.update_outputs import figure_names, trace_names

PAGES = docs_support.pages()
BLOCKS = [
    pytest.param(
        b,
        id=b.test_id,
        marks=[pytest.mark.skip(reason=r)] if (r := docs_support.skip_reason(b)) else [],
    )
    for _, page_blocks in PAGES.values()
    for b in page_blocks
]


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
        shown = len(re.findall(r"pytest-codeblocks:(?:expected|recorded)-output", expanded.text))
        checked = sum(b.expected_output is not None for b in page_blocks)
        assert shown == checked, f"{page}: {shown} output blocks but {checked} attached to code"


LECTURES = [p for p in PAGES if p.startswith("docs/lectures/")]
WITH_SOLUTIONS = [p for p in PAGES if any(b.in_solution for b in PAGES[p][1])]


# The id carries the page, so this test runs on the worker where the page's process runs:
# that process forks the learner's run at the first solution block (tutorials._book.runner).
@pytest.mark.parametrize("page", WITH_SOLUTIONS)
def test_page_runs_without_its_solutions(page, sessions_root):
    """A learner who solves the exercises without opening a solution can run the whole page:
    the page runs again with every block of a "Solution" box left out (from its first
    solution block on, in a fork of the page's own session; before it, the two runs are
    the same blocks in the same order)."""
    results, kept = docs_support.run_without_solutions(page, sessions_root)
    for b in kept:
        result = results.get(b.index)
        assert result is not None, f"{b.location}: not run without the solutions (the page's process died?)"
        assert result["status"] == "passed", (
            f"{page}, run without its solution blocks: {result['message']}\n"
            "(a block outside the solutions must not need a name or an effect that only a "
            "solution provides: import the self-checks in a block of their own, above the exercises)"
        )


@pytest.mark.parametrize("page", LECTURES)
def test_page_figures_come_from_its_code(page, sessions_root):
    """A chapter shows at least one figure, and each is the file its code writes now.

    A figure that plots a recorded output (marked ``<!-- figure: recorded … -->`` on
    the line above the image) is only checked to be written, at the same size."""
    expanded, _ = PAGES[page]
    names = figure_names(expanded.text)
    assert names, f"{page}: a chapter needs at least one picture produced by its code"
    workdir = docs_support.run_page(page, sessions_root).workdir  # the whole page has run
    recorded = set(re.findall(r"<!-- figure: recorded[^>]*-->\s*\n!\[[^\]]*\]\((?:\.\./)*assets/figures/"
                              r"([^)\s]+\.png)\)", expanded.text))
    for name in names:
        produced = workdir / name
        committed = docs_support.DOCS / "assets" / "figures" / name
        assert produced.is_file(), f"{page} shows {name}, but its code did not write it"
        a = np.asarray(Image.open(produced).convert("RGB"), dtype=np.float32)
        b = np.asarray(Image.open(committed).convert("RGB"), dtype=np.float32)
        if name in recorded:  # it plots a recorded (machine-dependent) result: same figure, other points
            assert a.shape == b.shape, f"{name}: the code now draws a figure of another size"
            continue
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
def test_chapter_claims(page, sessions_root):
    """What a chapter computes, beyond its printed outputs (``tests/lecNN_slug/claims.py``),
    checked after its last block in the page's own session."""
    docs_support.check_claims(page, sessions_root)


TRACED = [p for p in PAGES if trace_names(PAGES[p][0].text)]


@pytest.mark.parametrize("page", TRACED)
def test_page_traces_come_from_its_code(page, sessions_root):
    """A linked trace is a valid speedscope file holding the events its code records now.

    Timings differ run to run, so the comparison is on the recorded frame names.
    """
    import json

    expanded, _ = PAGES[page]
    workdir = docs_support.run_page(page, sessions_root).workdir
    for name in trace_names(expanded.text):
        committed = docs_support.DOCS / "assets" / "traces" / name
        data = json.loads(committed.read_text(encoding="utf-8"))
        assert data["exporter"] == "tutorials.lec07_profiling.trace_viewer" and data["profiles"], committed
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


@pytest.mark.parametrize("page", LECTURES)
def test_chapter_script_is_all_on_the_page(page):
    """Every line of code in the chapter's ``chapter.py`` is in a section the page
    includes, so running the page (once, in a fresh interpreter) tests the whole script."""
    import ast

    chapter = layout.chapter_of_page(page)
    text = (docs_support.ROOT / page).read_text(encoding="utf-8")
    rel = chapter.script.relative_to(docs_support.ROOT).as_posix()
    assert chapter.script.is_file(), f"{page}: its chapter script {rel} is missing"
    included = set(re.findall(r"--8<-- \"(src/tutorials/[\w/]+?/chapter\.py):", text))
    assert included == {rel}, f"{page} must include sections of its own {rel} only, not {included}"
    path = chapter.script
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    sections = set(re.findall(r"--8<-- \[start:(\w+)\]", source))
    shown = set(re.findall(rf"{re.escape(rel)}:(\w+)", text))
    assert not sections - shown, f"{page} does not show sections {sorted(sections - shown)} of {rel}"
    inside, outside = False, []
    docstring = ast.get_docstring(ast.parse(source), clean=False) is not None
    body = ast.parse(source).body
    doc_end = body[0].end_lineno if docstring else 0
    for lineno, line in enumerate(lines, 1):
        if "--8<-- [start:" in line:
            inside = True
        elif "--8<-- [end:" in line:
            inside = False
        elif not inside and lineno > doc_end and line.strip() and not line.lstrip().startswith("#"):
            outside.append(f"{rel}:{lineno}: {line.strip()}")
    assert not outside, f"code outside any section is never shown or run by the page: {outside[:5]}"
