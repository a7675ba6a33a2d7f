"""The built site in a real headless browser, served from localhost.

Search finds a chapter term, the lab's download button delivers the script, the
dark/light toggle is there, and no request leaves the machine. Needs Chromium and
ChromeDriver (Debian: ``apt-get install chromium chromium-driver``; Google Chrome with
its chromedriver, as on GitHub's runners, works too) and selenium; where they are
missing, the test is skipped and says so. ``.ci/run`` installs them on a CI machine.
The fixtures here are shared with ``tests/test_accessibility.py``.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from docs_support import ROOT

CHROMIUM = next(filter(None, map(shutil.which, (
    "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"))), None)
# GitHub's runners have Google Chrome, and its chromedriver in $CHROMEWEBDRIVER.
_RUNNER_DRIVER = Path(os.environ.get("CHROMEWEBDRIVER", "/nonexistent")) / "chromedriver"
CHROMEDRIVER = shutil.which("chromedriver") or (
    str(_RUNNER_DRIVER) if os.access(_RUNNER_DRIVER, os.X_OK) else None)
INSTALL_BROWSER = "apt-get install chromium chromium-driver (as root: bash .ci/run does it)"
selenium = pytest.importorskip("selenium", reason="selenium is not installed")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(f"Chromium and ChromeDriver are not installed: {INSTALL_BROWSER}", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the built site under its ``site_url`` path (``/course/``), as GitHub Pages
    does, so the 404 page's absolute links resolve; a missing file gets that 404 page."""

    prefix = "/"

    def translate_path(self, path):
        path = urlsplit(path).path
        if not path.startswith(self.prefix):
            return str(Path(self.directory) / ".not-under-the-site-path")  # absent: 404
        return super().translate_path("/" + path[len(self.prefix):])

    def send_error(self, code, message=None, explain=None):
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            return super().send_error(code, message, explain)
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args):  # quiet: the test reports what matters
        pass


@contextlib.contextmanager
def built_site(site: Path, env: dict[str, str] | None = None):
    """Build the site strictly into ``site`` and serve it on 127.0.0.1; yields its base URL
    (no trailing slash), e.g. ``http://127.0.0.1:40123/course``."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    with pytest.MonkeyPatch.context() as mp:
        for key, value in (env or {}).items():
            mp.setenv(key, value)
        config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(site), strict=True)
        build(config)
    prefix = urlsplit(config.site_url or "/").path.rstrip("/") + "/"
    handler = type("Handler", (_SiteHandler,), {"prefix": prefix})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}{prefix.rstrip('/')}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def chrome(profile: Path, *flags: str, performance_log: bool = False) -> webdriver.Chrome:
    """Headless Chromium that makes no request of its own (no sync, no updates)."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", *flags):
        opts.add_argument(flag)
    if performance_log:
        opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    return webdriver.Chrome(options=opts, service=service)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with built_site(tmp_path_factory.mktemp("browser") / "site") as base:
        yield base


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    downloads = tmp_path_factory.mktemp("downloads")
    driver = chrome(tmp_path_factory.mktemp("profile"), performance_log=True)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


def requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def test_search_download_and_no_external_requests(server, browser):
    browser.get(f"{server}/lectures/03-autograd/")
    assert "autograd engine" in browser.title
    assert browser.find_elements(By.CSS_SELECTOR, "[data-md-component=palette]"), "light/dark toggle"

    browser.find_element(By.CSS_SELECTOR, "label.md-search__icon, label[for=__search]").click()
    box = browser.find_element(By.CSS_SELECTOR, "input.md-search__input")
    box.send_keys("gradcheck")
    results = WebDriverWait(browser, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item")
    )
    assert any("gradcheck" in r.text.lower() for r in results), [r.text for r in results]

    browser.get(f"{server}/labs/lab_03_custom_autograd/")
    button = browser.find_element(By.CSS_SELECTOR, "a.course-download")
    button.click()
    target = browser.downloads / "lab_03_custom_autograd.py"
    deadline = time.time() + 20
    while not target.is_file() and time.time() < deadline:
        time.sleep(0.2)
    script = ROOT / "src" / "tutorials" / "lec03_autograd" / "lab_03_custom_autograd.py"
    assert target.is_file() and target.read_bytes() == script.read_bytes()

    hosts = {urlsplit(u).hostname for u in requested_urls(browser) if u.startswith("http")}
    assert hosts <= {"127.0.0.1"}, f"requests left the machine: {hosts}"
