"""The PDF report: WeasyPrint from the HTML, paged for print, nothing clipped."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from render_checks import first_page_png, image_placements, pdf_page_size, pdf_pages, pdf_text, report_context
from structlog.testing import capture_logs

from autoflow_watch.render.pdf import _data_only_fetcher, weasyprint_pdf
from autoflow_watch.render.report import render_report

A4 = (595.3, 841.9)
LETTER = (612.0, 792.0)
MARGIN_PT = 40  # the stylesheet's margins are 16-20 mm (45-57 pt): content stays inside this


def test_example_pdf_has_its_pages_running_header_and_page_numbers(rendered: dict[str, Path]) -> None:
    pdf = rendered["report.pdf"]
    assert 2 <= pdf_pages(pdf) <= 3
    first = pdf_text(pdf, 1)
    assert "Daily mobility report" in first and "Reference date" in first.replace("REFERENCE DATE", "Reference date")
    assert "Page 1 of" in first and "run run-7f3a" in first
    second = pdf_text(pdf, 2)
    assert "daily-report · 2026-11-24" in second, "running header: workflow and date"
    assert "Daily mobility report" in second, "running header: the title"
    assert "Page 2 of" in second
    assert "Totals per region" in pdf_text(pdf)
    assert pytest.approx(pdf_page_size(pdf), abs=1) == A4


def test_first_page_renders_as_a_real_report_not_a_blank_page(rendered: dict[str, Path], tmp_path: Path) -> None:
    png = first_page_png(rendered["report.pdf"], tmp_path, dpi=60)
    image = Image.open(png).convert("RGB")
    assert abs(image.width - 496) <= 1 and abs(image.height - 702) <= 1, "A4 at 60 dpi"
    pixels = np.asarray(image, dtype=np.int16)
    inked = float((pixels.min(axis=2) < 235).mean())
    assert 0.04 < inked < 0.5, f"{inked:.1%} of the page is ink: neither blank nor a solid block"
    colours = {tuple(c) for c in (pixels // 32).reshape(-1, 3).tolist()}
    assert len(colours) > 20, "the chart's colours are there, not only black text"
    band = pixels[int(image.height * 0.1) : int(image.height * 0.2)]
    blue = (band[..., 2] > band[..., 0] + 60) & (band[..., 2] > 120)
    assert blue.any(), "the header's blue rule is drawn"
    assert any(p[0] == 1 for p in image_placements(rendered["report.pdf"])), "the chart is on page 1"


def test_wide_table_is_printed_whole_on_a_landscape_page(rendered: dict[str, Path]) -> None:
    pdf = rendered["wide.pdf"]
    text = pdf_text(pdf)
    for column in ("ind_00", "ind_15", "ind_29"):
        assert column in text, f"column {column} is not clipped"
    assert "Region L" in text
    page = next(n for n in range(1, pdf_pages(pdf) + 1) if "ind_29" in pdf_text(pdf, n))
    assert "Wide table" in pdf_text(pdf, page), "the table's heading went with it"
    from pypdf import PdfReader

    box = PdfReader(str(pdf)).pages[page - 1].mediabox
    assert float(box.width) > float(box.height), "the 30-column table got a landscape page"


def test_tall_figure_is_scaled_onto_one_page_with_its_caption(rendered: dict[str, Path]) -> None:
    pdf = rendered["wide.pdf"]
    placements = image_placements(pdf)
    assert placements, "the figures are in the PDF"
    for page, x, y, width, height, page_width, page_height in placements:
        assert x >= MARGIN_PT - 1 and x + width <= page_width - MARGIN_PT + 1, f"page {page}: clipped sideways"
        assert y >= MARGIN_PT - 1 and y + height <= page_height - MARGIN_PT + 1, f"page {page}: clipped at an edge"
    tallest = max(placements, key=lambda p: p[4])
    assert tallest[4] / tallest[3] == pytest.approx(3.0, rel=0.05), "scaled, not squashed (6x18 inch figure)"
    assert "FIGURE_CAPTION_TEXT" in pdf_text(pdf, tallest[0]), "the caption is on the figure's page"


def test_pdf_page_count_and_text_of_the_harder_notebooks(rendered: dict[str, Path]) -> None:
    assert 3 <= pdf_pages(rendered["wide.pdf"]) <= 6
    text = pdf_text(rendered["wide.pdf"])
    assert "Regional indicators: wide table and tall figure" in text and "REMOTE_HTML_OUTPUT" in text
    assert "CODE_OF_" not in text and "STDERR_WARNING_TEXT" not in text
    failed = rendered["failed.pdf"]
    assert 3 <= pdf_pages(failed) <= 8, "a long traceback flows over pages"
    failed_text = pdf_text(failed)
    assert "LONG_TRACEBACK_ERROR" in failed_text and "failed" in pdf_text(failed, 1)


def test_letter_paper_is_configurable(executed: dict[str, Path], tmp_path: Path) -> None:
    [pdf] = render_report(executed["report"], tmp_path, "report", ["pdf"], report_context(paper_size="Letter"))
    assert pytest.approx(pdf_page_size(pdf), abs=1) == LETTER


def test_weasyprint_reads_data_urls_only_never_the_network_or_files() -> None:
    fetcher = _data_only_fetcher()
    for url in ("https://cdn.example.org/x.css", "http://169.254.169.254/latest", "file:///etc/passwd"):
        with pytest.raises(Exception, match=r"protocol|data: URLs"):
            fetcher(url)
    assert fetcher("data:text/plain;base64,aGk=") is not None


def test_loads_refused_on_purpose_are_one_info_line_not_an_error_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    page = "".join(f'<p><img src="{url}"></p>' for url in ("https://cdn.example.org/a.png", "file:///etc/passwd"))
    with caplog.at_level(logging.DEBUG, logger="weasyprint"), capture_logs() as lines:
        weasyprint_pdf(f"<html><body>{page}<p>text</p></body></html>", tmp_path, tmp_path / "r.pdf")
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    [said] = [line for line in lines if line["event"] == "report.pdf.loads_refused"]
    assert said["log_level"] == "info" and said["refused"] == 2 and "cdn.example.org" in said["first"]
