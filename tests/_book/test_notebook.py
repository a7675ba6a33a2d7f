"""Each chapter as a Jupyter notebook: its code cells are exactly the page's blocks."""

import json
import re
import textwrap
from pathlib import Path

import nbformat
import pytest

import docs_support
from tutorials._book import blocks, notebook

SITE = "https://example.org/course/"
LECTURES = sorted(p for p in docs_support.pages() if p.startswith("docs/lectures/"))
FENCE = "```"


def build(page: str) -> tuple[nbformat.NotebookNode, tuple[blocks.Block, ...]]:
    expanded, page_blocks = docs_support.pages()[page]
    nb = notebook.chapter_notebook(expanded, page_blocks, site_url=SITE, docs_dir=docs_support.DOCS)
    return nb, page_blocks


def code_of(cell) -> str:
    return cell.source.removeprefix(notebook.SHELL_MAGIC)


def test_every_chapter_is_covered():
    assert "docs/lectures/03-autograd.md" in LECTURES and len(LECTURES) >= 8


@pytest.mark.parametrize("page", LECTURES)
def test_code_cells_are_the_page_blocks(page):
    nb, page_blocks = build(page)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [code_of(c) for c in code] == [b.code for b in page_blocks], "one cell per block, in order"
    for cell, block in zip(code, page_blocks, strict=True):
        shell = block.language in {"bash", "sh"}
        assert cell.source.startswith(notebook.SHELL_MAGIC) == shell, block.location
        assert ("solution" in cell.metadata.get("tags", [])) == block.in_solution, block.location
        assert not cell.outputs and cell.execution_count is None


@pytest.mark.parametrize("page", LECTURES)
def test_markdown_cells_read_as_prose(page):
    nb, _ = build(page)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        assert "pytest-codeblocks" not in cell.source and "<!--" not in cell.source, cell.source[:200]
        assert "--8<--" not in cell.source, cell.source[:200]
        assert "](../" not in cell.source, "relative links point at the site"
        assert not re.search(r"\]\((?!https?://)[^)]*\.md[)#]", cell.source), "a link to a page's source"
        for line in cell.source.splitlines():
            assert not line.lstrip().startswith(("!!!", "???")), f"admonition left as is: {line}"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# Lecture")


@pytest.mark.parametrize("page", LECTURES)
def test_solutions_are_announced_and_tagged(page):
    nb, _ = build(page)
    for k, cell in enumerate(nb.cells):
        if "solution" in cell.metadata.get("tags", []):
            previous = nb.cells[k - 1]
            assert cell.metadata["jupyter"] == {"source_hidden": True}
            assert previous.cell_type == "markdown"
            # the first code cell of a solution follows its title; a later one, the output above it
            if not (nb.cells[k - 2].cell_type == "code"
                    and "solution" in nb.cells[k - 2].metadata.get("tags", [])):
                assert previous.source == "**Solution**", previous.source


@pytest.mark.parametrize("page", LECTURES)
def test_notebook_is_valid_and_deterministic(page):
    nb, _ = build(page)
    nbformat.validate(nb)
    text = notebook.notebook_json(nb)
    assert text == notebook.notebook_json(build(page)[0]), "two builds differ"
    data = json.loads(text)
    assert data["metadata"]["kernelspec"]["name"] == "python3"
    assert nbformat.reads(text, as_version=4) == nb


@pytest.fixture
def repo(tmp_path):
    """A tiny repository: a module with a section, and a chapter page including it."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("# --8<-- [start:one]\nx = 1\nprint(x)\n# --8<-- [end:one]\n")
    (tmp_path / "docs" / "lectures").mkdir(parents=True)
    return tmp_path


def page_notebook(repo: Path, text: str, **kwargs) -> nbformat.NotebookNode:
    page = repo / "docs" / "lectures" / "01-x.md"
    page.write_text(textwrap.dedent(text), encoding="utf-8")
    pre = blocks.snippet_preprocessor({"base_path": [str(repo)], "check_paths": True})
    expanded = blocks.expand_page(page, repo, pre)
    nb = notebook.chapter_notebook(expanded, blocks.page_blocks(expanded), **kwargs)
    nbformat.validate(nb)
    return nb


def test_prose_admonitions_outputs_and_links(repo):
    nb = page_notebook(repo, f"""\
        # Lecture 1 — X

        !!! abstract "Learning outcomes"

            You can [start](../getting-started.md) and read ![a plot](../assets/p.png).

        {FENCE}python
        --8<-- "pkg/mod.py:one"
        {FENCE}

        <!-- pytest-codeblocks:expected-output -->
        {FENCE}text
        1
        {FENCE}

        <!-- a comment
        over two lines -->
        See [the next chapter](02-y.md#part), `f[0](x)` and [the lab](../labs/lab_01_x.py).

        {FENCE}bash
        echo hi
        {FENCE}

        ??? success "Solution"

            {FENCE}python
            y = 2
            {FENCE}
        <!-- pytest-codeblocks:cont -->
        {FENCE}python
        print(y)
        {FENCE}
        """, site_url=SITE)
    cells = [(c.cell_type, c.source) for c in nb.cells]
    assert [s for t, s in cells if t == "code"] == ["x = 1\nprint(x)\n", "%%bash\necho hi\n",
                                                    "y = 2\nprint(y)\n"]
    head = cells[0][1]
    assert head.startswith("# Lecture 1 — X\n\n*Generated from the chapter page "
                           f"<{SITE}lectures/01-x/>")
    assert head.endswith("**Learning outcomes**\n\nYou can "
                         f"[start]({SITE}getting-started/) and read ![a plot]({SITE}assets/p.png).")
    assert cells[2] == ("markdown", "*Output on the page:*\n\n```text\n1\n```\n\n"
                        f"See [the next chapter]({SITE}lectures/02-y/#part), `f[0](x)` and "
                        f"[the lab]({SITE}labs/lab_01_x/).")
    assert cells[4] == ("markdown", "**Solution**")
    assert nb.cells[5].metadata["tags"] == ["solution"]
    assert len(nb.cells) == 6, "the continued fence is part of its block's cell"


def test_links_left_as_written_without_a_site_url(repo):
    nb = page_notebook(repo, "# T\n\nSee [start](../getting-started.md).\n")
    assert "[start](../getting-started.md)" in nb.cells[0].source


def test_recorded_output_names_its_machine(repo):
    nb = page_notebook(repo, f"""\
        # T

        {FENCE}python
        print(3)
        {FENCE}

        <!-- pytest-codeblocks:recorded-output machine="Box · 2 cores" torch="2.9.0" date="2026-01-01" -->
        {FENCE}text
        3
        {FENCE}
        """)
    assert nb.cells[-1].source.startswith(
        "*Output recorded on the page (Box · 2 cores · torch 2.9.0 · 2026-01-01)")


def test_command_line_writes_the_notebook(tmp_path, capsys):
    out = tmp_path / "03.ipynb"
    page = docs_support.ROOT / "docs" / "lectures" / "03-autograd.md"
    assert notebook.main([str(page), str(out), "--root", str(docs_support.ROOT)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    nb = nbformat.read(out, as_version=4)
    _, page_blocks = docs_support.pages()["docs/lectures/03-autograd.md"]
    assert [code_of(c) for c in nb.cells if c.cell_type == "code"] == [b.code for b in page_blocks]
