"""The built site meets WCAG 2.1 AA as axe-core checks it, in both palettes.

axe-core (the engine behind the browsers' accessibility audits) runs in headless
Chromium, in one browser session, on the site's pages (the vendored speedscope app
under ``assets/`` is a third-party tool, not one of the site's pages). Each page is
loaded once and audited in both palettes: in the palette it opens in, then, switched
with the page's own toggle as a reader would, in the other one. The light palette runs
axe-core's default rules; the dark one, whose pages differ only in their colours, the
rules that depend on colour. Then the search dialog, open with results, in each
palette. The bar: no violation of impact "serious" or "critical". Moderate and minor
ones are listed in ``build/accessibility.json`` with the rest of the results, and
printed, but do not fail.

Which pages: every page except the generated API reference, whose pages are all
rendered from the same mkdocstrings template: the home page, getting started, the 404
page, the reference's landing page, every chapter and every lab (their content
differs). Of the generated reference pages: the module page and the package page that
use the most kinds of element (a kind: a tag with its classes, e.g.
``span.doc-section-title``), and more only where a reference page has a kind of
element that no audited page has. So every kind of element the reference uses is
audited, and the test's cost grows with the chapters, not with the modules.

Code blocks: colour contrast (by far the costliest rule) is checked on one token of each
kind per page, not on all of them. A token is a ``<span>`` with a class in a ``<pre>``
(Pygments' output); two tokens with the same ancestry (tags and attributes but ``id``)
get the same colours and font from the stylesheet, and so the same result, as long as
their text is alike (axe-core skips text of punctuation only and reports text of one
character as "needs review"): tokens are grouped by ancestry and text (letters or
digits, of one character or more; otherwise the text itself), and in each group the
first token that shows entirely inside its scrolling block, under no overlay (the
copy button), is checked; a group with no such token is checked whole. That is about
200 of 5,000 tokens on a long chapter; every other rule still sees every element.
Compared once with checking every token, on every audited page in both palettes, with
the colours of some token classes made to fail on purpose: every failing group was
reported, and the tokens of each group had the same colours, font and result.

The browser has a fine pointer with hover, like a desktop: Material's script keeps
``tabindex="0"`` on overflowing code blocks only where the device can hover (it removes
it elsewhere), so that is where a keyboard reader's experience is checked.

axe-core comes from npm, pinned in ``.ci/run`` (``AXE_CORE_VERSION``), which installs
it into ``.cache/axe-core/``; the browser adds ``axe.min.js`` to each page as it
loads, so it needs no network. Without Chromium or axe-core the test is skipped, naming
the command that installs them.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import time
from collections import defaultdict
from pathlib import Path

import pytest

from docs_support import ROOT

CI_RUN = ROOT / ".ci" / "run"
AXE_CORE_VERSION = re.search(r"^AXE_CORE_VERSION=(\S+)$", CI_RUN.read_text(), re.M).group(1)
AXE_DIR = ROOT / ".cache" / "axe-core"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
INSTALL_AXE = (
    f"npm install --prefix .cache/axe-core --no-save --no-package-lock axe-core@{AXE_CORE_VERSION}"
)
FAILING_IMPACTS = ("critical", "serious")
PALETTES = {"light": "default", "dark": "slate"}  # the palette: its data-md-color-scheme
REPORT = ROOT / "build" / "accessibility.json"

SAME_STYLE = "data-a11y-same-style"  # a code token whose twin is checked for colour contrast instead
# Runs in the page, once, after Material's script has mounted its components: marks the
# code tokens that colour contrast skips (module docstring: "Code blocks"), and hands
# back how many tokens there are and how many it marked.
MARK_SAME_STYLE = """
const ids = new Map(), ancestry = new Map();
const key = el => {  // the element's tags and attributes but id, from <html> down
  if (!el) return 0;
  let k = ancestry.get(el);
  if (k === undefined) {
    const attrs = [...el.attributes].filter(a => a.name !== "id").map(a => `${a.name}=${a.value}`);
    const text = `${key(el.parentElement)}>${el.localName}[${attrs.join(" ")}]`;
    k = ids.get(text) ?? ids.size;
    ids.set(text, k);
    ancestry.set(el, k);
  }
  return k;
};
const textKind = el => {
  const text = el.textContent.trim();
  return /[\\p{L}\\p{N}]/u.test(text) ? (text.length === 1 ? "one" : "many") : `only ${text}`;
};
const scrollBox = new Map();
const boxOf = el => {  // the rectangle of the nearest block that scrolls or clips
  if (!el || el === document.body) return null;
  if (!scrollBox.has(el)) {
    const st = getComputedStyle(el);
    scrollBox.set(el, st.overflowX !== "visible" || st.overflowY !== "visible"
      ? el.getBoundingClientRect() : boxOf(el.parentElement));
  }
  return scrollBox.get(el);
};
const overlays = [...document.querySelectorAll("pre *, .highlight *, .highlight-ipynb *")]
  .filter(e => e.localName !== "span")
  .filter(e => ["absolute", "fixed", "sticky"].includes(getComputedStyle(e).position))
  .map(e => e.getBoundingClientRect());
