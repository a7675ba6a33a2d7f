"""`mkdocs build --strict` in-process (so the no-network rule covers it), and the result."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from mkdocs.commands.build import build
from mkdocs.config import load_config

import docs_support
from tutorials._book import stamps
from tutorials.syllabus import LECTURES

ROOT = docs_support.ROOT


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built strictly, with a verified record made for this build only."""
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
    mp = pytest.MonkeyPatch()
    mp.setenv(stamps.RECORD_ENV, str(record))
    mp.delenv("COURSE_EXECUTE_LABS", raising=False)
    try:
        cfg = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(tmp / "site"), strict=True)
        build(cfg)  # raises mkdocs.exceptions.Abort on any warning in strict mode
    finally:
        mp.undo()
    return tmp / "site"


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
    assert "assets/figures/lec03-backward-graph.png" in html
    assert "blocks verified" not in read(site, "getting-started/index.html"), (
        "a page edited since its record (fingerprint mismatch) must not be stamped"
    )


def test_lab_page_has_a_download_button_for_its_script(site):
    page = site / "labs" / "lab_2_1_3_custom_autograd"
    html = (page / "index.html").read_text(encoding="utf-8")
    assert 'href="lab_2_1_3_custom_autograd.py" download' in html
    script = ROOT / "src" / "tutorials" / "labs" / "lab_2_1_3_custom_autograd.py"
    assert (page / "lab_2_1_3_custom_autograd.py").read_bytes() == script.read_bytes()
    assert "src/tutorials/labs/lab_2_1_3_custom_autograd.py" in html, "edit link to the real file"
    assert "gradgradcheck" in html


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
    html = read(site, "reference/activations/index.html")
    assert "SwishFunction" in html and "save_for_backward" in html
