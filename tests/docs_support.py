"""Shared state for executing the site's pages: one reader session per page.

Tests for a page's blocks run in order in one namespace. Selecting a single block
(``pytest -k "03-autograd.md:120"``) still works: the earlier blocks of its page run
first, silently, as a reader would have run them.
"""

from __future__ import annotations

import datetime
import json
import re
import sys
from functools import cache
from pathlib import Path

import pytest
import torch

from tutorials._book import blocks, layout, runner, stamps
from tutorials._book.update_outputs import load_snippet_config
from tutorials.core.runtime import device_label, pick_device

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


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


RUNS: dict[str, runner.PageProcess] = {}  # one process per page, started on first use
# Highest block index a selected test needs, per page (set at collection; a page
# whose figure, trace or claims test is selected needs every block).
NEEDED: dict[str, int] = {}


def claims_file(page: str) -> Path | None:
    """``tests/lecNN_slug/claims.py`` of a chapter (by path): its ``claims(ns, out, workdir)``."""
    chapter = layout.chapter_of_page(page)
    return chapter.claims if chapter and chapter.claims.is_file() else None


def runnable_blocks(page: str) -> list[blocks.Block]:
    return [b for b in pages()[page][1] if not skip_reason(b)]


def page_run(page: str, tmp_root: Path) -> runner.PageProcess:
    """The page's process, started on first use (up to the last block a selected test needs)."""
    if page not in RUNS:
        runnable = runnable_blocks(page)
        last = runnable[-1].index if runnable else -1
        upto = NEEDED.get(page, last)
        whole = upto >= last
        RUNS[page] = _start(page, [b for b in runnable if b.index <= upto], tmp_root, "",
                            claims=claims_file(page) if whole else None, learner_run=whole)
    return RUNS[page]


def _start(page: str, page_blocks: list[blocks.Block], tmp_root: Path, suffix: str,
           claims: Path | None = None, learner_run: bool = False) -> runner.PageProcess:
    """A new process running ``page_blocks`` of ``page`` in its own working directory."""
    return runner.PageProcess(
        page_blocks,
        tmp_root / (page.replace("/", "_").removesuffix(".md") + suffix),
        blocks.shell_env(),
        claims=claims,
        all_output_shown=page.startswith("docs/lectures/"),
        learner_run=learner_run,
    )


NO_SOLUTION_RUNS: dict[str, runner.PageProcess] = {}


def run_without_solutions(page: str, tmp_root: Path) -> tuple[dict[int, runner.PageResult],
                                                             list[blocks.Block]]:
    """Run the page as a learner who did the exercises alone: every solution block left out.

    Up to the first solution block that run is the reader's run, so the page's process
    forks there and the copy runs the rest (``runner.LearnerRun``); where the platform
    cannot fork, a new interpreter runs the whole page without its solutions.

    Returns the result of each block run, by index, and the blocks of that run.
    """
    kept = [b for b in runnable_blocks(page) if not b.in_solution]
    process = page_run(page, tmp_root)
    if process.learner is not None:
        process.learner.wait(process)
        first = next(b.index for b in runnable_blocks(page) if b.in_solution)
        results = {i: r for i, r in process.results.items() if i < first}
        return results | process.learner.results, kept
    if page not in NO_SOLUTION_RUNS:
        NO_SOLUTION_RUNS[page] = _start(page, kept, tmp_root, runner.LEARNER_SUFFIX)
    fresh = NO_SOLUTION_RUNS[page]
    fresh.wait_for(None)
    return fresh.results, kept


def run_block(block: blocks.Block, tmp_root: Path) -> None:
    """Wait for ``block``'s result from its page's process; fail with its message.

    Raises:
        blocks.BlockFailure: the block failed, or an earlier block of the page did.
    """
    process = page_run(block.page, tmp_root)
    result = process.wait_for(block.index)
    if result is None:
        failed = next(b for b in runnable_blocks(block.page)
                      if process.results.get(b.index, {}).get("status") == "failed")
        raise blocks.BlockFailure(
            f"{block.location}: not run, because an earlier block of the page failed "
            f"({failed.location}); a reader's session would be broken from there on"
        )
    if result["status"] == "failed":
        raise blocks.BlockFailure(result["message"])


def run_page(page: str, tmp_root: Path) -> runner.PageProcess:
    """Run the whole page (every block must pass); return its process."""
    runnable = runnable_blocks(page)
    if runnable:
        run_block(runnable[-1], tmp_root)
    process = page_run(page, tmp_root)
    process.wait_for(None)
    return process


