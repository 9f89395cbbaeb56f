"""Chromium: the optional PDF engine for outputs that need JavaScript, and a real browser's view of reports."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from headless_chromium import headless_chromium, require_chromium
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from render_checks import pdf_page_size, pdf_text, report_context

from autoflow_watch.render import chromium as chromium_engine
from autoflow_watch.render.errors import RenderError
from autoflow_watch.render.report import render_report

pytestmark = pytest.mark.chromium
NETWORK_SCHEMES = {"http", "https", "ws", "wss", "ftp"}  # chrome:// pages are the browser's own, not the network


def _script_notebook(path: Path) -> Path:
    """A report whose only content is drawn by a script, as interactive chart libraries do."""
    drawn = new_output(
        "display_data",
        data={
            "application/javascript": 'element.textContent = "DRAWN BY SCRIPT " + (6 * 7);',
            "text/plain": "<script output>",
        },
    )
    nb = new_notebook(cells=[new_markdown_cell("# Script-drawn report"), new_code_cell("draw()", outputs=[drawn])])
    nbformat.write(nb, str(path))
    return path


def test_chromium_engine_runs_the_reports_scripts_before_printing(tmp_path: Path) -> None:
    require_chromium()
    notebook = _script_notebook(tmp_path / "in.ipynb")
    [pdf] = render_report(notebook, tmp_path / "out", "drawn", ["pdf"], report_context(), pdf_engine="chromium")
    text = pdf_text(pdf)
    assert "DRAWN BY SCRIPT 42" in text
    assert "Script-drawn report" in text
    assert pdf_page_size(pdf) == pytest.approx((595.3, 841.9), abs=1), "the stylesheet's A4 is honoured"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["drawn.pdf"]


def test_weasyprint_prints_the_same_report_without_running_scripts(tmp_path: Path) -> None:
    notebook = _script_notebook(tmp_path / "in.ipynb")
    [pdf] = render_report(notebook, tmp_path / "out", "drawn", ["pdf"], report_context())
    assert "DRAWN BY SCRIPT" not in pdf_text(pdf)


def test_chromium_engine_without_chromium_is_a_clear_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chromium_engine, "chromium_binary", lambda: None)
    notebook = _script_notebook(tmp_path / "in.ipynb")
    with pytest.raises(RenderError) as raised:
        render_report(notebook, tmp_path / "out", "drawn", ["html", "pdf"], report_context(), pdf_engine="chromium")
    message = str(raised.value)
    assert "\n" not in message
    assert "chromium" in message and "apt-get install chromium" in message and "weasyprint" in message


def test_reports_open_in_a_browser_without_a_single_request_leaving_the_machine(
    rendered: dict[str, Path], executed: dict[str, Path], tmp_path: Path
) -> None:
    source = executed["wide"].read_text(encoding="utf-8")
    named = set(re.findall(r"https?://([a-z0-9.-]+)", source))
    assert {"example.org", "cdn.plot.ly", "cdn.example.org", "fonts.example.org"} <= named
    with headless_chromium(tmp_path / "profile") as browser:
        for name in ("report.html", "wide.html", "failed.html"):
            browser.open(rendered[name].as_uri())
            assert "report-title" in browser.driver.page_source
        urls = browser.requested_urls()
        contacted = browser.proxy.hosts()
    assert any(u.startswith("file:") for u in urls), "the browser's network log works"
    remote = [u for u in urls if u.split(":", 1)[0].lower() in NETWORK_SCHEMES]
    assert remote == [], f"the reports asked for {remote}"
    assert contacted & named == set(), "a host the notebooks' outputs name was contacted"
