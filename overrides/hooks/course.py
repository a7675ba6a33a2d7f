"""MkDocs hooks of the course site.

* Lab scripts live in their chapter's package, ``src/tutorials/lecNN_slug/lab_NN_*.py``
  (they are part of the tested package); ``on_files`` adds them to the site as
  ``labs/lab_NN_*.py`` so mkdocs-jupyter renders them as pages, and
  ``on_page_context`` gives them a download button and edit links to their real path.
* When labs are executed (the publishing build), mkdocs-jupyter's cache is turned
  off: it is keyed on the notebook alone and would serve stale outputs after a
  change in the package code the lab imports.
* The navigation's Lectures, Labs and API reference sections list their files in
  order, so adding a chapter, a lab or a reference page needs no edit to mkdocs.yml.
* The home page's syllabus table is generated from ``tutorials._book.syllabus``.
* Each chapter ``lectures/NN-slug.md`` is also published as a Jupyter notebook,
  ``lectures/NN-slug.ipynb`` (``tutorials._book.notebook``: its prose as Markdown cells,
  its blocks as code cells), with a download button next to the page's title.
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

from tutorials._book import blocks, layout, measured, notebook, outputs, reference, stamps
from tutorials._book.syllabus import LECTURES

log = logging.getLogger("mkdocs.hooks.course")

ROOT = Path(__file__).resolve().parents[2]
LAB_LINKS = ROOT / "build" / "site-labs"
SYLLABUS_MARKER = "<!-- syllabus-table -->"
REFERENCE_MARKER = "<!-- reference-table -->"

_state: dict = {}


def _lab_scripts() -> list[Path]:
    return layout.labs(ROOT)  # in chapter order: lab_02_*, lab_03_*, ...


def _fill_nav(config) -> None:
    docs = Path(config.docs_dir)
    generated = {
        "Lectures": [f"lectures/{p.name}" for p in sorted((docs / "lectures").glob("[0-9][0-9]-*.md"))],
        "Labs": [f"labs/{p.name}" for p in _lab_scripts()],
        "API reference": reference.nav(_state["reference"]),
    }
    for item in config.nav or []:
        if isinstance(item, dict):
            for key, value in item.items():
                if key in generated and value == []:
                    item[key] = generated[key]


def on_config(config):
    _state["reference"] = reference.pages(ROOT)  # read again on each build of `mkdocs serve`
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
        # mkdocs-jupyter reads a notebook at src_dir/src_uri: the site's labs/ folder is a
        # folder of links to the scripts, which stay in their chapters' packages
        link = LAB_LINKS / "labs" / script.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(script)
        files.append(File(f"labs/{script.name}", str(LAB_LINKS), config.site_dir, config.use_directory_urls))
    ref_pages = _state["reference"]
    for page in ref_pages:
        if files.get_file_from_path(page.uri) is not None:
            raise PluginError(f"docs/{page.uri} is generated from {page.source.relative_to(ROOT)}: "
                              "delete the hand-written file")
        files.append(File.generated(config, page.uri, content=reference.markdown(page, ref_pages)))
    _state["notebooks"] = {}  # chapter page's src_uri -> its notebook's uri
    _state["expanded"] = {}  # chapter page's path -> its expansion, reused by on_page_markdown
    for chapter in sorted((Path(config.docs_dir) / "lectures").glob("[0-9][0-9]-*.md")):
        src_uri, uri = f"lectures/{chapter.name}", f"lectures/{chapter.stem}.ipynb"
        try:
            expanded = blocks.expand_page(chapter, ROOT, _state["preprocessor"])
            nb = notebook.chapter_notebook(expanded, blocks.page_blocks(expanded), site_url=config.site_url,
                                           use_directory_urls=config.use_directory_urls,
                                           docs_dir=Path(config.docs_dir), page_uri=src_uri)
        except (blocks.PageError, ValueError) as err:
            raise PluginError(str(err)) from err
        files.append(File.generated(config, uri, content=notebook.notebook_json(nb)))
        _state["notebooks"][src_uri] = uri
        _state["expanded"][chapter.resolve()] = expanded
    return files


def _syllabus_table(docs_dir: Path) -> str:
    rows = ["| # | Lecture | Part | Topics |", "|---|---|---|---|"]
    for lec in LECTURES:
        found = sorted((docs_dir / "lectures").glob(f"{lec.number:02d}-*.md"))
        title = f"[{lec.title}](lectures/{found[0].name})" if found else lec.title
        rows.append(f"| {lec.number} | {title} | {lec.part} | {lec.topics} |")
    return "\n".join(rows)


def _reference_table() -> str:
    """One row per generated reference page: the module it documents and its docstring's summary."""
    rows = ["| module | what it holds |", "|---|---|"]
    for page in _state["reference"]:
        link = page.uri.removeprefix("reference/")
        rows.append(f"| [`{page.module}`]({link}) | {reference.summary(page.source)} |")
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
        markdown = markdown.replace(REFERENCE_MARKER, _reference_table())
    if not page.file.src_uri.endswith(".md") or page.file.abs_src_path is None:
        return markdown
    try:
        markdown = measured.render(markdown, Path(config.docs_dir), page.file.src_uri)
    except measured.MeasuredError as err:
        raise PluginError(str(err)) from err
    rec_key = Path(page.file.abs_src_path).resolve().relative_to(ROOT).as_posix()
    try:
        current = (_state.get("expanded", {}).pop(Path(page.file.abs_src_path).resolve(), None)
                   or blocks.expand_page(Path(page.file.abs_src_path), ROOT, _state["preprocessor"]))
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
    generated = {p.uri: p for p in _state.get("reference", [])}
    if page.file.src_uri in generated and config.repo_url and config.edit_uri:
        rel = generated[page.file.src_uri].source.relative_to(ROOT).as_posix()
        page.edit_url = urljoin(config.repo_url.rstrip("/") + "/", f"{config.edit_uri}../{rel}")
    if page.file.src_uri in _state.get("notebooks", {}):
        context["notebook_download"] = _state["notebooks"][page.file.src_uri]  # site-relative: `| url`
    src = page.file.abs_src_path
    if src and Path(src).resolve() in {p.resolve() for p in _lab_scripts()}:
        context["lab_download"] = os.path.basename(src)  # copied next to the page
        if config.repo_url and config.edit_uri:
            # edit_uri points into docs/; the lab's real file is under src/
            rel = Path(src).resolve().relative_to(ROOT).as_posix()
            page.edit_url = urljoin(config.repo_url.rstrip("/") + "/", f"{config.edit_uri}../{rel}")
    return context