def check_claims(page: str, tmp_root: Path) -> None:
    """Fail with the claims' traceback when ``claims(ns, out, workdir)`` failed in the page's process."""
    result = run_page(page, tmp_root).claims_result
    assert claims_file(page) is not None, (
        f"{page}: a chapter needs tests/lecNN_<slug>/claims.py defining claims(ns, out, workdir)"
    )
    assert result is not None, f"{page}: its claims did not run"
    assert result["claims"] == "passed", (
        f"{page}: a claim about what the page computes fails:\n{result['message']}"
    )


def lab_block(stem: str) -> blocks.Block:
    """The shell block of a chapter's page that runs the lab ``stem`` with ``--dry-run``.

    Raises:
        LookupError: no page runs that lab's dry run, or more than one block does.
    """
    module = layout.module_named(stem)
    command = re.compile(rf"python -m {re.escape(module)}\b.*--dry-run")
    found = [b for _, page_blocks in pages().values() for b in page_blocks
             if b.language in ("bash", "sh") and command.search(b.code) and not skip_reason(b)]
    if len(found) != 1:
        raise LookupError(f"{stem}: {len(found)} page blocks run `python -m {module} ... --dry-run` "
                          f"({[b.location for b in found]}); its chapter's page must run it once")
    return found[0]


def lab_dry_run(stem: str, results_file: str, tmp_root: Path) -> dict:
    """The lab's dry run that its chapter's page executes, for the lab's own tests.

    A lab's dry run costs seconds, so it runs once per suite: in the page's session, as
    the reader's command (a bash block with ``--out-dir``). Its tests read what that run
    wrote: the results JSON ``results_file``, plus ``_out`` (the out-dir), ``_stdout`` and
    ``_stderr`` (what the reader's terminal showed).

    Raises:
        blocks.BlockFailure: the page's block failed (its message says why).
    """
    block = lab_block(stem)
    run_block(block, tmp_root)
    process = page_run(block.page, tmp_root)
    result = process.results[block.index]
    m = re.search(r"--out-dir[ =](\S+)", block.code)
    assert m, f"{block.location}: the page's dry run of {stem} needs --out-dir, so its files can be checked"
    out = process.workdir / m.group(1)
    data = json.loads((out / results_file).read_text(encoding="utf-8"))
    data.update(_out=out, _stdout=result["output"], _stderr=result.get("stderr", ""))
    return data


def page_records() -> dict[str, stamps.PageRecord]:
    """Records of the pages whose every non-skipped block was sent to their process."""
    today = datetime.date.today().isoformat()
    out = {}
    for page, process in RUNS.items():
        expanded, page_blocks = pages()[page]
        skipped = [b for b in page_blocks if skip_reason(b)]
        runnable = [b for b in page_blocks if not skip_reason(b)]
        if process.indices != [b.index for b in runnable]:
            continue  # only part of the page was selected: no record
        try:
            process.wait_for(None)
        except blocks.BlockFailure:
            pass  # the process died: the blocks without a result count as failed
        out[page] = stamps.PageRecord(
            executed=len(runnable),
            passed=sum(process.results.get(b.index, {}).get("status") == "passed" for b in runnable),
            skipped=len(skipped),
            skip_reasons=[skip_reason(b) for b in skipped],
            torch=torch.__version__.split("+")[0],
            device=device_label(pick_device("auto")),
            date=today,
            fingerprint=expanded.fingerprint,
        )
    return out


def leaked_processes(suite_id: str, grace: float = 3.0) -> list[str]:
    """Processes the suite started (they carry ``TUTORIALS_SUITE_ID=suite_id``) still alive at its end.

    Waits up to ``grace`` seconds for them to exit, then kills what is left and returns one
    line per process (pid and command line); an empty list is the expected answer.
    """
    import os
    import time

    import psutil

    def alive() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter(["pid", "cmdline", "status"]):
            if p.pid == os.getpid() or p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            try:
                if p.environ().get("TUTORIALS_SUITE_ID") == suite_id:
                    found.append(p)
            except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
        return found

    deadline = time.monotonic() + grace
    left = alive()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = alive()
    lines = []
    for p in left:
        try:
            lines.append(f"pid {p.pid}: {' '.join(p.info['cmdline'] or [])[:200]}")
            p.kill()
        except psutil.NoSuchProcess:
            continue
    return lines
