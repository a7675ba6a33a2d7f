"""Suite-wide settings: offline, headless plotting, stable caches, the verified record."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
# Compiled artefacts (torch.compile, C++ extensions) go to a stable directory so a
# second run is warm.
_cache = Path(__file__).resolve().parents[1] / ".cache"
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(_cache / "inductor"))
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(_cache / "torch_extensions"))

import docs_support  # noqa: E402
from tutorials._book import stamps  # noqa: E402

_WORKER_RECORDS: dict[str, stamps.PageRecord] = {}
_FINAL_RECORDS: dict[str, stamps.PageRecord] = {}


def pytest_configure(config):
    # one xdist group per page: its blocks share a session, so they run on one worker
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one worker")


@pytest.fixture(scope="session")
def sessions_root(tmp_path_factory):
    """Working directories of the pages' runs (one per page)."""
    return tmp_path_factory.mktemp("pages")


def pytest_collection_modifyitems(session, config, items):
    """Record how far each page must run for the tests selected (``-k`` may pick a few)."""
    docs_support.NEEDED.clear()
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec else {}
        if "block" in params:
            b = params["block"]
            docs_support.NEEDED[b.page] = max(docs_support.NEEDED.get(b.page, -1), b.index)
        page = params.get("page")
        if isinstance(page, str) and page in docs_support.pages():
            runnable = docs_support.runnable_blocks(page)
            docs_support.NEEDED[page] = runnable[-1].index if runnable else -1


def pytest_testnodedown(node, error):
    """Controller side (pytest-xdist): collect the records a worker sent."""
    for page, rec in getattr(node, "workeroutput", {}).get("page_records", {}).items():
        _WORKER_RECORDS[page] = stamps.PageRecord(**rec)


def pytest_sessionfinish(session, exitstatus):
    records = docs_support.page_records()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller writes the record
        workeroutput["page_records"] = {p: vars(r) for p, r in records.items()}
        return
    records.update(_WORKER_RECORDS)
    _FINAL_RECORDS.update(records)
    if records:
        stamps.write_record(stamps.record_path(docs_support.ROOT), records)


def pytest_terminal_summary(terminalreporter):
    records = _FINAL_RECORDS
    if not records:
        return
    tr = terminalreporter
    tr.section("code blocks of the site")
    total = {"executed": 0, "passed": 0, "skipped": 0}
    for page, rec in sorted(records.items()):
        tr.write_line(
            f"{page}: {rec.executed} executed, {rec.passed} passed, {rec.skipped} skipped"
            + "".join(f"\n    skipped: {r}" for r in rec.skip_reasons)
        )
        total["executed"] += rec.executed
        total["passed"] += rec.passed
        total["skipped"] += rec.skipped
    tr.write_line(
        f"all pages: {total['executed']} blocks executed, {total['passed']} passed, "
        f"{total['skipped']} skipped; record written to "
        f"{stamps.record_path(docs_support.ROOT).relative_to(docs_support.ROOT)}"
    )
