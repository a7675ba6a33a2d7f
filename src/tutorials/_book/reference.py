"""The API reference, generated from the package: one page per public package and module.

Nothing under ``docs/reference/`` but its landing page is written by hand: the site
hook adds these pages at build time (``File.generated``) and lists them in the
navigation, grouped as the package is: the core, then one group per chapter, then
the course's tools. A package's page shows its docstring and a table of its modules;
a module's page is rendered by mkdocstrings from its docstrings.

Left out, with their reason: private modules (``_book``, names starting with ``_``);
each chapter's ``chapter.py``, which its page shows section by section; the labs,
which have pages of their own under "Labs".

Examples:
    >>> uri_of("tutorials.core.hooks")
    'reference/core/hooks.md'
    >>> uri_of("tutorials.lec03_autograd")
    'reference/lec03_autograd/index.md'
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from tutorials._book import layout
from tutorials._book.syllabus import LECTURES

__all__ = ["RefPage", "pages", "nav", "uri_of", "summary"]


@dataclass(frozen=True)
class RefPage:
    """One generated reference page.

    Attributes:
        module: the dotted name it documents.
        source: the file (``__init__.py`` for a package).
        group: the navigation group it belongs to.
    """

    module: str
    source: Path
    group: str

    @property
    def uri(self) -> str:
        return uri_of(self.module, package=self.source.name == "__init__.py")

    @property
    def is_package(self) -> bool:
        return self.source.name == "__init__.py"


def uri_of(module: str, package: bool | None = None) -> str:
    """The page of ``module`` under ``docs/``, e.g. ``reference/core/hooks.md``."""
    parts = module.split(".")[1:]
    if package is None:
        package = (layout.PACKAGE.joinpath(*parts) / "__init__.py").is_file()
    return "/".join(["reference", *parts, "index.md"] if package else ["reference", *parts]) + (
        "" if package else ".md")


def summary(source: Path) -> str:
    """The first line of a file's docstring, read without importing it."""
    doc = ast.get_docstring(ast.parse(source.read_text(encoding="utf-8"))) or ""
    return doc.splitlines()[0] if doc else ""


def _public_modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.py")
                  if not p.name.startswith(("_", "lab_")) and p.name != "chapter.py")


def pages(root: Path | None = None) -> list[RefPage]:
    """Every reference page, in navigation order."""
    pkg = layout.PACKAGE if root is None else root / "src" / "tutorials"
    out = []
    core = pkg / "core"
    out.append(RefPage("tutorials.core", core / "__init__.py", "Core"))
    out += [RefPage(f"tutorials.core.{p.stem}", p, "Core") for p in _public_modules(core)]
    titles = {lec.number: lec.title for lec in LECTURES}
    for chapter in layout.chapters(pkg.parents[1]):
        group = f"Lecture {chapter.number}: {titles.get(chapter.number, chapter.slug)}"
        folder = pkg / chapter.package
        out.append(RefPage(chapter.module, folder / "__init__.py", group))
        out += [RefPage(f"{chapter.module}.{p.stem}", p, group) for p in _public_modules(folder)]
    out += [RefPage(f"tutorials.{p.stem}", p, "Course tools") for p in _public_modules(pkg)]
    return out


def markdown(page: RefPage, all_pages: list[RefPage]) -> str:
    """The Markdown of a generated page."""
    head = f"# `{page.module}`\n\n"
    body = f"::: {page.module}\n    options:\n      show_root_heading: false\n"
    if not page.is_package:
        return head + body
    inside = [p for p in all_pages if p.module.startswith(page.module + ".")]
    base = Path(page.uri).parent
    rows = ["| module | what it holds |", "|---|---|"]
    for p in inside:
        link = Path(p.uri).relative_to(base).as_posix()
        rows.append(f"| [`{p.module.rsplit('.', 1)[1]}`]({link}) | {summary(p.source)} |")
    labs = sorted(page.source.parent.glob("lab_*.py"))
    lab_rows = [f"- [{lab.stem}]({'../' * (len(base.parts))}labs/{lab.name})" for lab in labs]
    text = head + body + "\n## Modules\n\n" + "\n".join(rows) + "\n"
    if page.source.parent.name.startswith("lec"):
        text += ("\nThe chapter's script, `chapter.py`, is shown section by section on its page"
                 + (", and its labs have pages of their own:\n\n" + "\n".join(lab_rows) if labs else ".")
                 + "\n")
    return text


def nav(all_pages: list[RefPage]) -> list:
    """The API reference's navigation: the landing page, then one section per group."""
    groups: dict[str, list[str]] = {}
    for p in all_pages:
        groups.setdefault(p.group, []).append(p.uri)
    return ["reference/index.md"] + [{name: uris} for name, uris in groups.items()]