const clear = el => {
  const r = el.getBoundingClientRect(), box = boxOf(el.parentElement);
  return r.width > 0 && r.height > 0 && box !== null
    && r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom
    && !overlays.some(o => r.left < o.right && o.left < r.right && r.top < o.bottom && o.top < r.bottom);
};
const groups = new Map();
let tokens = 0;
for (const el of document.querySelectorAll("pre span:not(:has(*))")) {
  if (el.attributes.length !== 1 || !el.hasAttribute("class")) continue;
  tokens++;
  const k = `${key(el)} ${textKind(el)}`;
  if (!groups.has(k)) groups.set(k, []);
  groups.get(k).push(el);
}
let marked = 0;
for (const group of groups.values()) {
  const checked = group.find(clear);
  if (checked === undefined) continue;  // none shows whole: all are checked
  for (const el of group) if (el !== checked) { el.setAttribute(arguments[0], ""); marked++; }
}
return {tokens, marked};
"""
# Runs in the page: waits for Material's script to have mounted its components (code
# blocks, tables, palette) and for layout to settle, marks the code tokens (once per
# page), then runs axe-core (arguments: its context and options) and hands back the
# violations.
RUN_AXE = """
const [context, options, same, mark, done] = arguments;
const settle = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
(async () => {
  await document.fonts.ready;
  await settle();
  window.__courseTokens ??= new Function(mark)(same);
  axe.configure({rules: [{id: "color-contrast", selector: `*:not([${same}])`}]});
  const results = await axe.run(context, {...options, resultTypes: ["violations"]});
  done({
    scheme: document.body.getAttribute("data-md-color-scheme"),
    tokens: window.__courseTokens,
    violations: results.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
    })),
  });
})().catch(err => done({error: String(err && err.stack || err)}));
"""
# The light palette runs axe-core's default rule set (WCAG 2.0/2.1/2.2 A and AA and best
# practices); the dark one, whose pages differ only in their colours, the rules that
# depend on colour.
RULES = {
    "light": {},
    "dark": {"runOnly": {"type": "rule", "values": ["color-contrast", "link-in-text-block"]}},
}
# The palette shown (its data-md-color-scheme), or true while Material is switching it.
SHOWN = ("return document.body.hasAttribute('data-md-color-switching')"
         " || document.body.getAttribute('data-md-color-scheme')")
TOGGLE = "document.querySelector('[data-md-component=palette] label:not([hidden])').click()"
# An element's kind, for choosing reference pages: its tag and classes.
_TAG = re.compile(r"""<([a-zA-Z][\w-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>""")
_CLASS = re.compile(r"""\sclass\s*=\s*(?:"([^"]*)"|'([^']*)')""")


@pytest.fixture(scope="module")
def browser_support():
    """tests/test_site_in_browser.py, whose helpers build, serve and open the site; its
    import skips the test, naming the install command, where Chromium is missing."""
    return importlib.import_module("test_site_in_browser")


