"""Test helpers for reports: execute notebooks, find remote references, read PDFs with poppler."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import papermill

from autoflow_watch.render.context import ReportContext

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "notebooks"
FIXTURES = REPO / "tests" / "fixtures" / "notebooks_render"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyZW5kZXItdGVzdCJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
EXAMPLE_PARAMETERS = {
    "reference_date": "2026-11-24",
    "date_ranges": [["2026-11-18", "2026-11-25"]],
    "workflow_name": "daily-report",
    "region": "admin2",
}

_REMOTE_URL = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
_CSS_REMOTE = re.compile(r"""url\(\s*["']?\s*(?:https?:)?//|@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//""", re.I)
_LOADING = {"src", "href", "srcset", "data", "poster", "xlink:href"}


def report_context(status: str = "succeeded", paper_size: str = "A4", workflow: str = "daily-report") -> ReportContext:
    """A run's context as the worker builds it: it took 83 seconds and just finished."""
    finished = time.time()
    return ReportContext(workflow, "2026-11-24", "run-7f3a", finished - 83, finished, status, paper_size)


def execute(source: Path, output: Path, *, cwd: Path, expect_failure: bool = False, **parameters: Any) -> Path:
    """Run a notebook with papermill the way the daemon does; a failed run still leaves its output."""
    try:
        papermill.execute_notebook(
            str(source),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(cwd),
            progress_bar=False,
            execution_timeout=120,
        )
    except papermill.PapermillExecutionError:
        if not expect_failure:
            raise
    else:
        assert not expect_failure, f"{source.name} was expected to fail"
    return output


class _ResourceCollector(HTMLParser):
    """Every URL an element would load (links <a>/<area> are not loads)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[tuple[str, str, str]] = []
        self._in_style = False
        self.css: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for key, value in attrs:
            if value is None:
                continue
            if key == "style":
                self.css.append(value)
            elif key in _LOADING and not (tag in {"a", "area"} and key == "href"):
                for url in value.split(",") if key == "srcset" else [value]:
                    self.loads.append((tag, key, url.strip().split(" ")[0]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.append(data)


def remote_resources(page: str) -> list[str]:
    """Remote resource references in an HTML page: element loads, CSS url() and @import."""
    collector = _ResourceCollector()
    collector.feed(page)
    found = [f"<{tag} {key}={url}>" for tag, key, url in collector.loads if _REMOTE_URL.match(url)]
    found += [m.group(0) for css in collector.css for m in _CSS_REMOTE.finditer(css)]
    found += [m.group(0) for m in _CSS_REMOTE.finditer(page)]  # also outside <style>, in case of odd markup
    return found


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise AssertionError(f"{tool} is needed (Debian package poppler-utils)")
    return path


def pdf_text(pdf: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(
        [poppler("pdftotext"), "-layout", *pages, str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run([poppler("pdfinfo"), str(pdf)], check=True, capture_output=True, text=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))  # type: ignore[union-attr]


def pdf_page_size(pdf: Path) -> tuple[float, float]:
    info = subprocess.run([poppler("pdfinfo"), str(pdf)], check=True, capture_output=True, text=True).stdout
    match = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts", info, re.MULTILINE)
    assert match, info
    return float(match.group(1)), float(match.group(2))


def first_page_png(pdf: Path, folder: Path, dpi: int = 60) -> Path:
    prefix = folder / f"{pdf.stem}-page"
    subprocess.run(
        [poppler("pdftoppm"), "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(prefix)],
        check=True,
    )
    return prefix.with_suffix(".png")


def image_placements(pdf: Path) -> list[tuple[int, float, float, float, float, float, float]]:
    """Raster images drawn in ``pdf``: (page, x, y, width, height, page width, page height) in points."""
    from pypdf import PdfReader

    placed = []
    for number, page in enumerate(PdfReader(str(pdf)).pages, start=1):
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        matrices: list[list[float]] = []

        def visit(operator: bytes, _args: Any, cm: list[float], _tm: Any, into: list[list[float]] = matrices) -> None:
            if operator == b"Do":
                into.append(list(cm))

        page.extract_text(visitor_operand_before=visit)
        placed += [(number, m[4], m[5], m[0], m[3], width, height) for m in matrices]
    return placed
