"""Committed measurements rendered into pages: tables, text, and clear errors."""

import json

import pytest

from tutorials._book.measured import MeasuredError, render


@pytest.fixture
def docs(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "r.json").write_text(json.dumps({
        "runs": [{"run": 0, "bit_identical": True, "seconds": 81.5}, {"run": 1, "bit_identical": False}],
        "summary": "200 kills, 0 unreadable", "count": 3, "env": {"torch": "2.14.1", "cpus": 2},
    }))
    return tmp_path


def test_table_and_text(docs):
    page = "Before\n<!-- json-table: assets/r.json runs -->\n<!-- json-text: assets/r.json summary -->\n"
    assert render(page, docs, "p.md") == (
        "Before\n| run | bit identical | seconds |\n|---|---|---|\n| 0 | yes | 81.5 |\n| 1 | no |  |\n"
        "200 kills, 0 unreadable\n"
    )


def test_an_object_is_a_table_of_one_row(docs):
    assert render("<!-- json-table: assets/r.json env -->", docs, "p.md") == (
        "| torch | cpus |\n|---|---|\n| 2.14.1 | 2 |"
    )


def test_table_columns_in_the_order_given(docs):
    assert render("<!-- json-table: assets/r.json runs seconds,run -->", docs, "p.md") == (
        "| seconds | run |\n|---|---|\n| 81.5 | 0 |\n|  | 1 |"
    )


@pytest.mark.parametrize(("marker", "message"), [
    ("<!-- json-table: assets/r.json runs run,speed -->", r"no column \['speed'\]"),
    ("<!-- json-table: assets/none.json runs -->", r"p.md: .*none.json does not exist"),
    ("<!-- json-table: assets/r.json rows -->",
     r"has no key 'rows' \(keys: \['count', 'env', 'runs', 'summary'\]\)"),
    ("<!-- json-table: assets/r.json summary -->", "expected an object or a non-empty list of objects"),
    ("<!-- json-text: assets/r.json count -->", "'count' is not a string"),
])
def test_errors_name_page_marker_and_problem(docs, marker, message):
    with pytest.raises(MeasuredError, match=message):
        render(marker, docs, "p.md")
