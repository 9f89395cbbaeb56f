"""The HTML report: self-contained, code hidden, tags honoured, a header that says what it is."""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from render_checks import TOKEN, remote_resources, report_context

from autoflow_watch.render.errors import RenderError
from autoflow_watch.render.offline import offline_html
from autoflow_watch.render.report import render_report


def _text(page: str) -> str:
    """Visible text, roughly: tags dropped, whitespace folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_html_report_hides_code_and_loads_nothing_remote(rendered: dict[str, Path]) -> None:
    page = rendered["report.html"].read_text(encoding="utf-8")
    assert remote_resources(page) == []
    assert "<script" not in page, "a report without JavaScript outputs carries no script at all"
    assert "mathjax" not in page.lower() and "require.js" not in page.lower()
    for code in ("import matplotlib", "sb.read_notebook", "plt.subplots", "display(", "def "):
        assert code not in page, f"code leaked into the report: {code}"
    assert page.count("data:image/png;base64,") >= 1, "the chart is embedded"
    assert "Totals per region" in page and "<table" in page


def test_header_shows_title_workflow_reference_date_run_time_and_status(rendered: dict[str, Path]) -> None:
    page = rendered["report.html"].read_text(encoding="utf-8")
    header = page[page.index("<header") : page.index("</header>")]
    assert '<h1 class="report-title">Daily mobility report</h1>' in header
    text = _text(header)
    assert "daily-report" in text and "2026-11-24" in text
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}.*\(1 min 23 s\)", text), text
    assert "succeeded" in text
    assert "<title>Daily mobility report · 2026-11-24</title>" in page
    body = page[page.index("</header>") :]
    assert "Daily mobility report</h1>" not in body, "the title heading is not repeated in the body"


def test_harder_notebook_loads_nothing_remote_but_keeps_the_analysts_links(rendered: dict[str, Path]) -> None:
    for name in ("wide.html", "wide_code.html", "failed.html"):
        page = rendered[name].read_text(encoding="utf-8")
        assert remote_resources(page) == [], name
        assert not re.search(r"""<(script|link|img|iframe)\b[^>]*(src|href)=["']?https?://""", page), name
    page = rendered["wide.html"].read_text(encoding="utf-8")
    assert '<a href="https://example.org/source">ANALYST_LINK' in page
    assert '<a href="https://example.org/methodology">' in page
    assert "REMOTE_HTML_OUTPUT" in page, "the output itself stays, only its remote parts go"
    assert "an image left out: it would load example.org" in page
    assert "a script left out: it would load cdn.plot.ly" in page


def _printed(page: str, marker: str) -> bool:
    """Whether ``marker`` appears as printed output (not inside the code that prints it)."""
    return re.search(rf"<pre>\s*{marker}", page) is not None


def test_cell_tags_are_honoured_with_code_shown(rendered: dict[str, Path]) -> None:
    page = rendered["wide_code.html"].read_text(encoding="utf-8")
    assert _printed(page, "OUTPUT_OF_REMOVE_INPUT") and "CODE_OF_REMOVE_INPUT" not in page
    assert "CODE_OF_REMOVE_OUTPUT" in page and not _printed(page, "OUTPUT_OF_REMOVE_OUTPUT")
    assert "CODE_OF_REMOVE_CELL" not in page and "OUTPUT_OF_REMOVE_CELL" not in page
    assert "CODE_OF_PLAIN_CELL" in page and _printed(page, "OUTPUT_OF_PLAIN_CELL")
    assert 'class="highlight' in page, "shown code is highlighted"
    assert "STDERR_WARNING_TEXT" in page, "with code shown, warnings are shown too"


def test_code_is_hidden_by_default_and_tags_still_apply(rendered: dict[str, Path]) -> None:
    page = rendered["wide.html"].read_text(encoding="utf-8")
    assert "CODE_OF_" not in page
    assert "OUTPUT_OF_REMOVE_INPUT" in page and "OUTPUT_OF_PLAIN_CELL" in page
    assert "OUTPUT_OF_REMOVE_OUTPUT" not in page and "OUTPUT_OF_REMOVE_CELL" not in page
    assert "STDERR_WARNING_TEXT" not in page, "warnings are noise in a report"
    assert "matplotlib.lines.Line2D" not in page, "bare object reprs are dropped"
    assert "api_token" not in page and TOKEN not in page


def test_formulas_are_typeset_without_a_cdn_or_left_readable(rendered: dict[str, Path]) -> None:
    page = rendered["wide.html"].read_text(encoding="utf-8")
    assert page.count('class="math math-inline"') >= 1
    assert 'class="math math-display"' in page, "display math and text/latex outputs"
    assert "data:image/svg+xml;base64," in page
    assert "\\frac{1}{n-1}" not in _text(page), "typeset formulas are images (their TeX stays as alt text)"
    assert 'alt="\\sigma^2 = \\frac{1}{n-1}' in page
    assert '<code class="math math-tex">\\begin{pmatrix} a &amp; b \\end{pmatrix}</code>' in page


