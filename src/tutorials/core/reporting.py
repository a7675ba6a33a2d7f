"""Plain-text tables for lab summaries and chapter outputs.

Introduced in Lecture 2; also used by Lectures 3, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 21, 22, 23, 26.

Examples:
    >>> print(format_table([{"op": "swish", "ms": 1.25}], floatfmt=".2f"))
    | op    |   ms |
    |-------|------|
    | swish | 1.25 |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["format_table"]


def _cell(value: object, floatfmt: str) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(value, floatfmt)
    return str(value)


def format_table(rows: Sequence[Mapping[str, object]], floatfmt: str = ".3g") -> str:
    """Format rows of dicts as a Markdown-style table (text is left-aligned, numbers right).

    Args:
        rows: one mapping per row; the first row's keys give the columns.
        floatfmt: format spec applied to float cells.

    Returns:
        The table as a string without a trailing newline.

    Raises:
        ValueError: ``rows`` is empty or a row lacks one of the columns.
    """
    if not rows:
        raise ValueError("format_table needs at least one row")
    columns = list(rows[0])
    for i, row in enumerate(rows):
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"row {i} lacks column(s) {missing}; columns are {columns}")
    cells = [[_cell(row[c], floatfmt) for c in columns] for row in rows]
    numeric = [
        all(isinstance(row[c], (int, float)) and not isinstance(row[c], bool) for row in rows)
        for c in columns
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)
        ]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(columns), rule, *(line(r) for r in cells)])
