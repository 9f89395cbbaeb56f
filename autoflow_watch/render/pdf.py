"""HTML report -> PDF. WeasyPrint by default: pip-installable, no TeX, no browser, ~0.5 s a report.

WeasyPrint prints the very page the HTML report is, with the print rules of its stylesheet.
It is given a URL fetcher that only reads ``data:`` URLs: the page embeds everything it
needs, so anything else would be a remote or local file a report has no business reading,
and a PDF must never wait on the network.

``pdf_engine = "chromium"`` is for reports whose outputs need JavaScript to draw themselves;
see :mod:`autoflow_watch.render.chromium`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from autoflow_watch.logs import get_logger
from autoflow_watch.render.chromium import chromium_pdf
from autoflow_watch.render.errors import RenderError

ENGINES = ("weasyprint", "chromium")
REFUSED = "disallowed protocol"  # WeasyPrint's words when our fetcher's allowed_protocols says no
log = get_logger("autoflow_watch.render")


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
    with _refusals_said_once(output_path):
        document.write_pdf(str(output_path))


class _RefusedLoads(logging.Filter):
    """Holds back WeasyPrint's error line for each load our fetcher refused (on this thread), counting them."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.urls: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread or record.levelno < logging.ERROR or not record.args:
            return True
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        if not any(REFUSED in str(arg) or "data: URLs" in str(arg) for arg in args):
            return True
        self.urls.append(str(args[0])[:120])
        return False


@contextmanager
def _refusals_said_once(output_path: Path) -> Iterator[None]:
    """The loads refused on purpose (a report reads nothing but data: URLs) are one info line, not an error each."""
    refused = _RefusedLoads()
    weasyprint_log = logging.getLogger("weasyprint")
    weasyprint_log.addFilter(refused)
    try:
        yield
    finally:
        weasyprint_log.removeFilter(refused)
        if refused.urls:
            log.info("report.pdf.loads_refused", pdf=output_path.name, refused=len(refused.urls), first=refused.urls[0])


def render_pdf(html_text: str, html_path: Path, output_path: Path, engine: str = "weasyprint") -> None:
    """Make ``output_path`` from the report page (its text, and its file for chromium)."""
    if engine == "weasyprint":
        weasyprint_pdf(html_text, html_path.parent, output_path)
    elif engine == "chromium":
        chromium_pdf(html_path, output_path)
    else:
        raise RenderError(f"unknown pdf_engine {engine!r}: use one of {', '.join(ENGINES)}")
