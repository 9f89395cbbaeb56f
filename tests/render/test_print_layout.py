"""Print layout details: table type sized to fit, numbers never broken, papermill's notices restyled."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from render_checks import pdf_pages, pdf_text, report_context

from autoflow_watch.render.report import render_report
from autoflow_watch.render.tables import WIDEST, WRAP, table_classes


def _table(columns: int, rows: int = 5, value: str = "1000.3", header: str = "ind_{:02d}") -> str:
    head = "".join(f"<th>{header.format(i)}</th>" for i in range(columns))
    body = "".join(
        f"<tr><th>Region {r}</th>" + "".join(f"<td>{value}</td>" for _ in range(columns)) + "</tr>" for r in range(rows)
    )
    return f'<table class="dataframe"><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>'


def _fit(classes: str) -> float:
    match = re.search(r"afw-fit-(\d+)", classes)
    assert match, classes
    return int(match.group(1)) / 10


def test_a_narrow_table_keeps_full_size_type_on_a_portrait_page() -> None:
    classes = table_classes(_table(6))
    assert _fit(classes) == 8.0 and WIDEST not in classes


def test_type_shrinks_with_width_and_the_widest_tables_go_landscape() -> None:
    sizes = [_fit(table_classes(_table(n))) for n in (6, 12, 16)]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] >= 6.5
    thirty = table_classes(_table(30))
    assert WIDEST in thirty and WRAP not in thirty and _fit(thirty) >= 5.5
    hopeless = table_classes(_table(90))
    assert WIDEST in hopeless and WRAP in hopeless and _fit(hopeless) == 5.0


def test_long_text_cells_wrap_between_words_and_do_not_force_landscape() -> None:
    sentence = "a long description of what this indicator measures and where it comes from " * 3
    classes = table_classes(_table(3, value=sentence))
    assert WIDEST not in classes and _fit(classes) == 8.0


def test_letter_is_narrower_than_a4_so_its_type_is_never_larger() -> None:
    for columns in (10, 14, 18, 26, 30):
        a4, letter = table_classes(_table(columns), "A4"), table_classes(_table(columns), "Letter")
        assert _fit(letter) <= _fit(a4), columns


def test_every_number_of_the_30_column_table_is_printed_whole(rendered: dict[str, Path]) -> None:
    page = rendered["wide.html"].read_text(encoding="utf-8")
    table = page[page.index("ind_29") : page.index("</table>", page.index("ind_29"))]
    numbers = re.findall(r"<td>\s*(-?\d+\.\d)\s*</td>", table)
    assert len(numbers) == 12 * 30
    pdf = rendered["wide.pdf"]
    landscape = next(n for n in range(1, pdf_pages(pdf) + 1) if "ind_29" in pdf_text(pdf, n))
    printed = pdf_text(pdf, landscape).split()
    missing = [n for n in numbers if n not in printed]
    assert missing == [], f"broken or clipped numbers: {missing[:10]}"
    assert all(f"Region {letter}" in pdf_text(pdf, landscape) for letter in "ABCDEFGHIJKL"), "labels on one line"


def test_wide_table_on_letter_paper_is_landscape_letter_and_whole(executed: dict[str, Path], tmp_path: Path) -> None:
    context = report_context(paper_size="Letter", workflow="indicators")
    [pdf] = render_report(executed["wide"], tmp_path, "wide", ["pdf"], context)
    from pypdf import PdfReader

    pages = PdfReader(str(pdf)).pages
    landscape = next(n for n in range(1, len(pages) + 1) if "ind_29" in pdf_text(pdf, n))
    box = pages[landscape - 1].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx((792, 612), abs=1)
    text = pdf_text(pdf, landscape)
    assert all(f"ind_{i:02d}" in text for i in range(30))


def test_papermills_error_notices_become_a_banner_and_a_marker(rendered: dict[str, Path]) -> None:
    page = rendered["failed.html"].read_text(encoding="utf-8")
    assert "font-size:2em" not in page and "color:red" not in page
    banner = re.search(r'<div class="afw-error-banner">(.*?)</div>', page, re.DOTALL)
    assert banner and '<a href="#papermill-error-cell">cell In [3]</a>' in banner.group(1)
    assert page.index("afw-error-banner") < page.index("Checks that yesterday"), "the banner opens the report"
    assert page.count('id="papermill-error-cell"') == 1, "the link has one target"
    marker = page.index('id="papermill-error-cell"')
    assert marker < page.index("LONG_TRACEBACK_ERROR"), "the marker sits before the failing cell"
