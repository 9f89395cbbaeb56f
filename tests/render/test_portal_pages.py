"""The outbox's pages in a real browser (Debian's headless chromium): from file:// and from a static
web server under a path prefix, with nothing requested outside the outbox, every link resolving,
the search box filtering as one types, the keyboard reaching everything, screenshots at two widths.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from headless_chromium import Browser, headless_chromium

from autoflow_watch.publish.failure_page import FailureFacts, write_failure_page
from autoflow_watch.publish.outbox import publish_failure, publish_report
from autoflow_watch.publish.portal import refresh_pages
from autoflow_watch.store import Store

pytestmark = pytest.mark.chromium
WIDTHS = (375, 1440)
PAGES = ("index.html", "daily-report/index.html", "nightly/index.html")
FAILURE = "_failed/nightly/2026-11-24/run-f/index.html"
BROWSERS_OWN = ("chrome:", "chrome-extension:", "devtools:", "data:")  # the browser's own pages, inline data


def _page_requests(browser: Browser) -> list[str]:
    """What the page opened last asked for, the browser's own pages aside."""
    return [u for u in browser.requested_urls() if not u.startswith(BROWSERS_OWN)]


def _manifest(workflow: str, day: str, run_id: str) -> dict[str, object]:
    return {"workflow": workflow, "reference_date": day, "run_id": run_id, "attempt": 1, "parameters": {}}


def _failure(root: Path, outbox: Path, executed: dict[str, Path], rendered: dict[str, Path]) -> None:
    """A failed attempt filed as the daemon files it: the notebook, its HTML, error.txt and the page."""
    folder = root / "failed-attempt"
    folder.mkdir()
    notebook = shutil.copy(executed["failed"], folder / "failed.ipynb")
    html = shutil.copy(rendered["failed.html"], folder / "failed.html")
    (folder / "kernel.log").write_text("".join(f"kernel line {n}\n" for n in range(80)), encoding="utf-8")
    facts = FailureFacts(
        "nightly",
        "2026-11-24",
        "run-f",
        1,
        "RuntimeError",
        "LONG_TRACEBACK_ERROR",
        "failed",
        None,
        "Traceback (most recent call last):\nRuntimeError: LONG_TRACEBACK_ERROR",
        {"reference_date": "2026-11-24"},
        60.0,
        3600.0,
        Path(notebook),
        folder / "kernel.log",
        ["failed.ipynb", "failed.html", "error.txt"],
    )
    page = write_failure_page(folder, facts)
    publish_failure(outbox, "nightly", "2026-11-24", "run-f", [Path(notebook), Path(html), page], "RuntimeError")


def _outbox(root: Path, rendered: dict[str, Path], executed: dict[str, Path]) -> Path:
    """Real reports over 30 days of one workflow with figures, and a failed and a dead date of another."""
    from portal_store import RunRow, insert_runs

    outbox = root / "outbox"
    store = Store(f"sqlite:///{root}/state.db")
    now, rows = time.time(), []
    reports = [rendered["report.html"], rendered["report.pdf"]]
    for n in range(30):
        day = f"2026-11-{n + 1:02d}"
        publish_report(outbox, "daily-report", day, reports, _manifest("daily-report", day, f"run-{day}"))
        figures = {"report": {"calls": 4_000_000 + 37_000 * n, "share": 0.2 + n / 1000, "region": "admin2"}}
        finished = now - 86400 * (30 - n)
        rows.append(
            RunRow("daily-report", day, "succeeded", 1, f"run-{day}", finished - 83 - n, finished, scraps=figures)
        )
    rows.append(RunRow("daily-report", "2026-12-01", "running", started_at=now - 30))
    _failure(root, outbox, executed, rendered)
    publish_failure(outbox, "nightly", "2026-11-23", "run-d", [executed["failed"]], "KeyError: 'x'")
    rows.append(
        RunRow(
            "nightly",
            "2026-11-24",
            "failed",
            1,
            "run-f",
            now - 60,
            now,
            "RuntimeError: LONG_TRACEBACK_ERROR",
            ["run-f"],
        )
    )
    rows.append(
        RunRow(
            "nightly", "2026-11-23", "dead", 3, "run-d", now - 86460, now - 86400, "KeyError: 'x'", ["a", "b", "run-d"]
        )
    )
    insert_runs(store, rows)
    refresh_pages(outbox, store.runs.portal, ["daily-report", "nightly", "weekly"])
    store.close()
    return outbox


@pytest.fixture
def outbox(rendered: dict[str, Path], executed: dict[str, Path], tmp_path: Path) -> Path:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "publish"))
    return _outbox(tmp_path / "site" / "reports", rendered, executed)


@contextlib.contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """Python's plain static file server on 127.0.0.1, as any web server would serve the outbox."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _screenshots(browser: Browser, name: str, folder: Path) -> None:
    """The page at each width, full height, in the test's folder (and in AUTOFLOW_SCREENS when set)."""
    driver = browser.driver
    targets = [folder, *([Path(os.environ["AUTOFLOW_SCREENS"])] if os.environ.get("AUTOFLOW_SCREENS") else [])]
    for width in WIDTHS:
        driver.set_window_size(width, 900)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(int(height) + 140, 6000))
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} at {width} px is wider than the window: readable means no sideways page"
        for target in targets:
            target.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(target / f"{name.replace('/', '_')}-{width}.png"))