def test_tables_and_figures_carry_print_layout_hints(rendered: dict[str, Path]) -> None:
    page = rendered["wide.html"].read_text(encoding="utf-8")
    assert "afw-table-widest" in page, "30 columns"
    assert "celltag_afw-landscape" in page
    assert "celltag_afw-figure" in page and "celltag_afw-caption" in page
    assert re.search(r"celltag_afw-caption[^>]*>.*?FIGURE_CAPTION_TEXT", page, re.DOTALL)


def test_failed_notebook_report_shows_the_whole_traceback(rendered: dict[str, Path]) -> None:
    page = rendered["failed.html"].read_text(encoding="utf-8")
    text = _text(page)
    assert "LONG_TRACEBACK_ERROR: calls_2026-11-24.csv has 0 rows" in text
    plain = html.unescape(re.sub(r"<[^>]+>", "", page))  # highlighted tokens joined again
    assert plain.count("return check(depth - 1, path)") >= 40, "every frame of the long traceback is there"
    assert "\x1b[" not in page, "ANSI colour codes are turned into HTML"
    assert not _printed(page, "NEVER_PRINTED"), "the cells after the failure did not run"
    assert "status-failed" in page and "Nightly load check" in page


def test_only_pdf_leaves_no_html_behind(executed: dict[str, Path], tmp_path: Path) -> None:
    written = render_report(executed["report"], tmp_path, "report", ["pdf"], report_context())
    assert written == [tmp_path / "report.pdf"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]


def test_unknown_format_or_engine_is_a_render_error(executed: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="docx"):
        render_report(executed["report"], tmp_path, "report", ["docx"], report_context())
    with pytest.raises(RenderError, match="princexml"):
        render_report(executed["report"], tmp_path, "report", ["pdf"], report_context(), pdf_engine="princexml")


def _notebook(path: Path, *cells: nbformat.NotebookNode) -> Path:
    nb = new_notebook(cells=list(cells))
    nbformat.write(nb, str(path))
    return path


def test_a_notebook_without_heading_is_titled_by_its_name(tmp_path: Path) -> None:
    cell = new_code_cell("x", outputs=[new_output("stream", name="stdout", text="hello")])
    notebook = _notebook(tmp_path / "in.ipynb", cell)
    [html] = render_report(notebook, tmp_path / "out", "weekly_summary", ["html"], report_context())
    assert '<h1 class="report-title">Weekly summary</h1>' in html.read_text(encoding="utf-8")


def test_local_markdown_images_are_embedded_and_a_token_printed_by_mistake_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-flowapi-token-value"
    monkeypatch.setenv("FLOWAPI_TOKEN", secret)
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')
    printed = new_code_cell(
        "print(os.environ)", outputs=[new_output("stream", name="stdout", text=f"T={secret} J={TOKEN}")]
    )
    notebook = _notebook(tmp_path / "in.ipynb", new_markdown_cell("# Logo\n\n![logo](logo.svg)"), printed)
    [html] = render_report(notebook, tmp_path / "out", "logo", ["html"], report_context())
    page = html.read_text(encoding="utf-8")
    assert 'src="data:image/svg+xml;base64,' in page and 'src="logo.svg"' not in page
    assert secret not in page and TOKEN not in page and "[redacted]" in page


def test_offline_filter_strips_every_kind_of_remote_reference_and_nothing_else() -> None:
    fragment = (
        '<img srcset="https://a.example/x.png 2x, data:image/png;base64,AA 1x">'
        "<video poster='//b.example/p.jpg' src=\"https://b.example/v.mp4\"></video>"
        '<object data="http://c.example/o.swf"></object>'
        '<svg viewBox="0 0 4 4"><image href="https://d.example/i.png"/></svg>'
        "<p style=\"background-image:url( '//e.example/bg.png' )\">kept text</p>"
        '<a href="https://f.example/page">kept link</a><img src="data:image/png;base64,AAAA" alt="kept">'
    )
    cleaned = offline_html(fragment)
    assert remote_resources(cleaned) == []
    for kept in ('<a href="https://f.example/page">kept link</a>', "kept text", 'src="data:image/png;base64,AAAA"'):
        assert kept in cleaned
    assert '<svg viewBox="0 0 4 4">' in cleaned, "markup around is untouched (case of SVG attributes)"
    plain = '<div class="x"><p>no urls here: a/b // c</p></div>'
    assert offline_html(plain) == plain