@pytest.fixture(scope="module")
def axe_source(browser_support) -> str:
    """axe.min.js, checked before the site is built (a skip should not cost a build)."""
    if not AXE_JS.is_file():
        pytest.skip(f"axe-core {AXE_CORE_VERSION} is not in .cache/axe-core: {INSTALL_AXE}")
    installed = json.loads((AXE_JS.parent / "package.json").read_text(encoding="utf-8"))["version"]
    if installed != AXE_CORE_VERSION:
        pytest.fail(f".cache/axe-core has axe-core {installed}; .ci/run pins {AXE_CORE_VERSION}: "
                    f"{INSTALL_AXE}")
    return AXE_JS.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def site_with_stamps(browser_support, axe_source, tmp_path_factory):
    """The site built with a verified record of this build's own: one page stamped as
    verified and one as failed, so both stamps are checked too."""
    import docs_support
    from tutorials._book import stamps

    tmp = tmp_path_factory.mktemp("a11y")
    common = dict(skip_reasons=[], torch="2.14.1", device="CPU", date="2026-01-02")
    records = {}
    for page, passed in (("docs/lectures/03-autograd.md", 5), ("docs/lectures/02-tensors.md", 4)):
        expanded, _ = docs_support.pages()[page]
        records[page] = stamps.PageRecord(executed=5, passed=passed, skipped=0,
                                          fingerprint=expanded.fingerprint, **common)
    stamps.write_record(tmp / "verified.json", records)
    site = tmp / "site"
    with browser_support.built_site(site, {stamps.RECORD_ENV: str(tmp / "verified.json")}) as base:
        yield site, base


def _pages(site: Path) -> list[str]:
    """Every HTML page of the build, as a path under the site (``lectures/03-autograd/``)."""
    pages = []
    for path in sorted(site.rglob("*.html")):
        rel = path.relative_to(site).as_posix()
        if rel.startswith("assets/"):  # vendored third-party apps (speedscope), not pages
            continue
        pages.append(rel.removesuffix("index.html"))
    return pages


def _kinds(html: str) -> set[str]:
    """The kinds of element in a page: each tag with its classes (``span.doc-section-title``)."""
    kinds = set()
    for tag in _TAG.finditer(html):
        cls = _CLASS.search(tag[2])
        classes = sorted((cls[1] or cls[2] or "").split()) if cls else []
        kinds.add(".".join([tag[1].lower(), *classes]))
    return kinds


