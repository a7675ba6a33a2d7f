"""The course's layout and its dependency rules (``tutorials._book.layout`` describes the tree).

Dependency rules, read from every module of ``src/tutorials/`` with :mod:`ast`
(``import``, ``from ... import`` including relative imports, and
``importlib.import_module("literal")``):

* a chapter package (``tutorials.lecNN_slug``) imports of ``tutorials`` only
  ``tutorials.core`` and itself: not another chapter, not ``tutorials._book``, not
  ``tutorials.gpu_evidence``;
* ``tutorials.core`` imports of ``tutorials`` only itself: no chapter, no ``_book``;
* no module imports a lab script (a module whose last name starts with ``lab_``): a lab
  is run, and what a page or another module needs from it belongs in a helper module.

The machinery (``tutorials._book``, ``tutorials.gpu_evidence``) may import chapters and
the core. Each failure names the file, the line and the import.

Layout: every chapter has its package files and its test folder's files; no stray module
at the package root; every core module says which lecture introduces it, and is used by
two chapters or more (code one chapter uses belongs in that chapter).
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from tutorials._book import layout

SRC = layout.PACKAGE.parent
_CHAPTER_PACKAGE = re.compile(r"^lec(\d\d)_[a-z0-9_]+$")
_ROOT_MODULES = {"__init__.py", "gpu_evidence.py"}


# --------------------------------------------------------------------------- the import checker


@dataclass(frozen=True)
class Import:
    """One name a module imports, resolved to an absolute dotted name."""

    file: Path
    line: int
    target: str  # e.g. "tutorials.core.runtime.pick_device" or "tutorials.lec12_x.lab_12_y"
    text: str  # the statement as written, for the message

    def where(self, src: Path) -> str:
        return f"{self.file.relative_to(src.parent).as_posix()}:{self.line}: {self.text}"


def module_name(path: Path, src: Path) -> str:
    """``src/tutorials/lec03_autograd/chapter.py`` -> ``tutorials.lec03_autograd.chapter``."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str | None, level: int, importer: str, is_package: bool) -> str | None:
    """The absolute name of ``from <.. level><module> import ...`` written in ``importer``."""
    if level == 0:
        return module
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    if level - 1 > len(package) - 1:
        return None  # beyond the top-level package; Python refuses it too
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _import_module_literal(node: ast.Call) -> tuple[str, str | None] | None:
    """``importlib.import_module("x", package="y")`` (or a bare ``import_module``): ("x", "y")."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name != "import_module" or not node.args:
        return None
    first = node.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    package = None
    for kw in node.keywords:
        if kw.arg == "package" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            package = kw.value.value
    if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
        package = node.args[1].value
    return first.value, package


def imports_of(path: Path, src: Path) -> list[Import]:
    """Every name ``path`` imports, absolute, with its line and the statement's text."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    importer = module_name(path, src)
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def text_of(node: ast.AST) -> str:
        segment = ast.get_source_segment(source, node) or ""
        return " ".join(segment.split())

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(path, node.lineno, alias.name, text_of(node)))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module, node.level, importer, is_package)
            if base is None:
                continue
            # `from pkg import name` imports pkg, and pkg.name (a submodule or an attribute of pkg).
            found.append(Import(path, node.lineno, base, text_of(node)))
            for alias in node.names:
                if alias.name != "*":
                    found.append(Import(path, node.lineno, f"{base}.{alias.name}", text_of(node)))
        elif isinstance(node, ast.Call):
            literal = _import_module_literal(node)
            if literal is None:
                continue
            name, package = literal
            if name.startswith("."):
                level = len(name) - len(name.lstrip("."))
                if package is None:
                    continue
                target = _resolve(name[level:] or None, level, package, is_package=True)
            else:
                target = name
            if target:
                found.append(Import(path, node.lineno, target, text_of(node)))
    return found


def _top(name: str) -> str | None:
    """The part of ``tutorials`` a dotted name belongs to: 'core', 'lec03_autograd', '_book', ... or ''."""
    parts = name.split(".")
    if parts[0] != "tutorials":
        return None
    return parts[1] if len(parts) > 1 else ""


