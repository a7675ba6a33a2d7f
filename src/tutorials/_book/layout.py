"""Where each file of the course lives: one package per chapter, a shared core, the book machinery.

The tree (``python -m tutorials._book.layout`` prints it for the chapters that exist)::

    docs/lectures/NN-slug.md           the chapter's page
    src/tutorials/lecNN_slug/          everything that belongs to that chapter alone
        __init__.py                    one paragraph: what the chapter teaches
        chapter.py                     the script whose sections the page includes
        exercises.py                   the self-checks of the page's exercises
        lab_NN_*.py                    its labs (percent scripts, rendered as notebooks)
        <helper>.py                    modules the page, the exercises or the labs use
    src/tutorials/core/                code that two or more chapters use
    src/tutorials/_book/               the machinery that runs, checks and builds the book
    src/tutorials/gpu_evidence.py      the GPU capture tool
    tests/lecNN_slug/                  the chapter's tests, mirroring its package
        claims.py                      claims(ns, out, workdir) about what the page computed
        test_exercises.py              right and wrong answers for each self-check
        test_lab_NN_*.py               each lab, on the dry run its page executes
        test_<helper>.py               each helper module
    tests/core/, tests/_book/          the tests of the core and of the machinery

The dependency rules (``tests/test_layout.py`` checks them): a chapter package
imports only :mod:`tutorials.core` and itself; the core imports no chapter; nothing
imports a lab script.

Examples:
    >>> Chapter(3, "autograd").package
    'lec03_autograd'
    >>> Chapter(3, "autograd").page
    'docs/lectures/03-autograd.md'
    >>> chapter_of_page("docs/lectures/12-model-optimization.md").module
    'tutorials.lec12_model_optimization'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT", "PACKAGE", "Chapter", "chapters", "chapter_of_page", "labs", "lab_module", "module_named",
           "files_written"]

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "src" / "tutorials"
_PAGE = re.compile(r"^(\d\d)-([a-z0-9-]+)\.md$")


@dataclass(frozen=True)
class Chapter:
    """One chapter: its page, its package and its test folder, all named after the page.

    Attributes:
        number: the lecture number, 1 to 28.
        slug: the page's name after the number, e.g. ``"nn-module"``.
    """

    number: int
    slug: str

    @property
    def package(self) -> str:
        """The package's folder name, e.g. ``lec05_nn_module``."""
        return f"lec{self.number:02d}_{self.slug.replace('-', '_')}"

    @property
    def module(self) -> str:
        """The dotted name learners import from, e.g. ``tutorials.lec05_nn_module``."""
        return f"tutorials.{self.package}"

    @property
    def page(self) -> str:
        """The page, relative to the repository root."""
        return f"docs/lectures/{self.number:02d}-{self.slug}.md"

    @property
    def package_dir(self) -> Path:
        return PACKAGE / self.package

    @property
    def tests_dir(self) -> Path:
        return ROOT / "tests" / self.package

    @property
    def script(self) -> Path:
        """``chapter.py``: every section of it is shown (and so run) on the page."""
        return self.package_dir / "chapter.py"

    @property
    def claims(self) -> Path:
        """``tests/lecNN_slug/claims.py``, defining ``claims(ns, out, workdir)``."""
        return self.tests_dir / "claims.py"

    @property
    def workdir_name(self) -> str:
        """The folder the chapter writes into, and its figures' folder under ``docs/assets/figures``."""
        return f"lec{self.number:02d}"

    @property
    def labs(self) -> list[Path]:
        """The chapter's lab scripts, ``lab_NN_*.py``, by name."""
        return sorted(self.package_dir.glob(f"lab_{self.number:02d}_*.py"))


def chapters(root: Path = ROOT) -> list[Chapter]:
    """Every chapter whose page exists, by number."""
    found = []
    for page in sorted((root / "docs" / "lectures").glob("[0-9][0-9]-*.md")):
        m = _PAGE.match(page.name)
        if m:
            found.append(Chapter(int(m.group(1)), m.group(2)))
    return found


def chapter_of_page(page: str) -> Chapter | None:
    """The chapter of ``docs/lectures/NN-slug.md`` (``None`` for other pages)."""
    path = Path(page)
    m = _PAGE.match(path.name)
    if path.parent.as_posix().endswith("docs/lectures") and m:
        return Chapter(int(m.group(1)), m.group(2))
    return None


def labs(root: Path = ROOT) -> list[Path]:
    """Every lab script, in chapter order."""
    return [lab for chapter in chapters(root) for lab in chapter.labs]


def lab_module(path: Path) -> str:
    """The dotted module name of a lab script (``python -m`` runs it)."""
    return ".".join(path.resolve().relative_to(PACKAGE.parent).with_suffix("").parts)


def module_named(stem: str) -> str:
    """The dotted name of the one module of a chapter or the core called ``stem``.

    Raises:
        LookupError: no module, or more than one, has that name.
    """
    found = sorted(PACKAGE.glob(f"*/{stem}.py"))
    found = [p for p in found if not p.parent.name.startswith("_")]
    if len(found) != 1:
        raise LookupError(f"{stem}: {len(found)} modules of that name under {PACKAGE} ({found})")
    return lab_module(found[0])


def files_written(workdir: Path, pattern: str = "*") -> set[str]:
    """Files a page's run wrote under ``workdir`` (relative paths), for a chapter's claims.

    Left out: the runner's own files (``_page_*``) and the labs' ``--out-dir``
    folders (``lecNN/labs/``), whose files the labs' own tests check.
    """
    return {p.relative_to(workdir).as_posix() for p in workdir.rglob(pattern)
            if p.is_file() and not p.name.startswith("_page_")
            and not re.match(r"lec\d\d/labs/", p.relative_to(workdir).as_posix())}


def _tree() -> str:
    lines = []
    for chapter in chapters():
        files = sorted(p.name for p in chapter.package_dir.glob("*.py"))
        tests = sorted(p.name for p in chapter.tests_dir.glob("*.py")) if chapter.tests_dir.is_dir() else []
        lines.append(f"{chapter.page}\n  src/tutorials/{chapter.package}/: {', '.join(files)}\n"
                     f"  tests/{chapter.package}/: {', '.join(tests)}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(_tree())
