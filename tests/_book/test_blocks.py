"""The block machinery: what it executes, how it reports, what it refuses."""

import textwrap
from pathlib import Path

import pytest

import docs_support
from tutorials._book import blocks
from tutorials._book.update_outputs import update_page

FENCE = "```"


@pytest.fixture
def repo(tmp_path):
    """A tiny repository: a module with a section, and a page including it."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(textwrap.dedent("""\
        import math

        # --8<-- [start:area]
        r = 2.0
        area = math.pi * r**2
        print(f"{area:.3f}")
        # --8<-- [end:area]

        # --8<-- [start:broken]
        value = 1
        value = undefined_name + value
        # --8<-- [end:broken]
    """))
    return tmp_path


def expand(repo: Path, text: str):
    page = repo / "page.md"
    page.write_text(text)
    pre = blocks.snippet_preprocessor({"base_path": [str(repo)], "check_paths": True})
    return blocks.expand_page(page, repo, pre)


def test_includes_titles_and_outputs(repo):
    e = expand(repo, textwrap.dedent(f"""\
        # Title

        {FENCE}python title="area.py"
        import math
        --8<-- "pkg/mod.py:area"
        {FENCE}

        <!-- pytest-codeblocks:expected-output -->
        {FENCE}text
        12.566
        {FENCE}

        {FENCE}bash
        echo from-shell
        {FENCE}

        {FENCE}text
        not code
        {FENCE}
    """))
    bs = blocks.page_blocks(e)
    assert [b.language for b in bs] == ["python", "bash"], "titled fences are executed too"
    assert "--8<--" not in bs[0].code and "area = math.pi" in bs[0].code
    assert str(bs[0].origins[2]) == "page.md:5 (included from pkg/mod.py:5)"
    session = blocks.PageSession(repo, blocks.shell_env())
    assert session.run(bs[0]) == "12.566\n"
    assert session.namespace["__name__"] == "__main__"
    assert session.run(bs[1]) == "from-shell\n"


def test_failure_points_at_page_and_source_line(repo):
    e = expand(repo, f'{FENCE}python\n--8<-- "pkg/mod.py:broken"\n{FENCE}\n')
    (b,) = blocks.page_blocks(e)
    with pytest.raises(blocks.BlockFailure) as err:
        blocks.PageSession(repo).run(b)
    msg = str(err.value)
    assert "page.md:2 (included from pkg/mod.py:11)" in msg
    assert "NameError: name 'undefined_name' is not defined" in msg


def test_wrong_output_is_reported_with_both_texts(repo):
    e = expand(repo, f"{FENCE}python\nprint(1 + 1)\n{FENCE}\n\n"
                     f"<!-- pytest-codeblocks:expected-output -->\n{FENCE}text\n3\n{FENCE}\n")
    (b,) = blocks.page_blocks(e)
    with pytest.raises(blocks.BlockFailure, match=r"(?s)shown on the page\n3\n.*printed by the code\n2\n"):
        blocks.PageSession(repo).run(b)


def test_cont_blocks_keep_line_origins(repo):
    e = expand(repo, f"{FENCE}python\na = 1\n{FENCE}\n\n<!-- pytest-codeblocks:cont -->\n"
                     f"{FENCE}python\nb = a + 1\n{FENCE}\n")
    (b,) = blocks.page_blocks(e)
    assert [o.page_line for o in b.origins] == [2, 7]


def test_refuses_missing_section_code_outside_fences_and_bad_skips(repo):
    with pytest.raises(blocks.PageError, match=r"page.md:1: cannot expand include"):
        expand(repo, '--8<-- "pkg/mod.py:nope"\n')
    with pytest.raises(blocks.PageError, match="outside a code fence"):
        blocks.page_blocks(expand(repo, '--8<-- "pkg/mod.py:area"\n'))
    e = expand(repo, f"<!--pytest.mark.skip-->\n{FENCE}python\nx = 1\n{FENCE}\n")
    (b,) = blocks.page_blocks(e)
    with pytest.raises(blocks.PageError, match="needs a reason"):
        docs_support.skip_reason(b)
    e = expand(repo, f'<!--pytest.mark.skip(reason="needs a GPU")-->\n{FENCE}python\nx = 1\n{FENCE}\n')
    assert docs_support.skip_reason(blocks.page_blocks(e)[0]) == "needs a GPU"


def test_update_outputs_fills_output_blocks(repo):
    (repo / "docs").mkdir()
    (repo / "mkdocs.yml").write_text(
        "site_name: t\nmarkdown_extensions:\n  - pymdownx.snippets:\n"
        "      base_path: [!relative $config_dir]\n      check_paths: true\n"
    )
    page = repo / "page.md"
    page.write_text(f'{FENCE}python\nimport math\n--8<-- "pkg/mod.py:area"\n{FENCE}\n\n'
                    f"<!-- pytest-codeblocks:expected-output -->\n{FENCE}text\nstale\n{FENCE}\n")
    assert update_page(page, repo) == 1
    assert f"{FENCE}text\n12.566\n{FENCE}" in page.read_text()

    # digits that still match (to the precision written) are kept; a recorded output
    # always takes this run's text, and its marker this run's machine, torch and date
    page.write_text(f'{FENCE}python\nimport math\n--8<-- "pkg/mod.py:area"\n{FENCE}\n\n'
                    f"<!-- pytest-codeblocks:expected-output -->\n{FENCE}text\n12.567\n{FENCE}\n\n"
                    f"{FENCE}python\nprint('took', 3, 'ms')\n{FENCE}\n\n"
                    '<!-- pytest-codeblocks:recorded-output machine="old" torch="1.0" '
                    'date="2020-01-01" -->\n'
                    f"{FENCE}text\ntook 9 ms\n{FENCE}\n")
    assert update_page(page, repo) == 1
    text = page.read_text()
    assert f"{FENCE}text\n12.567\n{FENCE}" in text and f"{FENCE}text\ntook 3 ms\n{FENCE}" in text
    assert 'machine="old"' not in text and 'torch="2.' in text and "cores" in text


def test_page_code_does_not_inherit_future_annotations(repo):
    e = expand(repo, f"{FENCE}python\ndef f(x: Undefined) -> None:\n    pass\n{FENCE}\n")
    with pytest.raises(blocks.BlockFailure, match="name 'Undefined' is not defined"):
        blocks.PageSession(repo).run(blocks.page_blocks(e)[0])


@pytest.mark.parametrize("fence", ["~~~python", "```python3", "```pycon", "```py3", "```ipython3", "~~~py"])
def test_python_that_would_not_run_is_refused(repo, fence):
    close = fence[:3]
    e = expand(repo, f"# T\n\nSome text.\n\n{fence}\nraise SystemExit(1)\n{close}\n")
    with pytest.raises(blocks.PageError, match=r"page.md:5: this fence renders as Python but is never run"):
        blocks.page_blocks(e)


def test_fences_at_any_indent_and_in_solutions(repo):
    e = expand(repo, textwrap.dedent(f"""\
        {FENCE}python
        a = 1
        {FENCE}

        ??? success "Solution"

            {FENCE}python
            b = 2
            {FENCE}

            <!-- pytest-codeblocks:expected-output -->
            {FENCE}text
            2
            {FENCE}

        !!! note "Also"

            {FENCE}py title="x.py"
            c = 3
            {FENCE}

        ~~~text
        not run
        ~~~
    """))
    bs = blocks.page_blocks(e)
    assert [(b.code, b.in_solution) for b in bs] == [
        ("a = 1\n", False), ("b = 2\n", True), ("c = 3\n", False)]
    assert bs[1].expected_output == "2\n"


def test_output_markers_are_validated(repo):
    bad = (f"{FENCE}python\nx = 1\n{FENCE}\n\n<!-- pytest-codeblocks:expected-output tol=1 -->\n"
           f"{FENCE}text\n{FENCE}\n")
    with pytest.raises(blocks.PageError, match=r"expected-output takes \['abs', 'rel'\], not \['tol'\]"):
        blocks.page_blocks(expand(repo, bad))
    with pytest.raises(blocks.PageError, match="unknown marker"):
        blocks.page_blocks(expand(repo, "<!-- pytest-codeblocks:expected -->\n"))
    with pytest.raises(blocks.PageError, match="needs a code block above it"):
        blocks.page_blocks(expand(repo, f"<!-- pytest-codeblocks:expected-output -->\n{FENCE}text\n"
                                        f"{FENCE}\n"))


@pytest.mark.parametrize(("shown", "printed", "options", "verdict"), [
    ("acc 0.9499\n", "acc 0.9500\n", {}, None),  # rounding boundary: one unit of the last digit
    ("acc 0.9499\n", "acc 0.9471\n", {}, "off by 0.0028"),
    ("tensor([ 0.0000, -0.5000])\n", "tensor([-0.0000, -0.5000])\n", {}, None),
    ("tensor([1., 2.])\n", "tensor([2., 2.])\n", {}, "must match exactly"),
    ("torch.Size([2, 3])\n", "torch.Size([2, 4])\n", {}, "the integer 3"),
    ("torch 2.14.1\n", "torch 2.14.2\n", {}, "the text differs"),
    ("True\n", "False\n", {}, "the text differs"),
    ("loss 0.50\n", "loss 0.53\n", {"abs_tol": 0.05}, None),
    ("loss 0.50\n", "loss 0.58\n", {"abs_tol": 0.05}, "declared"),
    ("5.3x slower\n", "12.1x slower\n", {"kind": "recorded"}, None),
    ("5.3x slower: True\n", "1.1x slower: False\n", {"kind": "recorded"}, "the text differs"),
])
def test_output_comparison(shown, printed, options, verdict):
    from tutorials._book.outputs import OutputSpec, compare

    why = compare(shown, printed, OutputSpec(**options))
    if verdict is None:
        assert why is None
    else:
        assert why is not None and verdict in why, why
