"""The built site in a real headless browser, served from localhost.

Search finds a chapter term, the lab's download button delivers the script, the
dark/light toggle is there, and no request leaves the machine. Needs Chromium and
ChromeDriver (Debian: ``apt-get install chromium chromium-driver``) and selenium;
where they are missing, the test is skipped and says so.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
import time
from urllib.parse import urlsplit

import pytest

from docs_support import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
selenium = pytest.importorskip("selenium", reason="selenium is not installed")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("Chromium and ChromeDriver are not installed", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    site = tmp_path_factory.mktemp("browser") / "site"
    build(load_config(str(ROOT / "mkdocs.yml"), site_dir=str(site), strict=True))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    downloads = tmp_path_factory.mktemp("downloads")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path_factory.mktemp('profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=opts, service=service)
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

    browser.get(f"{server}/labs/lab_2_1_3_custom_autograd/")
    button = browser.find_element(By.CSS_SELECTOR, "a.course-download")
    button.click()
    target = browser.downloads / "lab_2_1_3_custom_autograd.py"
    deadline = time.time() + 20
    while not target.is_file() and time.time() < deadline:
        time.sleep(0.2)
    script = ROOT / "src" / "tutorials" / "labs" / "lab_2_1_3_custom_autograd.py"
    assert target.is_file() and target.read_bytes() == script.read_bytes()

    hosts = {urlsplit(u).hostname for u in requested_urls(browser) if u.startswith("http")}
    assert hosts <= {"127.0.0.1"}, f"requests left the machine: {hosts}"
