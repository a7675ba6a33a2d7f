"""The "verified" record: which pages' blocks passed in the last test run.

The test suite writes the record; the site's hook reads it and stamps each page
("14 blocks verified · torch 2.14.1 · CPU · 2026-11-22"). A stamp is shown only
when the record's fingerprint equals the page's current expanded text, so editing
a page or an included section removes its stamp until the tests run again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

RECORD_ENV = "COURSE_VERIFIED_RECORD"
DEFAULT_RECORD = Path("build") / "verified.json"


@dataclass
class PageRecord:
    """Result of running one page's blocks."""

    executed: int
    passed: int
    skipped: int
    skip_reasons: list[str]
    torch: str
    device: str
    date: str
    fingerprint: str

    def stamp(self) -> str:
        """The one-line stamp shown on the page."""
        if self.passed == self.executed:
            text = f"{self.passed} blocks verified · torch {self.torch} · {self.device} · {self.date}"
            if self.skipped:
                text += f" · {self.skipped} skipped"
            return text
        failed = self.executed - self.passed
        return f"{failed} of {self.executed} blocks FAILED in the test run of {self.date}"


def record_path(root: Path) -> Path:
    """Where the record lives: ``$COURSE_VERIFIED_RECORD`` or ``<root>/build/verified.json``."""
    env = os.environ.get(RECORD_ENV)
    return Path(env) if env else root / DEFAULT_RECORD


def read_record(path: Path) -> dict[str, PageRecord]:
    """Load the record; an absent file means no stamps.

    Raises:
        ValueError: the file exists but is not a record this code wrote.
    """
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {page: PageRecord(**rec) for page, rec in raw["pages"].items()}
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path}: not a verified-blocks record ({err}); delete it and rerun the tests"
        ) from err


def write_record(path: Path, updates: dict[str, PageRecord]) -> None:
    """Merge ``updates`` into the record at ``path`` (atomically replaced)."""
    pages = read_record(path) if path.is_file() else {}
    pages.update(updates)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    payload = {"pages": {p: asdict(r) for p, r in sorted(pages.items())}}
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