def _modules(src: Path) -> dict[str, Path]:
    return {module_name(p, src): p for p in sorted((src / "tutorials").rglob("*.py"))}


def _is_lab(name: str, modules: dict[str, Path]) -> str | None:
    """The lab module ``name`` is, or lies inside, if any (only modules that exist as files count)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in modules and parts[i - 1].startswith("lab_"):
            return prefix
    return None


def dependency_violations(src: Path) -> list[str]:
    """Every import under ``src/tutorials`` that breaks a dependency rule, one message each."""
    modules = _modules(src)
    problems: list[str] = []
    for importer, path in modules.items():
        own = _top(importer)
        seen: set[tuple[int, str]] = set()
        for imp in imports_of(path, src):
            part = _top(imp.target)
            message = None
            lab = _is_lab(imp.target, modules)
            if lab and lab != importer:
                message = f"imports the lab script {lab} (move what it needs into a helper module)"
            elif part is not None and own and _CHAPTER_PACKAGE.match(own) and part not in ("core", own):
                what = f"tutorials.{part}" if part else "tutorials"
                message = (f"chapter tutorials.{own} imports {what} "
                           "(a chapter imports only tutorials.core and itself)")
            elif part is not None and own == "core" and part != "core":
                what = f"tutorials.{part}" if part else "tutorials"
                message = f"tutorials.core imports {what} (the core imports no chapter and no machinery)"
            if message and (imp.line, message) not in seen:
                seen.add((imp.line, message))
                problems.append(f"{imp.where(src)}\n    {message}")
    return problems


def core_users(src: Path) -> dict[str, set[int]]:
    """For each core module (``tutorials.core.x``), the numbers of the chapters that import it."""
    modules = _modules(src)
    users: dict[str, set[int]] = {
        name: set() for name in modules if name.startswith("tutorials.core.")
    }
    for importer, path in modules.items():
        m = _CHAPTER_PACKAGE.match(_top(importer) or "")
        if not m:
            continue
        for imp in imports_of(path, src):
            for core in users:
                if imp.target == core or imp.target.startswith(core + "."):
                    users[core].add(int(m.group(1)))
    return users


# --------------------------------------------------------------------------- the rules, on the course


def assert_dependency_rules(src: Path) -> None:
    problems = dependency_violations(src)
    if problems:
        pytest.fail("imports that break the dependency rules (see tests/test_layout.py):\n"
                    + "\n".join(problems), pytrace=False)


def test_dependency_rules():
    assert_dependency_rules(SRC)


_INTRODUCED = re.compile(r"Introduced in Lecture (\d+)(?:; also used by Lectures? ([\d, ]+))?")


def core_problems(src: Path) -> list[str]:
    """Core modules whose docstring misnames their lecture, or that fewer than two chapters import."""
    problems = []
    modules = _modules(src)
    for name, chapters in sorted(core_users(src).items()):
        path = modules[name]
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        where = path.relative_to(src.parent).as_posix()
        if len(chapters) < 2:
            users = ", ".join(f"Lecture {n}" for n in sorted(chapters)) or "no chapter"
            problems.append(f"{where}: only {users} imports it; it belongs in that chapter's package")
        if not chapters:
            continue
        first, *rest = sorted(chapters)
        m = _INTRODUCED.search(doc)
        if not m or int(m.group(1)) != first:
            problems.append(f"{where}: the docstring must say 'Introduced in Lecture {first}' "
                            f"(chapters importing it: {sorted(chapters)})")
        elif m.group(2) is not None:
            said = sorted(int(n) for n in re.findall(r"\d+", m.group(2)))
            if said != rest:
                problems.append(f"{where}: the docstring says 'also used by Lectures {m.group(2).strip()}', "
                                f"the chapters importing it are {sorted(chapters)}")
    return problems


def test_core_modules_say_where_they_are_introduced_and_serve_two_chapters():
    problems = core_problems(SRC)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_each_chapter_has_its_files():
    chapters = layout.chapters()
    assert chapters, "no chapter found under docs/lectures/"
    missing = []
    for chapter in chapters:
        pkg = chapter.package_dir
        rel = pkg.relative_to(layout.ROOT).as_posix()
        init = pkg / "__init__.py"
        if not init.is_file():
            missing.append(f"{rel}/__init__.py")
        elif not ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))):
            missing.append(f"{rel}/__init__.py: a docstring (what the chapter teaches)")
        for name in ("chapter.py", "exercises.py"):
            if not (pkg / name).is_file():
                missing.append(f"{rel}/{name}")
        tests = chapter.tests_dir.relative_to(layout.ROOT).as_posix()
        wanted = ["claims.py", "test_exercises.py"]
        for module in sorted(pkg.glob("*.py")) if pkg.is_dir() else []:
            if module.name not in ("__init__.py", "chapter.py", "exercises.py"):
                wanted.append(f"test_{module.name}")  # each lab and each helper module
        missing += [f"{tests}/{name}" for name in wanted if not (chapter.tests_dir / name).is_file()]
    if missing:
        pytest.fail("missing files of the chapters' layout:\n" + "\n".join(missing), pytrace=False)


def test_no_module_at_the_package_root_but_the_machinery():
    stray = sorted(p.name for p in layout.PACKAGE.glob("*.py") if p.name not in _ROOT_MODULES)
    assert not stray, (f"modules at src/tutorials/ root: {stray}; a chapter's code goes in its package "
                       "(src/tutorials/lecNN_slug/), shared code in src/tutorials/core/")


def test_every_chapter_package_has_a_page():
    packages = {c.package for c in layout.chapters()}
    orphans = sorted(p.name for p in layout.PACKAGE.iterdir()
                     if p.is_dir() and _CHAPTER_PACKAGE.match(p.name) and p.name not in packages)
    assert not orphans, f"chapter packages without a page docs/lectures/NN-slug.md: {orphans}"


# --------------------------------------------------------------------------- the checker, on a made-up tree


def _write(root: Path, files: dict[str, str]) -> Path:
    src = root / "src"
    for rel, text in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return src


_GOOD_TREE = {
    "tutorials/__init__.py": "",
    "tutorials/core/__init__.py": "",
    "tutorials/core/runtime.py": "import torch\n",
    "tutorials/core/cli.py": "from .runtime import x\nfrom tutorials.core import runtime\n",
    "tutorials/lec01_a/__init__.py": '"""A."""\n',
    "tutorials/lec01_a/chapter.py": "from tutorials.core.runtime import x\nfrom .helper import y\n",
    "tutorials/lec01_a/helper.py": "from . import exercises\nimport tutorials.lec01_a.exercises\n",
    "tutorials/lec01_a/exercises.py": "import importlib\nimportlib.import_module('tutorials.core.cli')\n",
    "tutorials/lec01_a/lab_01_run.py": "from tutorials.lec01_a.helper import y\nfrom ..core import cli\n",
    "tutorials/lec02_b/__init__.py": "",
    "tutorials/lec02_b/chapter.py": "from tutorials.core import runtime\n",
    "tutorials/_book/__init__.py": "",
    "tutorials/_book/runner.py": "from tutorials.lec01_a import chapter\nfrom tutorials.core import cli\n",
    "tutorials/gpu_evidence.py": "from tutorials.lec02_b.chapter import z\n",
}


@pytest.mark.parametrize(
    "rel, text, expected",
    [
        # a chapter importing another chapter, absolute and relative
        ("tutorials/lec02_b/helper.py", "from tutorials.lec01_a.helper import y\n",
         "src/tutorials/lec02_b/helper.py:1: from tutorials.lec01_a.helper import y\n"
         "    chapter tutorials.lec02_b imports tutorials.lec01_a"),
        ("tutorials/lec02_b/helper.py", "import os\n\nfrom ..lec01_a import helper\n",
         "src/tutorials/lec02_b/helper.py:3: from ..lec01_a import helper\n"
         "    chapter tutorials.lec02_b imports tutorials.lec01_a"),
        # a chapter importing the machinery, or the root package
        ("tutorials/lec02_b/helper.py", "from tutorials._book import runner\n",
         "src/tutorials/lec02_b/helper.py:1: from tutorials._book import runner\n"
         "    chapter tutorials.lec02_b imports tutorials._book"),
        ("tutorials/lec02_b/helper.py", "import tutorials.gpu_evidence\n",
         "src/tutorials/lec02_b/helper.py:1: import tutorials.gpu_evidence\n"
         "    chapter tutorials.lec02_b imports tutorials.gpu_evidence"),
        ("tutorials/lec02_b/helper.py",
         "import importlib\nm = importlib.import_module('tutorials.lec01_a')\n",
         "src/tutorials/lec02_b/helper.py:2: importlib.import_module('tutorials.lec01_a')\n"
         "    chapter tutorials.lec02_b imports tutorials.lec01_a"),
        # the core importing a chapter, or the machinery
        ("tutorials/core/bad.py", "from tutorials.lec01_a.helper import y\n",
         "src/tutorials/core/bad.py:1: from tutorials.lec01_a.helper import y\n"
         "    tutorials.core imports tutorials.lec01_a"),
        ("tutorials/core/bad.py", "def f():\n    from .._book import runner\n",
         "src/tutorials/core/bad.py:2: from .._book import runner\n"
         "    tutorials.core imports tutorials._book"),
        # a lab script imported: by its own chapter, by a module of the package, by the machinery
        ("tutorials/lec01_a/helper.py", "from .lab_01_run import main\n",
         "src/tutorials/lec01_a/helper.py:1: from .lab_01_run import main\n"
         "    imports the lab script tutorials.lec01_a.lab_01_run"),
        ("tutorials/lec01_a/helper.py", "from tutorials.lec01_a import lab_01_run as lab\n",
         "src/tutorials/lec01_a/helper.py:1: from tutorials.lec01_a import lab_01_run as lab\n"
         "    imports the lab script tutorials.lec01_a.lab_01_run"),
        ("tutorials/_book/runner.py", "from importlib import import_module\n"
         "lab = import_module('.lab_01_run', package='tutorials.lec01_a')\n",
         "src/tutorials/_book/runner.py:2: import_module('.lab_01_run', package='tutorials.lec01_a')\n"
         "    imports the lab script tutorials.lec01_a.lab_01_run"),
    ],
)
def test_the_checker_names_each_bad_import(tmp_path, rel, text, expected):
    assert dependency_violations(_write(tmp_path, _GOOD_TREE)) == []
    src = _write(tmp_path, {rel: text})
    problems = dependency_violations(src)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems[0]
    with pytest.raises(pytest.fail.Exception, match=re.escape(expected.splitlines()[0])):
        assert_dependency_rules(src)


def test_the_checker_counts_the_chapters_using_each_core_module(tmp_path):
    src = _write(tmp_path, _GOOD_TREE)
    assert core_users(src) == {"tutorials.core.runtime": {1, 2}, "tutorials.core.cli": {1}}
    assert core_problems(src) == [
        "src/tutorials/core/cli.py: only Lecture 1 imports it; it belongs in that chapter's package",
        "src/tutorials/core/cli.py: the docstring must say 'Introduced in Lecture 1' "
        "(chapters importing it: [1])",
        "src/tutorials/core/runtime.py: the docstring must say 'Introduced in Lecture 1' "
        "(chapters importing it: [1, 2])",
    ]
    _write(tmp_path, {
        "tutorials/core/runtime.py": '"""Runtime.\n\nIntroduced in Lecture 1; also used by Lecture 3.\n"""\n',
        "tutorials/core/cli.py": '"""CLI.\n\nIntroduced in Lecture 1.\n"""\n',
    })
    assert core_problems(src) == [
        "src/tutorials/core/cli.py: only Lecture 1 imports it; it belongs in that chapter's package",
        "src/tutorials/core/runtime.py: the docstring says 'also used by Lectures 3', "
        "the chapters importing it are [1, 2]",
    ]
