"""The site of ``aebench publish --site`` in a real browser: headless Chromium (Debian's
``chromium`` and ``chromium-driver``) loads it from ``file://`` with no network. A click on a
header sorts, the tag filter hides rows, every image and link resolves, no console error is
logged, and a model name carrying markup is shown as text. The index's screenshot is kept in
``build/test-output/site-index.png``."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from conftest import REPO, run_cli
from test_site import EVIL, EVIL_TAG, add_markup_records

from aebench.records import storage
from aebench.report import publish

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT = REPO / "build" / "test-output" / "site-index.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
        reason="headless Chromium not found (apt-get install chromium chromium-driver)",
    ),
]


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory) -> Path:
    """A real run (pca, mean, sparse_ae on digits), the markup and failing models beside it,
    published with its figures where matplotlib is installed; the site in ``results/site``."""
    root = tmp_path_factory.mktemp("browser")
    runs = root / "runs"
    res = run_cli(
        "run", "-m", "pca,mean,sparse_ae", "-p", "digits-v2", "--seeds", "0,1",
        "--budget", "2000", "--threads", "1", "-q", "--results-dir", str(runs),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    records, _ = storage.load_records(runs)
    add_markup_records(runs, next(r for r in records if r["model"]["name"] == "pca"))
    figures = importlib.util.find_spec("matplotlib") is not None
    out = root / "results"
    publish.publish(runs, out, figures=figures, site=out / "site")
    assert not figures or any((out / "figures").glob("*.png"))
    return out / "site"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1400,1000",
    ):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SE_OFFLINE", "true")  # Selenium Manager never looks for a driver online
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _open(driver, page: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.resolve().as_uri())
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def _errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def _names(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#board tbody tr'))"
        ".filter(r => !r.hidden).map(r => r.querySelector('th').textContent)"
    )


def _board(site_dir: Path) -> Path:
    (page,) = (site_dir / "boards").glob("digits-v2*_digits.html")  # a --budget variant
    return page


def test_every_page_loads_its_images_and_links_without_console_errors(browser, site_dir, tmp_path):
    seen, todo = set(), [site_dir / "index.html"]
    while todo:
        page = todo.pop()
        if page in seen:
            continue
        seen.add(page)
        _open(browser, page)
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0])"
        )
        assert all(ok for _, ok in images), (page, images)
        links = browser.execute_script("return Array.from(document.links).map(a => a.href)")
        for href in links:
            parts = urlsplit(href)
            assert parts.scheme == "file", (page, href)
            target = Path(unquote(parts.path))
            assert target.is_file(), (page, href)
            if target.suffix == ".html":
                todo.append(target)
        assert _errors(browser) == [], page
    pages = set(site_dir.rglob("*.html"))
    assert seen == pages  # every page is reached from the index
    if any((site_dir.parent / "figures").glob("*.png")):
        _open(browser, _board(site_dir))
        assert browser.execute_script("return document.images.length") > 0
    _open(browser, site_dir / "index.html")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(max(height, 600), 4000))
    browser.save_screenshot(str(tmp_path / "site-index.png"))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp_path / "site-index.png", SCREENSHOT)
    browser.set_window_size(1400, 1000)
    print(f"screenshot of the index: {SCREENSHOT} (and {tmp_path / 'site-index.png'})")


def test_clicking_a_header_sorts_the_rows_by_that_column(browser, site_dir):
    from selenium.webdriver.common.by import By

    _open(browser, _board(site_dir))
    before = _names(browser)
    header = browser.find_elements(By.CSS_SELECTOR, "#board thead th")[2]  # recon. MSE
    assert header.text.startswith("recon. MSE")
    keys = browser.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll('#board tbody tr'))"
        ".map(r => [r.querySelector('th').textContent, r.cells[2].dataset.sort]))"
    )
    ranked = sorted((k for k in keys if keys[k]), key=lambda k: float(keys[k]))
    empty = [k for k in before if not keys[k]]  # no value: last, whichever the direction
    header.click()
    ascending = _names(browser)
    assert ascending == ranked + empty and ascending != before
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert _names(browser) == ranked[::-1] + empty
    assert header.get_attribute("aria-sort") == "descending"
    model = browser.find_elements(By.CSS_SELECTOR, "#board thead th")[0]
    model.click()
    assert _names(browser) == sorted(before, key=str.casefold)
    assert _errors(browser) == []


def test_the_tag_filter_shows_only_the_rows_of_a_tag(browser, site_dir):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _open(browser, _board(site_dir))
    every = _names(browser)
    choose = Select(browser.find_element(By.CSS_SELECTOR, "select.tag-filter"))
    choose.select_by_visible_text("reference")
    assert _names(browser) == ["mean (reference)"]
    choose.select_by_visible_text("baseline")  # pca and the markup model
    assert sorted(_names(browser)) == sorted(["pca", EVIL])
    choose.select_by_visible_text(EVIL_TAG)  # a tag carrying markup is matched as text
    assert _names(browser) == [EVIL]
    choose.select_by_index(0)
    assert _names(browser) == every
    assert _errors(browser) == []


def test_a_model_name_carrying_markup_is_shown_as_text(browser, site_dir):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    _open(browser, _board(site_dir))
    assert EVIL in _names(browser)
    markup = browser.execute_script("return document.querySelectorAll('main b, main script')")
    assert markup == []
    link = browser.find_element(By.LINK_TEXT, EVIL)
    link.click()
    assert browser.find_element(By.TAG_NAME, "h1").text == EVIL
    assert EVIL in browser.title
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 (no script of the name ran)
    assert _errors(browser) == []
