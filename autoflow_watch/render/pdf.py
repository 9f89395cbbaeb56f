"""HTML report -> PDF: WeasyPrint by default (pip-only, no TeX, no browser), chromium on request."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path


class RenderError(Exception):
    """A report could not be rendered; the message says which engine and what to do."""


def render_pdf(html_text: str, html_path: Path, output_path: Path, engine: str = "weasyprint") -> None:
    if engine == "chromium":
        _chromium(html_path, output_path)
        return
    import weasyprint

    weasyprint.HTML(string=html_text, base_url=str(html_path.parent)).write_pdf(str(output_path))


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _chromium(html_path: Path, output_path: Path) -> None:
    binary = chromium_binary()
    if binary is None:
        raise RenderError(
            'pdf_engine = "chromium" needs Debian\'s chromium (apt-get install chromium); '
            'or use the default pdf_engine = "weasyprint"'
        )
    with tempfile.TemporaryDirectory(prefix="afw-chromium-") as profile:
        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={output_path}",
            html_path.resolve().as_uri(),
        ]
        try:
            result = subprocess.run(args, capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise RenderError("chromium took over 120 s to print the report to PDF") from None
    if result.returncode != 0 or not output_path.exists():
        raise RenderError(f"chromium failed to print the report (exit {result.returncode})")