def _audited(site: Path, pages: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """The pages to audit, in site order; the generated reference pages among them, each with
    why; and the generated reference pages left out (the module docstring says why)."""
    from tutorials._book import reference

    generated = {}
    for ref in reference.pages():
        path = ref.uri.removesuffix("index.md") if ref.uri.endswith("/index.md") else ref.uri[:-3] + "/"
        generated[path] = ref.is_package
    assert set(generated) <= set(pages), f"reference pages not in the build: {set(generated) - set(pages)}"
    assert any(generated.values()) and not all(generated.values()), "a package page and a module page"

    def html(page: str) -> str:
        path = site / page if page.endswith(".html") else site / page / "index.html"
        return path.read_text(encoding="utf-8")

    text = {page: html(page) for page in generated}
    kinds = {page: _kinds(text[page]) for page in generated}
    size = {page: len(text[page]) for page in generated}  # ties go to the smaller page: it is quicker
    covered = set().union(*(_kinds(html(page)) for page in pages if page not in generated))
    chosen: dict[str, str] = {}
    for package, what in ((False, "module"), (True, "package")):
        best = max((page for page, is_package in generated.items() if is_package == package),
                   key=lambda page: (len(kinds[page]), -size[page], page))
        chosen[best] = f"the {what} page with the most kinds of element ({len(kinds[best])})"
        covered |= kinds[best]
    while missing := set().union(*kinds.values()) - covered:
        best = max(kinds, key=lambda page: (len(kinds[page] & missing), -size[page], page))
        chosen[best] = f"has {', '.join(sorted(kinds[best] & missing))}, which no page chosen before has"
        covered |= kinds[best]
    audited = [page for page in pages if page not in generated or page in chosen]
    return audited, chosen, [page for page in pages if page not in audited]


def _summary(failing: list[dict], runs: int) -> str:
    """Rule id, impact, where and a few target selectors for each failing rule."""
    by_rule: dict[tuple, list[dict]] = defaultdict(list)
    for v in failing:
        by_rule[(v["id"], v["impact"], v["help"])].append(v)
    lines = [f"{sum(len(v['nodes']) for v in failing)} elements with serious/critical axe-core "
             f"violations (axe-core {AXE_CORE_VERSION}, {runs} page runs):"]
    for (rule, impact, help_), hits in sorted(by_rule.items(), key=lambda kv: -len(kv[1])):
        nodes = sum(len(v["nodes"]) for v in hits)
        lines.append(f"- {rule} ({impact}): {help_} - {nodes} elements on {len(hits)} page runs")
        for v in hits[:6]:
            targets = ", ".join(n["target"] for n in v["nodes"][:3])
            more = f" (+{len(v['nodes']) - 3} more)" if len(v["nodes"]) > 3 else ""
            lines.append(f"    [{v['palette']}] /{v['page']}: {targets}{more}")
            why = dict.fromkeys(n["summary"].splitlines()[-1].strip()[:200] for n in v["nodes"])
            lines += [f"        {w}" for w in list(why)[:3]]
        if len(hits) > 6:
            lines.append(f"    ... and {len(hits) - 6} more page runs")
    return "\n".join(lines)


@pytest.mark.slow
def test_every_page_meets_wcag_aa_in_both_palettes(browser_support, axe_source, site_with_stamps,
                                                    tmp_path_factory):
    By, WebDriverWait = browser_support.By, browser_support.WebDriverWait  # noqa: N806
    site, base = site_with_stamps
    pages = _pages(site)
    assert len(pages) > 40 and "404.html" in pages and "" in pages, pages
    audited, reference_pages, left_out = _audited(site, pages)
    assert all(page in audited for page in pages if page.startswith(("lectures/", "labs/"))), audited
    start = time.perf_counter()
    driver = browser_support.chrome(
        tmp_path_factory.mktemp("a11y-profile"),
        "--window-size=1280,900",
        # A desktop's pointer: hover and fine (headless Chromium reports neither).
        "--blink-settings=primaryHoverType=2,availableHoverTypes=2,"
        "primaryPointerType=4,availablePointerTypes=4",
    )
    driver.set_script_timeout(120)
    # axe-core in every page the browser opens, before the page's own scripts run
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": axe_source})
    palette_of = {scheme: palette for palette, scheme in PALETTES.items()}
    results, tokens, seconds = [], {}, {}

    def shown() -> str:
        WebDriverWait(driver, 10, poll_frequency=0.05).until(lambda d: d.execute_script(SHOWN) in palette_of)
        return palette_of[driver.execute_script(SHOWN)]

    def toggle() -> str:
        """Switch the palette with the page's toggle, as a reader would; Material remembers it."""
        want = PALETTES[next(p for p in PALETTES if p != shown())]
        driver.execute_script(TOGGLE)
        WebDriverWait(driver, 10, poll_frequency=0.05).until(lambda d: d.execute_script(SHOWN) == want)
        return palette_of[want]

    def check(where: str, palette: str, context: object = None) -> None:
        out = driver.execute_async_script(RUN_AXE, context or {"exclude": []}, RULES[palette],
                                          SAME_STYLE, MARK_SAME_STYLE)
        assert "error" not in out, f"{where}: axe-core failed: {out['error']}"
        assert out["scheme"] == PALETTES[palette], f"{where} shows palette {out['scheme']!r}, not {palette}"
        results.extend(dict(v, page=where, palette=palette) for v in out["violations"])
        tokens[where] = out["tokens"]

    try:
        seconds["browser"] = round(time.perf_counter() - start, 1)
        for page in audited:  # in the palette it opens in (the last one chosen), then the other
            began = time.perf_counter()
            driver.get(f"{base}/{page}")
            check(page, shown())
            check(page, toggle())
            seconds[page] = round(time.perf_counter() - began, 1)
        began = time.perf_counter()
        where = "lectures/03-autograd/ (search dialog, with results)"
        driver.get(f"{base}/lectures/03-autograd/")
        box = driver.find_element(By.CSS_SELECTOR, "input.md-search__input")  # in the header
        box.click()
        box.send_keys("gradient")

        def results_shown(d) -> bool:
            first = d.find_elements(By.CSS_SELECTOR, ".md-search-result__item")[:1]
            return bool(first) and first[0].is_displayed()

        WebDriverWait(driver, 30).until(results_shown)
        check(where, shown(), {"include": [".md-search"]})
        palette = toggle()
        WebDriverWait(driver, 10).until(results_shown)  # the dialog stays open, with its results
        check(where, palette, {"include": [".md-search"]})
        seconds["search dialog"] = round(time.perf_counter() - began, 1)
    finally:
        driver.quit()
    seconds["total"] = round(time.perf_counter() - start, 1)

    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for v in results:
        counts[v["impact"]][v["id"]] += len(v["nodes"])
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({
        "axe_core": AXE_CORE_VERSION, "pages": audited, "reference_pages_audited": reference_pages,
        "left_out": left_out, "palettes": list(PALETTES),
        "seconds": seconds, "code_tokens": tokens, "elements_by_impact": counts, "violations": results,
    }, indent=1) + "\n", encoding="utf-8")
    print(f"axe-core {AXE_CORE_VERSION}: {len(audited)} of {len(pages)} pages ({len(left_out)} generated "
          f"reference pages left out) and the search dialog x {len(PALETTES)} palettes in "
          f"{seconds['total']} s; elements by impact and rule: {json.dumps(counts)}; report: {REPORT}")

    failing = [v for v in results if v["impact"] in FAILING_IMPACTS]
    assert not failing, _summary(failing, (len(audited) + 1) * len(PALETTES))


