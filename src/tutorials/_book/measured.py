"""Show measured results committed as JSON on a page, at build time.

Benchmark figures cannot be checked by re-running a page (they take minutes, or
need a GPU), so they are committed as the JSON the benchmark wrote and rendered
into the page by the site's hook; nobody types them. Two markers:

* ``<!-- json-table: assets/benchmarks/x.json runs -->`` renders the list of dicts
  under ``runs`` as a Markdown table (columns from the first row, or those listed
  after the key, comma-separated: ``runs run,kills,seconds``); an object under the
  key is a table of one row;
* ``<!-- json-text: assets/benchmarks/x.json summary -->`` inserts the string under
  ``summary``.

Paths are relative to ``docs/``; a missing file or key fails the build with the page
and the marker named.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["MeasuredError", "render"]

MARKER = re.compile(r"<!--\s*json-(table|text):\s*(\S+\.json)\s+(\w+)(?:\s+([\w,]+))?\s*-->")


class MeasuredError(ValueError):
    """A marker names a file or key that does not exist, or data of the wrong shape."""


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")


def _table(rows: object, where: str, columns: list[str] | None) -> str:
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise MeasuredError(f"{where}: expected an object or a non-empty list of objects")
    unknown = [c for c in columns or [] if c not in rows[0]]
    if unknown:
        raise MeasuredError(f"{where}: no column {unknown} (columns: {sorted(rows[0])})")
    columns = columns or list(rows[0])
    lines = ["| " + " | ".join(c.replace("_", " ") for c in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def render(markdown: str, docs_dir: Path, page: str) -> str:
    """Replace every marker of ``markdown`` (the page ``page``) with the data it names.

    Raises:
        MeasuredError: a file or key is missing, or a table's data is not a list of objects.
    """

    def replace(match: re.Match) -> str:
        kind, rel, key, columns = match.groups()
        where = f"{page}: {match.group(0)}"
        path = Path(docs_dir) / rel
        if not path.is_file():
            raise MeasuredError(f"{where}: {path} does not exist")
        data = json.loads(path.read_text(encoding="utf-8"))
        if key not in data:
            raise MeasuredError(f"{where}: {rel} has no key {key!r} (keys: {sorted(data)})")
        if kind == "table":
            return _table(data[key], where, columns.split(",") if columns else None)
        if not isinstance(data[key], str):
            raise MeasuredError(f"{where}: {key!r} is not a string")
        return data[key]

    return MARKER.sub(replace, markdown)
