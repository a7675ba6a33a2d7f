"""Committed measurements rendered into pages: tables, text, and clear errors."""

import json

import pytest

from tutorials._book.measured import MeasuredError, render


@pytest.fixture
def docs(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "r.json").write_text(json.dumps({
        "runs": [{"run": 0, "bit_identical": True, "seconds": 81.5}, {"run": 1, "bit_identical": False}],
        "summary": "200 kills, 0 unreadable", "count": 3,
    }))
    return tmp_path


def test_table_and_text(docs):
    page = "Before\n<!-- json-table: assets/r.json runs -->\n<!-- json-text: assets/r.json summary -->\n"
    assert render(page, docs, "p.md") == (
        "Before\n| run | bit identical | seconds |\n|---|---|---|\n| 0 | yes | 81.5 |\n| 1 | no |  |\n"
        "200 kills, 0 unreadable\n"
    )


@pytest.mark.parametrize(("marker", "message"), [
    ("<!-- json-table: assets/none.json runs -->", r"p.md: .*none.json does not exist"),
    ("<!-- json-table: assets/r.json rows -->",
     r"has no key 'rows' \(keys: \['count', 'runs', 'summary'\]\)"),
    ("<!-- json-table: assets/r.json summary -->", "expected a non-empty list of objects"),
    ("<!-- json-text: assets/r.json count -->", "'count' is not a string"),
])
def test_errors_name_page_marker_and_problem(docs, marker, message):
    with pytest.raises(MeasuredError, match=message):
        render(marker, docs, "p.md")