def _a11y_hook():
    spec = importlib.util.spec_from_file_location("a11y_hook", ROOT / "overrides" / "hooks" / "a11y.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_makes_code_blocks_and_tables_focusable():
    """The build-time half of the fix, checked without a browser (runs everywhere)."""
    fix = _a11y_hook().focusable_scroll_regions
    highlighted = '<div class="highlight"><pre><span></span><code><a id="l1"></a>x = 1\n</code></pre></div>'
    assert fix(highlighted) == highlighted.replace("<code>", '<code tabindex="0">')
    plain = '<pre class="x"><code class="language-text">out\n</code></pre>'
    assert fix(plain) == '<pre class="x"><code tabindex="0" class="language-text">out\n</code></pre>'
    assert fix('<p>inline <code>x</code></p>') == '<p>inline <code>x</code></p>'
    notebook = '<div class="highlight-ipynb hl-python"><pre><span class="k">def</span></pre></div>'
    assert fix(notebook).startswith('<div class="highlight-ipynb hl-python" tabindex="0"><pre>')
    markdown_cell = '<div class="highlight"><pre><span></span>a long line of sampled text\n</pre></div>'
    assert fix(markdown_cell) == markdown_cell.replace("<pre>", '<pre tabindex="0">')
    table = "<p>a</p><table><tr><td><table><tr><td>1</td></tr></table></td></tr></table><p>b</p>"
    assert fix(table) == ('<p>a</p><div class="course-scroll" tabindex="0"><table><tr><td><table><tr>'
                          "<td>1</td></tr></table></td></tr></table></div><p>b</p>")
    dataframe = '<table class="dataframe"><tr><td>1</td></tr></table>'
    assert fix(dataframe) == dataframe, "tables with a class are not Material's to wrap: left alone"
    once = fix(highlighted + table + notebook + markdown_cell)
    assert fix(once) == once, "idempotent"


def test_theme_overrides_name_the_search_dialog_and_fix_footer_labels():
    search = (ROOT / "overrides" / "partials" / "search.html").read_text(encoding="utf-8")
    assert re.search(r'role="dialog" aria-label="\{\{ lang.t\(\'search\'\) \}\}"', search)
    footer = (ROOT / "overrides" / "partials" / "footer.html").read_text(encoding="utf-8")
    assert footer.count("_page.title | striptags | e }}\"") == 2