def _broken_links(browser: Browser, ids: set[str]) -> list[str]:
    """Links of a file:// page that point at nothing (a missing file, an unknown #anchor on this page)."""
    broken = []
    here = urlsplit(browser.driver.current_url).path
    for link in browser.links():
        parts = urlsplit(link)
        if parts.fragment and parts.path == here:
            resolves = parts.fragment in ids
        else:
            resolves = parts.scheme == "file" and Path(unquote(parts.path)).is_file()
        if not resolves:
            broken.append(link)
    return broken


def _csp_violations(browser: Browser) -> list[str]:
    return [e["message"] for e in browser.driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_each_page_from_file_url_loads_only_from_the_outbox_links_files_and_is_screenshotted(
    outbox: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    with headless_chromium(tmp_path / "profile") as browser:
        for page in (*PAGES, FAILURE):
            browser.requested_urls()  # drained: what came before is not this page's
            browser.open((outbox / page).as_uri())
            ids = {str(e.get_attribute("id")) for e in browser.driver.find_elements(By.CSS_SELECTOR, "[id]")}
            assert _broken_links(browser, ids) == [], page
            assert len(browser.links()) >= 5, page
            _screenshots(browser, page.removesuffix("/index.html").replace("_failed/", "failed-"), tmp_path / "screens")
            outside = [u for u in _page_requests(browser) if not u.startswith(outbox.as_uri() + "/")]
            assert outside == [], f"{page} asked for {outside}"
            assert _csp_violations(browser) == [], page
    assert len(list((tmp_path / "screens").glob("*.png"))) == 2 * (len(PAGES) + 1)


def test_each_page_from_a_web_server_under_a_path_prefix_has_links_that_all_resolve(
    outbox: Path, tmp_path: Path
) -> None:
    with static_server(outbox.parent.parent) as server, headless_chromium(tmp_path / "profile") as browser:
        base = f"{server}/reports/outbox/"
        for page in (*PAGES, FAILURE):
            browser.requested_urls()
            browser.open(base + page)
            assert "404" not in browser.driver.title
            links = {link.split("#")[0] for link in browser.links()}
            assert [u for u in _page_requests(browser) if not u.startswith(base)] == [], f"{page} left the outbox"
            for link in links:
                assert link.startswith(base), f"{link} on {page} leaves the outbox"
                with urllib.request.urlopen(link, timeout=30) as answer:  # our own local server
                    assert answer.status == 200, link


def _visible(browser: Browser, selector: str) -> int:
    from selenium.webdriver.common.by import By

    return sum(1 for e in browser.driver.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed())


def test_the_search_box_filters_workflows_and_dates_as_one_types(outbox: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with headless_chromium(tmp_path / "profile") as browser:
        browser.open((outbox / "index.html").as_uri())
        search = browser.driver.find_element(By.ID, "q")
        assert _visible(browser, "section.wf") == 3 and _visible(browser, "#results tr") == 0
        seen = []
        for key in "night":
            search.send_keys(key)
            seen.append((_visible(browser, "section.wf"), _visible(browser, "#results tbody tr")))
        assert seen[0] == (1, 0) or seen[0][0] <= 3, "the first letter already filters"
        assert seen[-1] == (1, 2), "only nightly, and its two dates"
        search.send_keys(" dead")
        assert _visible(browser, "#results tbody tr") == 1
        search.send_keys(Keys.CONTROL, "a")
        search.send_keys("2026-11-2")
        assert _visible(browser, "#results tbody tr") == 10 + 2, "ten daily dates and both nightly ones"
        assert _visible(browser, "section.wf") == 2
        _screenshots(browser, "index-searching-2026-11-2", tmp_path / "screens")
        search.send_keys("x")
        assert (
            _visible(browser, "#results tbody tr") == 0 and "No workflow or date matches" in browser.driver.page_source
        )
        search.send_keys(Keys.CONTROL, "a")
        search.send_keys(Keys.BACKSPACE)
        assert _visible(browser, "section.wf") == 3 and _visible(browser, "#results tr") == 0


def test_the_keyboard_reaches_the_search_box_and_links_and_shows_where_it_is(outbox: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    with headless_chromium(tmp_path / "profile") as browser:
        browser.open((outbox / "index.html").as_uri())
        driver = browser.driver
        reached = []
        for _ in range(8):
            ActionChains(driver).send_keys(Keys.TAB).perform()
            active = driver.switch_to.active_element
            outline = driver.execute_script("return getComputedStyle(arguments[0]).outlineStyle", active)
            reached.append((active.tag_name, active.get_attribute("id") or active.get_attribute("href"), outline))
    assert ("input", "q", "solid") in reached, reached
    links = [r for r in reached if r[0] == "a"]
    assert len(links) >= 5 and all(outline == "solid" for _, _, outline in links), reached
