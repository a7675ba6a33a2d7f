"""Suite-wide settings: offline, headless plotting, stable caches, the verified record."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
# Compiled artefacts (torch.compile, C++ extensions) go to a stable directory so a
# second run is warm.
_cache = Path(__file__).resolve().parents[1] / ".cache"
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(_cache / "inductor"))
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(_cache / "torch_extensions"))

import docs_support  # noqa: E402
from tutorials._book import stamps  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    records = docs_support.page_records()
    if records:
        stamps.write_record(stamps.record_path(docs_support.ROOT), records)


def pytest_terminal_summary(terminalreporter):
    records = docs_support.page_records()
    if not docs_support.RUNS:
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
