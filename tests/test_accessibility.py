"""Every page of the built site meets WCAG 2.1 AA as axe-core checks it, in both palettes.

axe-core (the engine behind the browsers' accessibility audits) runs in headless
Chromium on every HTML page the build writes (the vendored speedscope app under
``assets/`` is a third-party tool, not one of the site's pages), first in the light
palette with axe-core's default rules, then in the dark one, switched with the page's
own toggle as a reader would, with the rules that depend on colour; then on the search
dialog, open with results, in each palette. The bar: no violation of impact "serious"
or "critical". Moderate and minor ones are listed in ``build/accessibility.json`` with
the rest of the results, and printed, but do not fail.

The browser has a fine pointer with hover, like a desktop: Material's script keeps
``tabindex="0"`` on overflowing code blocks only where the device can hover (it removes
it elsewhere), so that is where a keyboard reader's experience is checked.

axe-core comes from npm, pinned in ``.ci/run`` (``AXE_CORE_VERSION``), which installs
it into ``.cache/axe-core/``; the test injects ``axe.min.js`` into each page, so it
needs no network. Without Chromium or axe-core the test is skipped, naming the command
that installs them.
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

# Runs in the page: waits for Material's script to have mounted its components (code
# blocks, tables, palette) and for layout to settle, then runs axe-core (arguments: its
# context and options) and hands back the violations.
RUN_AXE = """
const [context, options, done] = arguments;
const settle = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
(async () => {
  await document.fonts.ready;
  await settle();
  const results = await axe.run(context, {...options, resultTypes: ["violations"]});
  done({
    scheme: document.body.getAttribute("data-md-color-scheme"),
    violations: results.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
    })),
  });
})().catch(err => done({error: String(err && err.stack || err)}));
"""
# The light palette runs axe-core's default rule set (WCAG 2.0/2.1/2.2 A and AA and best
# practices); the dark one, whose pages differ only in their colours, the rules that
# depend on colour, which keeps the test about a third shorter.
RULES = {
    "light": {},
    "dark": {"runOnly": {"type": "rule", "values": ["color-contrast", "link-in-text-block"]}},
}


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
    axe = axe_source
    site, base = site_with_stamps
    pages = _pages(site)
    assert len(pages) > 40 and "404.html" in pages and "" in pages, pages
    driver = browser_support.chrome(
        tmp_path_factory.mktemp("a11y-profile"),
        "--window-size=1280,900",
        # A desktop's pointer: hover and fine (headless Chromium reports neither).
        "--blink-settings=primaryHoverType=2,availableHoverTypes=2,"
        "primaryPointerType=4,availablePointerTypes=4",
    )
    driver.set_script_timeout(120)
    results, timings = [], {}

    def check(where: str, palette: str, context: object = None) -> None:
        driver.execute_script(axe)
        out = driver.execute_async_script(RUN_AXE, context or {"exclude": []}, RULES[palette])
        assert "error" not in out, f"{where}: axe-core failed: {out['error']}"
        assert out["scheme"] == PALETTES[palette], f"{where} shows palette {out['scheme']!r}, not {palette}"
        results.extend(dict(v, page=where, palette=palette) for v in out["violations"])

    try:
        for palette, scheme in PALETTES.items():
            start = time.perf_counter()
            driver.get(f"{base}/")
            shown = "return document.body.getAttribute('data-md-color-scheme')"
            if driver.execute_script(shown) != scheme:
                # the reader's way: the toggle in the header; Material remembers the choice
                driver.execute_script(
                    "document.querySelector('[data-md-component=palette] label:not([hidden])').click()")
                WebDriverWait(driver, 10).until(lambda d, js=shown, want=scheme: d.execute_script(js) == want)
            for page in pages:
                driver.get(f"{base}/{page}")
                check(page, palette)
            driver.get(f"{base}/lectures/03-autograd/")
            box = driver.find_element(By.CSS_SELECTOR, "input.md-search__input")  # in the header
            box.click()
            box.send_keys("gradient")
            WebDriverWait(driver, 30).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item"))
            check("lectures/03-autograd/ (search dialog, with results)", palette,
                  {"include": [".md-search"]})
            timings[palette] = round(time.perf_counter() - start, 1)
    finally:
        driver.quit()

    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for v in results:
        counts[v["impact"]][v["id"]] += len(v["nodes"])
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({
        "axe_core": AXE_CORE_VERSION, "pages": pages, "palettes": list(PALETTES),
        "seconds": timings, "elements_by_impact": counts, "violations": results,
    }, indent=1) + "\n", encoding="utf-8")
    print(f"axe-core {AXE_CORE_VERSION}: {len(pages)} pages x {len(PALETTES)} palettes in "
          f"{timings} s; elements by impact and rule: {json.dumps(counts)}; report: {REPORT}")

    failing = [v for v in results if v["impact"] in FAILING_IMPACTS]
    assert not failing, _summary(failing, (len(pages) + 1) * len(PALETTES))


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
    table = "<p>a</p><table><tr><td><table><tr><td>1</td></tr></table></td></tr></table><p>b</p>"
    assert fix(table) == ('<p>a</p><div class="course-scroll" tabindex="0"><table><tr><td><table><tr>'
                          "<td>1</td></tr></table></td></tr></table></div><p>b</p>")
    dataframe = '<table class="dataframe"><tr><td>1</td></tr></table>'
    assert fix(dataframe) == dataframe, "tables with a class are not Material's to wrap: left alone"
    once = fix(highlighted + table + notebook)
    assert fix(once) == once, "idempotent"


def test_theme_overrides_name_the_search_dialog_and_fix_footer_labels():
    search = (ROOT / "overrides" / "partials" / "search.html").read_text(encoding="utf-8")
    assert re.search(r'role="dialog" aria-label="\{\{ lang.t\(\'search\'\) \}\}"', search)
    footer = (ROOT / "overrides" / "partials" / "footer.html").read_text(encoding="utf-8")
    assert footer.count("_page.title | striptags | e }}\"") == 2
