"""Debian's headless chromium for tests: a page opened, its links, and every request it made.

Two nets catch a request leaving the machine: chromium's own network log of the page (every
URL it asked for), and a recording proxy on 127.0.0.1 that every non-local connection is
sent to and that forwards nothing: whatever is asked for is seen, and nothing goes out. Host
names resolve to nothing, so not even a DNS query leaves.

Debian's chromium phones home on its own even with the flags below (network time, component
updates, its search engine, Google sign-in through the API keys in /etc/chromium.d): the
proxy sees those too. They are the browser's, made with or without a page, so tests check
that no host a report's notebook names was contacted, not that the proxy saw nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def require_chromium(driver: bool = False) -> None:
    """Skip (visibly) when Debian's chromium is absent; under scripts/test.sh that is a failure."""
    missing = [str(p) for p in (CHROMIUM, *((CHROMEDRIVER,) if driver else ())) if not p.exists()]
    if not missing:
        return
    reason = (
        f"Debian's chromium is not installed ({', '.join(missing)} absent): apt-get install chromium chromium-driver"
    )
    if os.environ.get("AUTOFLOW_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


class RecordingProxy:
    """Accepts connections on 127.0.0.1, records the first line of each (CONNECT host:443 ...), closes."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    self.requests.append(connection.recv(4096).split(b"\r\n", 1)[0].decode("latin-1"))
                except OSError:
                    self.requests.append("(connection without request line)")

    def hosts(self) -> set[str]:
        """Host names asked for (``CONNECT host:443`` or ``GET http://host/...``)."""
        found = set()
        for line in self.requests:
            match = re.match(r"^[A-Z]+ (?:[a-z]+://)?([^/:\s]+)", line)
            if match:
                found.add(match.group(1).lower())
        return found

    def close(self) -> None:
        self._server.close()


class Browser:
    """A selenium-driven headless chromium with its network log."""

    def __init__(self, driver: Any, proxy: RecordingProxy) -> None:
        self.driver = driver
        self.proxy = proxy

    def open(self, url: str) -> None:
        self.driver.get(url)

    def requested_urls(self) -> list[str]:
        """Every URL the pages opened so far asked for (from chromium's performance log)."""
        import json

        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def links(self) -> list[str]:
        """Absolute URLs of every link on the current page."""
        from selenium.webdriver.common.by import By

        return [str(a.get_property("href")) for a in self.driver.find_elements(By.CSS_SELECTOR, "a[href]")]


@contextlib.contextmanager
def headless_chromium(profile: Path) -> Iterator[Browser]:
    """Start chromium through Debian's chromedriver; no selenium-manager downloads, no stats."""
    require_chromium(driver=True)
    os.environ.setdefault("SE_AVOID_STATS", "true")
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    proxy = RecordingProxy()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*BROWSER_FLAGS, f"--user-data-dir={profile}", f"--proxy-server=http://127.0.0.1:{proxy.port}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield Browser(driver, proxy)
    finally:
        driver.quit()
        proxy.close()
