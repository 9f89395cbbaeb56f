"""HTML report -> PDF. WeasyPrint by default: pip-installable, no TeX, no browser, ~0.5 s a report.

WeasyPrint prints the very page the HTML report is, with the print rules of its stylesheet.
It is given a URL fetcher that only reads ``data:`` URLs: the page embeds everything it
needs, so anything else would be a remote or local file a report has no business reading,
and a PDF must never wait on the network.

``pdf_engine = "chromium"`` is for reports whose outputs need JavaScript to draw themselves;
see :mod:`autoflow_watch.render.chromium`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoflow_watch.render.chromium import chromium_pdf
from autoflow_watch.render.errors import RenderError

ENGINES = ("weasyprint", "chromium")


def _data_only_fetcher() -> Any:
    """A WeasyPrint URL fetcher that refuses every scheme but ``data:``."""
    from weasyprint import urls

    if hasattr(urls, "URLFetcher"):  # WeasyPrint >= 67
        return urls.URLFetcher(allowed_protocols=("data",), timeout=1)

    def fetch(url: str, timeout: int = 1, ssl_context: Any = None) -> Any:
        if not url.lower().startswith("data:"):
            raise ValueError(f"reports load nothing but data: URLs, not {url[:80]}")
        return urls.default_url_fetcher(url, timeout=timeout)

    return fetch


def weasyprint_pdf(html_text: str, base_dir: Path, output_path: Path) -> None:
    """Print ``html_text`` with WeasyPrint's print stylesheet handling into ``output_path``."""
    import weasyprint

    document = weasyprint.HTML(string=html_text, base_url=str(base_dir) + "/", url_fetcher=_data_only_fetcher())
    document.write_pdf(str(output_path))


def render_pdf(html_text: str, html_path: Path, output_path: Path, engine: str = "weasyprint") -> None:
    """Make ``output_path`` from the report page (its text, and its file for chromium)."""
    if engine == "weasyprint":
        weasyprint_pdf(html_text, html_path.parent, output_path)
    elif engine == "chromium":
        chromium_pdf(html_path, output_path)
    else:
        raise RenderError(f"unknown pdf_engine {engine!r}: use one of {', '.join(ENGINES)}")
