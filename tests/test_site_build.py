"""`mkdocs build --strict` as the docs extra alone runs it (offline, no test tooling), and the result."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import docs_support
from tutorials._book import stamps
from tutorials._book.syllabus import LECTURES

ROOT = docs_support.ROOT


# The build runs as a reader's `mkdocs build --strict` after `pip install ".[docs]"`:
# in a new interpreter where the test tooling cannot be imported (the docs extra does
# not install it) and where only loopback connections are allowed (offline).
DOCS_ONLY_BUILD = r"""
import importlib.abc, socket, sys
TEST_ONLY = {"pytest", "_pytest", "pytest_codeblocks", "pytest_socket", "xdist", "selenium",
             "check_jsonschema", "ax", "tensorboard"}

class NotInDocsExtra(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in TEST_ONLY:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the docs extra)", name=name)
        return None

sys.meta_path.insert(0, NotInDocsExtra())
_connect = socket.socket.connect
def connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(address, tuple) and host not in ("127.0.0.1", "localhost", "::1"):
        raise OSError(f"the site build tried to reach {address!r}: it must work offline")
    return _connect(self, address)
socket.socket.connect = connect
from mkdocs.__main__ import cli
cli(["build", "--strict", "--site-dir", sys.argv[1]], standalone_mode=True)
"""


def build_docs_only(site_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` in a new interpreter that has only what the docs extra installs."""
    return subprocess.run([sys.executable, "-c", DOCS_ONLY_BUILD, str(site_dir)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built strictly, docs extra only, with a verified record made for this build only."""
    tmp = tmp_path_factory.mktemp("site")
    record = tmp / "verified.json"
    lecture = "docs/lectures/03-autograd.md"
    expanded, _ = docs_support.pages()[lecture]
    common = dict(skip_reasons=[], torch="2.14.1", device="CPU", date="2026-01-02")
    stamps.write_record(record, {
        lecture: stamps.PageRecord(executed=5, passed=5, skipped=0,
                                   fingerprint=expanded.fingerprint, **common),
        "docs/getting-started.md": stamps.PageRecord(executed=3, passed=3, skipped=0,
                                                     fingerprint="stale", **common),
    })
    env = {k: v for k, v in os.environ.items() if k != "COURSE_EXECUTE_LABS"}
    env[stamps.RECORD_ENV] = str(record)
    proc = build_docs_only(tmp / "site", env)
    assert proc.returncode == 0, f"mkdocs build --strict failed (docs extra only):\n{proc.stderr[-4000:]}"
    return tmp / "site"


def test_build_refuses_python_that_would_not_run():
    """The site's hook fails the build on a fence it renders as Python that the tests would not run."""
    import importlib.util
    from types import SimpleNamespace

    from mkdocs.exceptions import PluginError

    spec = importlib.util.spec_from_file_location("course_hook", ROOT / "overrides" / "hooks" / "course.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    hook._state.update(preprocessor=docs_support.snippet_preprocessor(), record={})
    page_path = ROOT / "build" / "hook-test" / "page.md"
    page_path.parent.mkdir(parents=True, exist_ok=True)
    for fence in ("~~~python", "```python3", "```pycon", "```ipython"):
        text = f"# T\n\n{fence}\nraise SystemExit(1)\n{fence[:3]}\n"
        page_path.write_text(text, encoding="utf-8")
        page = SimpleNamespace(file=SimpleNamespace(src_uri="page.md", abs_src_path=str(page_path)))
        config = SimpleNamespace(docs_dir=str(ROOT / "docs"))
        with pytest.raises(PluginError, match=r"build/hook-test/page.md:3: this fence renders as Python"):
            hook.on_page_markdown(text, page, config, None)


def read(site: Path, rel: str) -> str:
    return (site / rel).read_text(encoding="utf-8")


def test_home_lists_the_whole_syllabus(site):
    html = read(site, "index.html")
    for lec in LECTURES:
        assert lec.title.replace("&", "&amp;") in html, f"lecture {lec.number} missing from home"
    written = {int(p.name[:2]): p.stem for p in (ROOT / "docs" / "lectures").glob("[0-9][0-9]-*.md")}
    assert 3 in written
    for lec in LECTURES:
        title = re.escape(lec.title.replace("&", "&amp;"))
        linked = re.search(rf'<a href="lectures/([^"/]+)/">{title}</a>', html)
        if lec.number in written:
            assert linked and linked.group(1) == written[lec.number], f"lecture {lec.number} not linked"
        else:
            assert not linked, f"lecture {lec.number} has no chapter: plain text, not a link"


def test_lecture_page_code_is_highlighted_and_stamped(site):
    html = read(site, "lectures/03-autograd/index.html")
    assert "language-python" in html, "pygments_lang_class must mark each block's language"
    assert "8&lt;" not in html and "--8<--" not in html, "a snippet include was not expanded"
    assert "5 blocks verified · torch 2.14.1 · CPU · 2026-01-02" in html
    assert "assets/figures/lec03/backward-graph.png" in html
    assert "blocks verified" not in read(site, "getting-started/index.html"), (
        "a page edited since its record (fingerprint mismatch) must not be stamped"
    )


def test_recorded_outputs_are_labelled_with_their_machine(site):
    html = read(site, "lectures/12-model-optimization/index.html")
    notes = re.findall(r'<small class="course-output-note">Recorded output · ([^<]+)</small>', html)
    assert len(notes) == 3, notes
    assert all("torch 2." in n and "cores" in n for n in notes), notes


def test_lab_page_has_a_download_button_for_its_script(site):
    page = site / "labs" / "lab_03_custom_autograd"
    html = (page / "index.html").read_text(encoding="utf-8")
    assert 'href="lab_03_custom_autograd.py" download' in html
    script = ROOT / "src" / "tutorials" / "lec03_autograd" / "lab_03_custom_autograd.py"
    assert (page / "lab_03_custom_autograd.py").read_bytes() == script.read_bytes()
    assert "src/tutorials/lec03_autograd/lab_03_custom_autograd.py" in html, "edit link to the real file"
    assert "gradgradcheck" in html


def test_chapter_page_offers_its_notebook(site):
    """Each chapter is published as a notebook, linked from a download button next to its title."""
    html = read(site, "lectures/03-autograd/index.html")
    assert 'href="../03-autograd.ipynb" download' in html
    assert "Download this chapter as a notebook (.ipynb)" in html
    nb = json.loads(read(site, "lectures/03-autograd.ipynb"))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    _, page_blocks = docs_support.pages()["docs/lectures/03-autograd.md"]
    code = ["".join(c["source"]).removeprefix("%%bash\n") for c in nb["cells"] if c["cell_type"] == "code"]
    assert code == [b.code for b in page_blocks]
    for page in (ROOT / "docs" / "lectures").glob("[0-9][0-9]-*.md"):
        assert (site / "lectures" / f"{page.stem}.ipynb").is_file(), f"no notebook for {page.name}"
    assert ".ipynb" not in read(site, "getting-started/index.html"), "only chapters have a notebook"


def test_no_external_assets(site):
    """Pages load nothing from other hosts: no web fonts, scripts or stylesheets."""
    offenders = []
    for f in site.rglob("*.html"):
        html = f.read_text(encoding="utf-8")
        for m in re.finditer(r'<(?:link|script|img|iframe)\b[^>]*\b(?:href|src)="(https?:)?//', html):
            tag = html[m.start(): html.find(">", m.start()) + 1]
            if 'rel="canonical"' in tag or 'rel="alternate"' in tag:
                continue  # metadata naming the published URL, not loaded
            offenders.append(f"{f.relative_to(site)}: {tag[:120]}")
        if "fonts.googleapis" in html or "fonts.gstatic" in html:
            offenders.append(f"{f.relative_to(site)}: Google Fonts")
    assert not offenders, "\n".join(offenders[:10])


def test_search_index_has_the_chapter(site):
    index = json.loads(read(site, "search/search_index.json"))
    texts = [d["text"] for d in index["docs"] if d["location"].startswith("lectures/03-autograd/")]
    assert any("gradcheck" in t for t in texts)


def test_api_reference_is_rendered(site):
    html = read(site, "reference/lec03_autograd/activations/index.html")
    assert "SwishFunction" in html and "saves x and sigmoid(x) for a cheap backward" in html  # its docstring
    assert "Source code in" not in html  # no highlighted source per function (mkdocs.yml: show_source)
    assert "src/tutorials/lec03_autograd/activations.py" in html, "edit link to the module's file"


def test_api_reference_is_generated_one_page_per_public_module(site):
    """No page under docs/reference/ but its landing page: the hook generates one per module."""
    from tutorials._book import reference

    assert [p.name for p in (ROOT / "docs" / "reference").iterdir()] == ["index.md"]
    pages = reference.pages()
    modules = {p.module for p in pages}
    assert {"tutorials.core", "tutorials.core.hooks", "tutorials.lec03_autograd",
            "tutorials.lec03_autograd.exercises", "tutorials.gpu_evidence"} <= modules
    assert not any(m.rsplit(".", 1)[-1].startswith(("lab_", "_")) or m.endswith(".chapter") for m in modules)
    for page in pages:
        html = site / page.uri.removesuffix(".md").removesuffix("/index") / "index.html"
        assert html.is_file(), f"{page.module}: no page at {html.relative_to(site)}"
    package = read(site, "reference/lec03_autograd/index.html")
    assert 'href="activations/"' in package and "lab_03_custom_autograd" in package
    landing = read(site, "reference/index.html")
    assert all(f"<code>{m}</code>" in landing for m in modules)
