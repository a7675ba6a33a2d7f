"""A chapter page as a Jupyter notebook: its prose as Markdown cells, its blocks as code cells.

The notebook is built from the *expanded* page (:func:`tutorials._book.blocks.expand_page`),
so its code cells are exactly the blocks the tests execute, in page order, one cell per
block: a Python block is its code as is; a ``bash``/``sh`` block is a ``%%bash`` cell magic
line followed by its code. The prose between blocks becomes Markdown that reads well in
Jupyter:

* HTML comments (``<!-- pytest-codeblocks:... -->`` and the other markers) are dropped;
* an output block is kept as the page shows it, under a short line saying what it is
  (the page's output, a recorded output and the machine it came from, or an output
  checked to a tolerance);
* a MkDocs admonition (``!!! note "Title"``, ``??? success "Solution"``) becomes its
  title in bold followed by its body, dedented;
* relative links and images point at the published site (``site_url``), so they work
  from a notebook opened anywhere;
* a block inside a "Solution" admonition is kept (the page has it), tagged
  ``solution`` and collapsed (``jupyter.source_hidden``) in its cell metadata, after a
  Markdown cell of its own holding the "**Solution**" title.

The output is deterministic (cell ids are numbered, nothing holds a date), so two builds
of the same page give the same file. The site's hook publishes one notebook per chapter
(``lectures/NN-slug.ipynb``); from a terminal::

    python -m tutorials._book.notebook docs/lectures/03-autograd.md 03-autograd.ipynb
"""

from __future__ import annotations

import argparse
import posixpath
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

from tutorials._book import blocks, measured, outputs

__all__ = ["chapter_notebook", "notebook_json", "main"]

SHELL_MAGIC = "%%bash\n"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}

_ADMONITION = re.compile(  # an admonition (!!!), a collapsible one (???) or a content tab (===)
    r'^(?P<indent>[ \t]*)(?:(?:\?{3}\+?|!{3})[ \t]*(?P<type>[\w-]*)(?:[ \t]+"(?P<title>[^"]*)")?'
    r'|={3}\+?[ \t]+"(?P<tab>[^"]*)")[ \t]*$')
_OUTPUT_MARKER = re.compile(
    r"^[ \t]*<!--[-\s]*pytest-codeblocks:(?P<kind>expected-output(?:-ignore-whitespace)?|recorded-output)"
    r"(?P<options>[^>]*?)[-\s]*-->[ \t]*$")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
# the target of a link or image: its text may hold a code span, or begin on the line above
_LINK = re.compile(r"(?P<head>\]\()(?P<target>[^)\s]+)(?P<tail>(?:\s+\"[^\"]*\")?\))")
_CODE_SPAN = re.compile(r"(`+).*?\1")


