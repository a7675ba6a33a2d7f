"""MkDocs hooks of the course site.

* Lab scripts live in ``src/tutorials/labs/`` (they are part of the tested package);
  ``on_files`` adds them to the site so mkdocs-jupyter renders them as pages, and
  ``on_page_context`` gives them a download button and edit links to their real path.
* When labs are executed (the publishing build), mkdocs-jupyter's cache is turned
  off: it is keyed on the notebook alone and would serve stale outputs after a
  change in the package code the lab imports.
* The navigation's Lectures, Labs and API reference sections list their files in
  order, so adding a chapter, a lab or a reference page needs no edit to mkdocs.yml.
* The home page's syllabus table is generated from ``tutorials.syllabus``.
* Each page that the last test run executed gets its "verified" stamp.
* Measured results committed as JSON are rendered into pages by their markers
  (``tutorials._book.measured``).
* A recorded output (``recorded-output`` marker) is labelled with the machine,
  torch version and date that produced it; an output checked to a declared
  tolerance says so (``tutorials._book.outputs``).
* A fence that renders as Python but would not be executed by the tests
  (``~~~python``, ``python3``, ``pycon``) fails the build, naming page and line.

Nothing here imports test tooling: the ``docs`` extra alone builds and serves the site.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from urllib.parse import urljoin

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

from tutorials._book import blocks, measured, outputs, stamps
from tutorials.syllabus import LECTURES

log = logging.getLogger("mkdocs.hooks.course")

ROOT = Path(__file__).resolve().parents[2]
LABS_DIR = ROOT / "src" / "tutorials"
SYLLABUS_MARKER = "<!-- syllabus-table -->"
REFERENCE_MARKER = "<!-- reference-table -->"

_state: dict = {}


def _lab_scripts() -> list[Path]:
    return sorted((LABS_DIR / "labs").glob("lab_*.py"), key=_lab_order)


def _lab_order(path: Path) -> tuple:
    # lab_2_1_3_x sorts numerically by its number parts; named labs (lab_tensor_gpu) after
    parts = path.stem.split("_")[1:]
    numbers = [int(p) for p in parts if p.isdigit()]
    return (0 if numbers else 1, numbers, path.stem)


def _fill_nav(config) -> None:
    docs = Path(config.docs_dir)
    generated = {
        "Lectures": [f"lectures/{p.name}" for p in sorted((docs / "lectures").glob("[0-9][0-9]-*.md"))],
        "Labs": [f"labs/{p.name}" for p in _lab_scripts()],
        "API reference": ["reference/index.md"] + [
            f"reference/{p.name}" for p in sorted((docs / "reference").glob("*.md")) if p.name != "index.md"
        ],
    }
    for item in config.nav or []:
        if isinstance(item, dict):
            for key, value in item.items():
                if key in generated and value == []:
                    item[key] = generated[key]


def on_config(config):
    _fill_nav(config)
    jupyter = config.plugins.get("mkdocs-jupyter")
    if jupyter is None:
        raise PluginError("mkdocs-jupyter must be enabled: it renders the labs")
    if jupyter.config["allow_errors"]:
        raise PluginError("mkdocs-jupyter allow_errors must be false: a failing lab must fail the build")
    if jupyter.config["execute"]:
        jupyter.config["cache"] = False
        log.info("executing labs; mkdocs-jupyter cache disabled so outputs are never stale")
    _state["preprocessor"] = blocks.snippet_preprocessor(config.mdx_configs["pymdownx.snippets"])
    _state["record"] = stamps.read_record(stamps.record_path(ROOT))
    return config


@event_priority(100)  # before mkdocs-jupyter wraps the files it renders
def on_files(files, config):
    for script in _lab_scripts():
        rel = script.relative_to(LABS_DIR).as_posix()  # labs/lab_x.py
        files.append(File(rel, str(LABS_DIR), config.site_dir, config.use_directory_urls))
    return files


def _syllabus_table(docs_dir: Path) -> str:
    rows = ["| # | Lecture | Part | Topics |", "|---|---|---|---|"]
    for lec in LECTURES:
        found = sorted((docs_dir / "lectures").glob(f"{lec.number:02d}-*.md"))
        title = f"[{lec.title}](lectures/{found[0].name})" if found else lec.title
        rows.append(f"| {lec.number} | {title} | {lec.part} | {lec.topics} |")
    return "\n".join(rows)


def _reference_table(docs_dir: Path) -> str:
    """One row per reference page: the module it documents and its docstring's summary."""
    import ast

    rows = ["| module | what it holds |", "|---|---|"]
    for page in sorted((docs_dir / "reference").glob("*.md")):
        m = re.search(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"), re.M)
        if page.name == "index.md" or not m:
            continue
        # read the docstring without importing the module (importing torch costs seconds)
        source = ROOT / "src" / Path(*m.group(1).split(".")).with_suffix(".py")
        doc = (ast.get_docstring(ast.parse(source.read_text(encoding="utf-8"))) or "").splitlines()
        rows.append(f"| [`{m.group(1)}`]({page.name}) | {doc[0] if doc else ''} |")
    return "\n".join(rows)


_OUTPUT_MARKER = re.compile(
    r"^(?P<indent>[ \t]*)<!--[-\s]*pytest-codeblocks:(?P<kind>expected-output|recorded-output)"
    r"(?P<options>[^>]*?)[-\s]*-->[ \t]*$", re.M)


def _label_outputs(markdown: str, where: str) -> str:
    """Put a visible note above recorded outputs and outputs checked to a declared tolerance."""

    def note(match: re.Match) -> str:
        indent, kind = match.group("indent"), match.group("kind")
        opts = outputs.parse_marker_options(match.group("options"), where)
        if kind == "recorded-output":
            missing = {"machine", "torch", "date"} - set(opts)
            if missing:
                raise PluginError(f"{where}: {match.group(0).strip()} lacks {sorted(missing)}; "
                                  "run python -m tutorials._book.update_outputs on the page")
            text = (f"Recorded output · {opts['machine']} · torch {opts['torch']} · {opts['date']}. "
                    "Timings and search results differ from machine to machine; the tests check what "
                    "they must show, not these digits.")
        elif "abs" in opts or "rel" in opts:
            spec = outputs.OutputSpec(abs_tol=float(opts.get("abs", 0)), rel_tol=float(opts.get("rel", 0)))
            text = (f"Numbers checked to {spec.declared_tolerance}: the last digits may differ on "
                    "your machine.")
        else:
            return match.group(0)
        return f'{indent}<small class="course-output-note">{text}</small>\n\n{match.group(0)}'

    return _OUTPUT_MARKER.sub(note, markdown)


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == "index.md" and SYLLABUS_MARKER in markdown:
        markdown = markdown.replace(SYLLABUS_MARKER, _syllabus_table(Path(config.docs_dir)))
    if page.file.src_uri == "reference/index.md" and REFERENCE_MARKER in markdown:
        markdown = markdown.replace(REFERENCE_MARKER, _reference_table(Path(config.docs_dir)))
    if not page.file.src_uri.endswith(".md") or page.file.abs_src_path is None:
        return markdown
    try:
        markdown = measured.render(markdown, Path(config.docs_dir), page.file.src_uri)
    except measured.MeasuredError as err:
        raise PluginError(str(err)) from err
    rec_key = Path(page.file.abs_src_path).resolve().relative_to(ROOT).as_posix()
    try:
        current = blocks.expand_page(Path(page.file.abs_src_path), ROOT, _state["preprocessor"])
        blocks.page_blocks(current)  # refuses fences that render as Python but would not run
        markdown = _label_outputs(markdown, rec_key)
    except (blocks.PageError, ValueError) as err:
        raise PluginError(str(err)) from err
    record = _state["record"].get(rec_key)
    if record is None:
        return markdown
    if current.fingerprint != record.fingerprint:
        return markdown  # edited since the tests ran: no stamp until they run again
    kind = "ok" if record.passed == record.executed else "failed"
    stamp = f'<span class="course-stamp course-stamp--{kind}">{record.stamp()}</span>\n\n'
    lines = markdown.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("# "):
            lines.insert(i + 1, "\n" + stamp)
            return "\n".join(lines)
    return stamp + markdown


def on_page_context(context, page, config, nav):
    src = page.file.abs_src_path
    if src and os.path.dirname(src) == str(LABS_DIR / "labs") and src.endswith(".py"):
        context["lab_download"] = os.path.basename(src)  # copied next to the page
        if config.repo_url and config.edit_uri:
            # edit_uri points into docs/; the lab's real file is under src/
            rel = Path(src).relative_to(ROOT).as_posix()
            page.edit_url = urljoin(config.repo_url.rstrip("/") + "/", f"{config.edit_uri}../{rel}")
    return context
