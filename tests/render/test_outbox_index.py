"""outbox/index.html in a real browser (Debian's headless chromium): from file:// and from a static server."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from headless_chromium import headless_chromium

from autoflow_watch.publish.index import IndexEntry, write_index
from autoflow_watch.publish.outbox import publish_failure, publish_report

pytestmark = pytest.mark.chromium
NETWORK_SCHEMES = {"http", "https", "ws", "wss", "ftp"}  # chrome:// pages are the browser's own


def _manifest(workflow: str, day: str, run_id: str) -> dict[str, object]:
    return {"workflow": workflow, "reference_date": day, "run_id": run_id, "attempt": 1, "parameters": {}}


def _outbox(root: Path, rendered: dict[str, Path], executed: dict[str, Path]) -> Path:
    """Real reports in an outbox: two dates of one workflow, a failed and a dead one of another."""
    outbox = root / "outbox"
    reports = [rendered["report.html"], rendered["report.pdf"]]
    for day in ("2026-11-23", "2026-11-24"):
        publish_report(outbox, "daily-report", day, reports, _manifest("daily-report", day, f"run-{day}"))
    wide = [rendered["wide.html"], rendered["wide.pdf"], rendered["wide.ipynb"]]
    publish_report(outbox, "indicators", "2026-11-24", wide, _manifest("indicators", "2026-11-24", "run-w"))
    failed = [executed["failed"], rendered["failed.html"]]
    publish_failure(outbox, "nightly", "2026-11-24", "run-f", failed, "RuntimeError: LONG_TRACEBACK_ERROR")
    publish_failure(outbox, "nightly", "2026-11-23", "run-d", failed[:1], "KeyError: 'x'")
    now = time.time()
    write_index(
        outbox,
        [
            IndexEntry("daily-report", "2026-11-25", "running", "run-r", 1, None, None),
            IndexEntry("daily-report", "2026-11-24", "succeeded", "run-2026-11-24", 1, now, None),
            IndexEntry("daily-report", "2026-11-23", "succeeded", "run-2026-11-23", 2, now - 86400, None),
            IndexEntry("indicators", "2026-11-24", "succeeded", "run-w", 1, now, None),
            IndexEntry("nightly", "2026-11-24", "failed", "run-f", 1, now, "RuntimeError: LONG_TRACEBACK_ERROR"),
            IndexEntry("nightly", "2026-11-23", "dead", "run-d", 3, now - 86400, "KeyError: 'x'"),
        ],
    )
    return outbox


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


def _file_links_resolve(links: list[str], page_ids: set[str]) -> list[str]:
    """Links of a file:// page that point at nothing (files that do not exist, unknown #anchors)."""
    broken = []
    for link in links:
        parts = urlsplit(link)
        if parts.fragment:
            resolves = parts.fragment in page_ids
        else:
            resolves = parts.scheme == "file" and Path(unquote(parts.path)).is_file()
        if not resolves:
            broken.append(link)
    return broken


def test_index_from_file_url_links_existing_files_newest_first_and_loads_nothing_remote(
    rendered: dict[str, Path], executed: dict[str, Path], tmp_path: Path
) -> None:
    outbox = _outbox(tmp_path, rendered, executed)
    source = (outbox / "index.html").read_text(encoding="utf-8")
    assert "<script" not in source, "readable without JavaScript"
    from selenium.webdriver.common.by import By

    with headless_chromium(tmp_path / "profile") as browser:
        browser.open((outbox / "index.html").as_uri())
        driver = browser.driver
        ids = {str(e.get_attribute("id")) for e in driver.find_elements(By.CSS_SELECTOR, "[id]")}
        links = browser.links()
        states = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "section .state")]
        dates = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#daily-report td.date")]
        report_link = driver.find_element(By.LINK_TEXT, "report.html")
        report_link.click()
        assert "Daily mobility report" in driver.title
        urls = browser.requested_urls()
    assert _file_links_resolve(links, ids) == []
    assert len(links) >= 15, links
    for name in ("failed_long_traceback.ipynb", "failed.html", "error.txt"):
        expected = f"_failed/nightly/2026-11-24/run-f/{name}"
        assert any(link.endswith(expected) for link in links), expected
    assert any(link.endswith("indicators/2026-11-24/wide.ipynb") for link in links)
    assert any(link.endswith("daily-report/2026-11-24/manifest.json") for link in links)
    assert {"succeeded", "failed", "running", "dead"} <= set(states)
    assert dates == ["2026-11-25", "2026-11-24", "2026-11-23"], "newest first"
    remote = [u for u in urls if urlsplit(u).scheme in NETWORK_SCHEMES]
    assert remote == [], f"the index or a report asked for {remote}"


def test_index_from_a_static_web_server_has_links_that_all_resolve(
    rendered: dict[str, Path], executed: dict[str, Path], tmp_path: Path
) -> None:
    outbox = _outbox(tmp_path, rendered, executed)
    with static_server(outbox) as base, headless_chromium(tmp_path / "profile") as browser:
        browser.open(f"{base}/index.html")
        assert "Reports" in browser.driver.title
        links = [link for link in browser.links() if "#" not in link]
        urls = browser.requested_urls()
        statuses = {}
        for link in links:
            assert link.startswith(base + "/"), f"{link} does not stay on the server"
            with urllib.request.urlopen(link, timeout=10) as answer:  # our own local server
                statuses[link] = answer.status
    assert links and set(statuses.values()) == {200}
    assert [u for u in urls if urlsplit(u).scheme in NETWORK_SCHEMES and not u.startswith(base + "/")] == []
