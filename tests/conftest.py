"""Suite-wide settings: offline, headless plotting, stable caches, the verified record."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")


def _machine_key() -> str:
    """The CPU compiled code was built for (model and flags): an extension built with
    ``-march=native`` only runs on CPUs like the one that built it, and CI restores these
    caches on runners whose CPUs vary."""
    import hashlib
    import platform

    text = platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for field in ("model name", "flags"):
        line = next((ln for ln in lines if ln.startswith(field)), "")
        text += " ".join(sorted(line.split(":", 1)[-1].split()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# Compiled artefacts (torch.compile, C++ extensions, libtorch programs) go to a stable
# directory per machine (see _machine_key), so a second run is warm.
_cache = Path(__file__).resolve().parents[1] / ".cache" / "compiled" / _machine_key()
# The interpreter's own scripts first (ninja, torchrun): with two ninja versions on the PATH
# load_inline rebuilds an extension whenever the other one last built it.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
# Inductor's cache does not key on ATEN_CPU_CAPABILITY (an AVX-512 kernel cached by one run
# failed to compile in a run held to "default"): one cache per capability.
_capability = os.environ.get("ATEN_CPU_CAPABILITY", "native").lower()
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(_cache / f"inductor-{_capability}"))
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(_cache / "torch_extensions"))
os.environ.setdefault("TUTORIALS_CPP_CACHE", str(_cache / "cpp"))  # tutorials.core.cpp_build

# Every process the suite starts inherits this mark; the controller looks for any left at the end.
os.environ.setdefault("TUTORIALS_SUITE_ID", f"{os.getpid()}-{os.urandom(4).hex()}")

import docs_support  # noqa: E402
from tutorials._book import blocks, layout, stamps  # noqa: E402

_WORKER_RECORDS: dict[str, stamps.PageRecord] = {}
_FINAL_RECORDS: dict[str, stamps.PageRecord] = {}
_LEAKED: list[str] = []


# A test about a page has the page in its id: test_block[docs/x.md:12], test_chapter_claims[docs/x.md].
_PAGE_IN_NODEID = re.compile(r"\[(docs/[^\]]+?\.md)(?::\d+)?\]$")
_CHAPTER_TESTS = re.compile(r"^tests/(lec\d\d_\w+?)/")
_PAGE_OF_PACKAGE = {c.package: c.page for c in layout.chapters()}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist: every test of one page runs on one worker, where the page's process runs.

    (``xdist_group`` marks do not group with pytest 9.2 and pytest-xdist 3.8: xdist
    appends the group to ``item._nodeid``, which pytest 9.2 no longer reads, so each
    page ran on every worker. This scheduler reads the page from the test id.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class PageScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            # a chapter's own tests run where its page runs (its lab tests read the page's dry run)
            return page_of_test(nodeid) or nodeid

    return PageScheduling(config, log)


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
        b = params.get("block")
        if isinstance(b, blocks.Block):
            docs_support.NEEDED[b.page] = max(docs_support.NEEDED.get(b.page, -1), b.index)
        if "/test_lab_" in item.nodeid and page_of_test(item.nodeid):
            page = page_of_test(item.nodeid)  # a lab test reads the page's dry run: all of it
        else:
            page = params.get("page")
        if isinstance(page, str) and page in docs_support.pages():
            runnable = docs_support.runnable_blocks(page)
            docs_support.NEEDED[page] = runnable[-1].index if runnable else -1


_RUN_TWICE: set[str] = set()
_SECONDS: dict[str, float] = {}  # test id -> setup + call + teardown seconds (controller side)
_WORKERS: set[str] = set()
_STARTED: list[float] = []
CHAPTERS_PLANNED = 28  # the syllabus: the budget is for all of them


def pytest_sessionstart(session):
    import time

    _STARTED.append(time.monotonic())


def pytest_runtest_logreport(report):
    """Controller side (and without xdist): how long each test took, for the budget table."""
    _SECONDS[report.nodeid] = _SECONDS.get(report.nodeid, 0.0) + report.duration
    node = getattr(report, "node", None)
    if node is not None:
        _WORKERS.add(str(getattr(node, "gateway", node)))


def page_of_test(nodeid: str) -> str | None:
    """The page a test is about (its id names it) or whose chapter folder holds it; else None."""
    match = _PAGE_IN_NODEID.search(nodeid)
    if match:
        return match.group(1)
    chapter = _CHAPTER_TESTS.match(nodeid)
    return _PAGE_OF_PACKAGE.get(chapter.group(1)) if chapter else None


def _scope(nodeid: str) -> str:
    """The chapter page a test belongs to, or its file (tests of no chapter: fixed costs)."""
    return page_of_test(nodeid) or nodeid.split("::")[0]


def budget() -> dict:
    """Seconds per chapter (its page's tests, its own tests) and fixed; the 28-chapter projection."""
    import time

    per: dict[str, float] = {}
    for nodeid, seconds in _SECONDS.items():
        per[_scope(nodeid)] = per.get(_scope(nodeid), 0.0) + seconds
    chapters = {k: v for k, v in per.items() if k.startswith("docs/lectures/")}
    fixed = {k: v for k, v in per.items() if k not in chapters}
    wall = time.monotonic() - _STARTED[0] if _STARTED else 0.0
    busy = sum(per.values())
    mean = sum(chapters.values()) / len(chapters) if chapters else 0.0
    projected = busy - sum(chapters.values()) + CHAPTERS_PLANNED * mean
    return {"wall_s": round(wall, 1), "test_s": round(busy, 1), "workers": max(len(_WORKERS), 1),
            "chapters": {k: round(v, 1) for k, v in sorted(chapters.items())},
            "fixed": {k: round(v, 1) for k, v in sorted(fixed.items(), key=lambda kv: -kv[1])},
            "mean_chapter_s": round(mean, 1), "chapters_planned": CHAPTERS_PLANNED,
            "projected_wall_s": round(wall * projected / busy, 1) if busy else 0.0}


def pytest_testnodedown(node, error):
    """Controller side (pytest-xdist): collect the records a worker sent."""
    for page, rec in getattr(node, "workeroutput", {}).get("page_records", {}).items():
        if page in _WORKER_RECORDS:  # the scheduler split a page over workers: it ran twice
            _RUN_TWICE.add(page)
        _WORKER_RECORDS[page] = stamps.PageRecord(**rec)


def pytest_sessionfinish(session, exitstatus):
    records = docs_support.page_records()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller writes the record
        workeroutput["page_records"] = {p: vars(r) for p, r in records.items()}
        return
    records.update(_WORKER_RECORDS)
    _FINAL_RECORDS.update(records)
    if _RUN_TWICE and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a scheduling regression: fail loudly
    suite_id = os.environ["TUTORIALS_SUITE_ID"]
    if suite_id.startswith(f"{os.getpid()}-"):  # the run that set the mark checks (not a pytest it started)
        _LEAKED.extend(docs_support.leaked_processes(suite_id))
    if _LEAKED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a process outlived the suite
    if records:
        stamps.write_record(stamps.record_path(docs_support.ROOT), records)


def pytest_terminal_summary(terminalreporter):
    if _LEAKED:
        terminalreporter.section("processes left running by the suite (killed now)", red=True)
        for line in _LEAKED:
            terminalreporter.write_line(line)
    records = _FINAL_RECORDS
    if not records:
        return
    tr = terminalreporter
    if _RUN_TWICE:
        tr.section("pages run on more than one worker", red=True)
        tr.write_line(f"each page must run once, on one worker; these ran twice: {sorted(_RUN_TWICE)}")
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
    where = stamps.record_path(docs_support.ROOT)
    if where.is_relative_to(docs_support.ROOT):
        where = where.relative_to(docs_support.ROOT)
    tr.write_line(
        f"all pages: {total['executed']} blocks executed, {total['passed']} passed, "
        f"{total['skipped']} skipped; record written to {where}"
    )
    _budget_section(tr)


def _budget_section(tr) -> None:
    """The suite's time, per chapter, and what 28 chapters at this pace would take."""
    import json

    b = budget()
    if not b["chapters"]:
        return
    tr.section("suite budget (test seconds summed over workers)")
    for page, seconds in b["chapters"].items():
        tr.write_line(f"{seconds:7.1f} s  {page} (its blocks, claims, learner run and tests/lecNN_*)")
    top = list(b["fixed"].items())[:6]
    tr.write_line(f"{sum(b['fixed'].values()):7.1f} s  not tied to a chapter; most: "
                  + ", ".join(f"{k} {v:.0f} s" for k, v in top))
    tr.write_line(f"wall {b['wall_s']:.0f} s on {b['workers']} worker(s), {b['test_s']:.0f} s of tests; "
                  f"{len(b['chapters'])} chapters at {b['mean_chapter_s']:.1f} s each; with "
                  f"{b['chapters_planned']} chapters at that pace: "
                  f"about {b['projected_wall_s'] / 60:.1f} min")
    path = docs_support.ROOT / "build" / "suite-budget.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(b, indent=2) + "\n", encoding="utf-8")


@pytest.fixture
def usage_error(capsys):
    """Call ``main(argv)``, expect an argparse usage error; return standard error.

    A usage error is ``SystemExit(2)`` with the usage line and ``error:`` on
    standard error, and no traceback.
    """
    def check(main, argv):
        capsys.readouterr()  # drop what came before
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2, f"exit status {exc.value.code}, stderr: {err}"
        assert err.startswith("usage: ") and "error: " in err, err
        assert "Traceback" not in err, err
        return err

    return check