def _width(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def _dedent(line: str, width: int) -> str:
    """``line`` without up to ``width`` columns of leading whitespace."""
    expanded = line.expandtabs(4)
    return expanded[min(width, _width(line)):]


def _site_target(target: str, page_uri: str, site_url: str, use_directory_urls: bool) -> str:
    """A link target of the page as an absolute URL on the published site."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^#|^/", target):
        return target  # absolute, an anchor on this page, or site-absolute: left alone
    path, sep, fragment = target.partition("#")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page_uri), path))
    if resolved.startswith(".."):
        return target
    stem, ext = posixpath.splitext(resolved)
    is_lab = ext == ".py" and posixpath.basename(stem).startswith("lab_")  # mkdocs-jupyter renders it
    if ext == ".md" or is_lab:
        if posixpath.basename(stem) == "index":
            stem = posixpath.dirname(stem)
            resolved = f"{stem}/" if stem else ""
        else:
            resolved = f"{stem}/" if use_directory_urls else f"{stem}.html"
    return site_url.rstrip("/") + "/" + resolved + sep + fragment


def _rewrite_links(line: str, page_uri: str, site_url: str | None, use_directory_urls: bool) -> str:
    """``line`` with its relative link and image targets made absolute (outside code spans)."""
    if site_url is None or "](" not in line:
        return line

    def fix(match: re.Match) -> str:
        target = _site_target(match.group("target"), page_uri, site_url, use_directory_urls)
        return match.group("head") + target + match.group("tail")

    parts, last = [], 0
    for span in _CODE_SPAN.finditer(line):
        parts.append(_LINK.sub(fix, line[last:span.start()]))
        parts.append(span.group(0))
        last = span.end()
    parts.append(_LINK.sub(fix, line[last:]))
    return "".join(parts)


def _output_label(kind: str, options: str, where: str) -> str:
    """The line shown above an output block, saying what the box is."""
    opts = outputs.parse_marker_options(options, where)
    if kind == "recorded-output":
        made = " · ".join(opts[k] if k != "torch" else f"torch {opts[k]}"
                          for k in ("machine", "torch", "date") if k in opts)
        return (f"*Output recorded on the page ({made}); timings and search results differ "
                "from machine to machine:*")
    if "abs" in opts or "rel" in opts:
        spec = outputs.OutputSpec(abs_tol=float(opts.get("abs", 0)), rel_tol=float(opts.get("rel", 0)))
        return f"*Output on the page (numbers checked to {spec.declared_tolerance}):*"
    return "*Output on the page:*"


class _Cells:
    """Collects Markdown lines and code cells in order."""

    def __init__(self) -> None:
        self.cells: list[dict] = []
        self.markdown: list[str] = []

    def text(self, line: str) -> None:
        self.markdown.append(line)

    def flush(self) -> None:
        lines: list[str] = []
        for line in self.markdown:
            line = line.rstrip()
            if not line and (not lines or not lines[-1]):
                continue  # no leading or repeated blank lines
            lines.append(line)
        while lines and not lines[-1]:
            lines.pop()
        self.markdown = []
        if lines:  # plain dicts: nbformat's constructors validate every cell, slowly
            self.cells.append({"cell_type": "markdown", "metadata": {}, "source": "\n".join(lines)})

    def code(self, block: blocks.Block) -> None:
        self.flush()
        source = block.code if block.language == "python" else SHELL_MAGIC + block.code
        cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                "source": source}
        if block.in_solution:  # collapsed on the page, collapsed here
            cell["metadata"]["tags"] = ["solution"]
            cell["metadata"]["jupyter"] = {"source_hidden": True}
        self.cells.append(cell)


def _block_fences(fences: list[blocks.Fence], expanded: blocks.ExpandedPage,
                  page_blocks: Sequence[blocks.Block]) -> tuple[dict[int, blocks.Block], set[int]]:
    """Which fence (by opening line) starts which block, and the fences continuing a block (``cont``)."""
    first = {b.origins[0]: b for b in page_blocks}
    later = {o: b for b in page_blocks for o in b.origins[1:]}
    starts: dict[int, blocks.Block] = {}
    placed: set[int] = set()
    continued: set[int] = set()
    for fence in fences:
        origin = expanded.origins[(fence.body_lines[0] if fence.body_lines else fence.line) - 1]
        block = first.get(origin)
        if block is not None and block.index not in placed and block.code.startswith(fence.code):
            starts[fence.line] = block
            placed.add(block.index)
        elif origin in later and fence.code in later[origin].code:
            continued.add(fence.line)
    missing = [b for b in page_blocks if b.index not in placed]
    if missing:
        raise blocks.PageError(f"{missing[0].location}: block {missing[0].index} has no fence on the page")
    return starts, continued


def chapter_notebook(expanded: blocks.ExpandedPage, page_blocks: Sequence[blocks.Block], *,
                     site_url: str | None = None, use_directory_urls: bool = True,
                     docs_dir: Path | None = None, page_uri: str | None = None) -> nbformat.NotebookNode:
    """The notebook of one chapter page.

    Args:
        expanded: the page, from :func:`tutorials._book.blocks.expand_page`.
        page_blocks: its blocks, from :func:`tutorials._book.blocks.page_blocks`.
        site_url: the published site (``config.site_url``); relative links and images
            are made absolute against it. ``None`` leaves them as written.
        use_directory_urls: as MkDocs' option: ``page.md`` is served at ``page/``.
        docs_dir: the site's ``docs/``; when given, measured-result markers
            (:mod:`tutorials._book.measured`) are rendered as on the page.
        page_uri: the page's path under ``docs/`` (default: ``expanded.path``
            without its leading ``docs/``).

    Returns:
        A version 4 notebook with a ``python3`` kernel, deterministic cell ids.

    Raises:
        blocks.PageError: a block cannot be placed on the page.
        measured.MeasuredError: a measured-result marker names missing data.
    """
    page_uri = page_uri or expanded.path.removeprefix("docs/")
    lines = expanded.text.splitlines()
    fences = blocks.scan_fences(lines)
    starts, continued = _block_fences(fences, expanded, page_blocks)
    by_line = {f.line: f for f in fences}
    cells = _Cells()
    admonitions: list[int] = []  # body indentation of the open admonitions
    pending_output: str | None = None  # label for the next fence (an output block)
    in_comment = False
    titled = False
    i = 0
    while i < len(lines):
        line, n = lines[i], i + 1
        if line.strip() and not in_comment:
            while admonitions and _width(line) < admonitions[-1]:
                admonitions.pop()
        body = admonitions[-1] if admonitions else 0
        fence = by_line.get(n)
        if fence is not None and not in_comment:
            end = (fence.body_lines[-1] if fence.body_lines else fence.line) + 1  # closing line
            if n in starts:
                cells.code(starts[n])
            elif n not in continued:
                if pending_output is not None:
                    cells.text("")
                    cells.text(pending_output)
                    cells.text("")
                for k in range(n, end + 1):
                    cells.text(_dedent(lines[k - 1], body))
            pending_output = None
            i = end
            continue
        if in_comment or "<!--" in line:
            marker = _OUTPUT_MARKER.match(line)
            if marker and not in_comment:
                pending_output = _output_label(marker.group("kind"), marker.group("options"),
                                               str(expanded.origins[i]))
            if docs_dir is not None and not in_comment:
                line = measured.render(line, Path(docs_dir), page_uri)
            text = line
            if in_comment:
                if "-->" not in text:
                    i += 1
                    continue
                text = text.split("-->", 1)[1]
                in_comment = False
            text = _COMMENT.sub("", text)
            if "<!--" in text:
                text, in_comment = text.split("<!--", 1)[0], True
            if not text.strip():
                i += 1
                continue  # a line that held only a comment leaves no blank line behind
            line = text
        head = _ADMONITION.match(line)
        if head:
            title = head.group("tab") if head.group("type") is None else head.group("title")
            if title is None:
                title = head.group("type").replace("-", " ").capitalize()
            if "solution" in (title or "").lower():
                cells.flush()  # the solution's title is a cell of its own, above its code
            cells.text("")
            if title:
                cells.text(_dedent(head.group("indent"), body) + f"**{title}**")
                cells.text("")
            admonitions.append(_width(line) + 4)
            i += 1
            continue
        line = _rewrite_links(_dedent(line, body), page_uri, site_url, use_directory_urls)
        cells.text(line)
        if not titled and line.startswith("# "):
            titled = True
            where = (_site_target(posixpath.basename(page_uri), page_uri, site_url, use_directory_urls)
                     if site_url else page_uri)
            cells.text("")
            cells.text(f"*Generated from the chapter page <{where}>: each code cell is one of its "
                       "blocks, in order. Run the cells from the top; they need the course package "
                       "(`pip install -e .` from a clone of the repository, as in Getting started).*")
        i += 1
    cells.flush()
    for k, cell in enumerate(cells.cells):
        cell["id"] = f"{cell['cell_type']}-{k:03d}"
    return nbformat.from_dict({
        "nbformat": 4, "nbformat_minor": 5, "cells": cells.cells,
        "metadata": {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}},
    })


def notebook_json(nb: nbformat.NotebookNode) -> str:
    """The notebook as the JSON text of its file (sorted keys, ending with a newline).

    Written as ``nbformat.writes`` writes it, without validating it again (the tests do).
    """
    text = nbformat.v4.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the notebook of one chapter page."""
    parser = argparse.ArgumentParser(prog="python -m tutorials._book.notebook",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("page", type=Path, help="the chapter page, e.g. docs/lectures/03-autograd.md")
    parser.add_argument("out", type=Path, help="the notebook to write, e.g. 03-autograd.ipynb")
    parser.add_argument("--root", type=Path, default=Path.cwd(),
                        help="repository root holding mkdocs.yml (default: the working directory)")
    parser.add_argument("--site-url", default=None,
                        help="site the links point at (default: site_url of mkdocs.yml)")
    args = parser.parse_args(argv)
    from mkdocs.config import load_config

    config = load_config(str(args.root / "mkdocs.yml"))
    pre = blocks.snippet_preprocessor(dict(config.mdx_configs["pymdownx.snippets"]))
    expanded = blocks.expand_page(args.page, args.root, pre)
    docs_dir = Path(config.docs_dir)
    nb = chapter_notebook(expanded, blocks.page_blocks(expanded),
                          site_url=args.site_url or config.site_url,
                          use_directory_urls=config.use_directory_urls, docs_dir=docs_dir,
                          page_uri=args.page.resolve().relative_to(docs_dir.resolve()).as_posix())
    nbformat.validate(nb)
    args.out.write_text(notebook_json(nb), encoding="utf-8")
    code = sum(c.cell_type == "code" for c in nb.cells)
    print(f"wrote {args.out} ({len(nb.cells)} cells, {code} of them code)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
