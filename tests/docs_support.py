"""Shared state for executing the site's pages: one reader session per page.

Tests for a page's blocks run in order in one namespace. Selecting a single block
(``pytest -k "03-autograd.md:120"``) still works: the earlier blocks of its page run
first, silently, as a reader would have run them.
"""

from __future__ import annotations

import datetime
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import torch

from tutorials._book import blocks, stamps
from tutorials._book.update_outputs import load_snippet_config
from tutorials.runtime import device_label, pick_device

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@dataclass
class PageRun:
    """Progress of one page's session."""

    session: blocks.PageSession
    done: dict[int, str] = field(default_factory=dict)  # block index -> "passed" | "failed"
    first_failure: int | None = None


@cache
def snippet_preprocessor():
    return blocks.snippet_preprocessor(load_snippet_config(ROOT))


@cache
def pages() -> dict[str, tuple[blocks.ExpandedPage, tuple[blocks.Block, ...]]]:
    """Every Markdown page of ``docs/``, expanded, with its executable blocks."""
    out = {}
    for path in sorted(DOCS.rglob("*.md")):
        expanded = blocks.expand_page(path, ROOT, snippet_preprocessor())
        out[expanded.path] = (expanded, tuple(blocks.page_blocks(expanded)))
    return out


def skip_reason(block: blocks.Block) -> str | None:
    """The reason this block is skipped, or None; a skip without a reason is an error.

    Raises:
        blocks.PageError: an unsupported marker, or a skip with no reason.
    """
    reason = None
    for text in block.marks:
        mark = eval(text, {"pytest": pytest, "sys": sys, "torch": torch}).mark  # noqa: S307
        given = mark.kwargs.get("reason") or (mark.args[1] if len(mark.args) > 1 else "")
        if mark.name == "skip":
            given = mark.kwargs.get("reason") or (mark.args[0] if mark.args else "")
            condition = True
        elif mark.name == "skipif":
            condition = bool(mark.args[0]) if mark.args else False
        else:
            raise blocks.PageError(
                f"{block.location}: marker {text!r} is not supported; to show an error, catch "
                "it in the block and print it, so the reader sees the message"
            )
        if not str(given).strip():
            raise blocks.PageError(f"{block.location}: {text!r} needs a reason a reader would accept")
        if condition:
            reason = str(given)
    if block.importorskip:
        raise blocks.PageError(f"{block.location}: importorskip is not allowed: install the package")
    return reason


RUNS: dict[str, PageRun] = {}


def page_run(page: str, tmp_root: Path) -> PageRun:
    if page not in RUNS:
        workdir = tmp_root / page.replace("/", "_").removesuffix(".md")
        workdir.mkdir(parents=True, exist_ok=True)
        RUNS[page] = PageRun(blocks.PageSession(workdir, blocks.shell_env()))
    return RUNS[page]


def run_block(block: blocks.Block, tmp_root: Path) -> None:
    """Run ``block`` in its page's session, after any earlier block not yet run."""
    run = page_run(block.page, tmp_root)
    _, page_blocks = pages()[block.page]
    for earlier in page_blocks[: block.index + 1]:
        if earlier.index in run.done or skip_reason(earlier):
            continue
        if run.first_failure is not None:
            failed = page_blocks[run.first_failure]
            run.done[earlier.index] = "failed"
            raise blocks.BlockFailure(
                f"{earlier.location}: not run, because an earlier block of the page failed "
                f"({failed.location}); a reader's session would be broken from there on"
            )
        try:
            run.session.run(earlier)
        except blocks.BlockFailure:
            run.done[earlier.index] = "failed"
            run.first_failure = earlier.index
            raise
        finally:
            import matplotlib.pyplot as plt

            plt.close("all")
        run.done[earlier.index] = "passed"


def page_records() -> dict[str, stamps.PageRecord]:
    """Records of the pages whose every non-skipped block ran in this session."""
    today = datetime.date.today().isoformat()
    out = {}
    for page, run in RUNS.items():
        expanded, page_blocks = pages()[page]
        skipped = [b for b in page_blocks if skip_reason(b)]
        runnable = [b for b in page_blocks if not skip_reason(b)]
        if not all(b.index in run.done for b in runnable):
            continue  # only part of the page was selected: no record
        out[page] = stamps.PageRecord(
            executed=len(runnable),
            passed=sum(run.done[b.index] == "passed" for b in runnable),
            skipped=len(skipped),
            skip_reasons=[skip_reason(b) for b in skipped],
            torch=torch.__version__.split("+")[0],
            device=device_label(pick_device("auto")),
            date=today,
            fingerprint=expanded.fingerprint,
        )
    return out
