"""Logging: structlog everywhere, JSON lines for journald, readable lines on a terminal.

stdout is reserved for a command's own output (``status --json`` must stay pure JSON), so
every log line goes to stderr. Secrets registered with :func:`register_secret` are
replaced in every rendered line, whatever field or exception they hide in.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
REDACTED = "[redacted]"


def register_secret(value: str | None) -> None:
    """Never let ``value`` reach a log line (a token, a password)."""
    if value and len(value) >= 6:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Replace every registered secret in ``text``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_event(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if not _secrets:
        return event
    for key, value in list(event.items()):
        if isinstance(value, str):
            event[key] = redact(value)
        elif value is not None and not isinstance(value, (int, float, bool)):
            text = repr(value)
            if redact(text) != text:
                event[key] = redact(text)
    return event


def _redact_rendered(_logger: Any, _name: str, event: Any) -> Any:
    return redact(event) if isinstance(event, str) else event


def configure(level: str = "info", stream: TextIO | None = None, json_lines: bool | None = None) -> None:
    """Configure structlog and the stdlib loggers of our dependencies (papermill, nbclient)."""
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not stream.isatty()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _redact_event,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, renderer, _redact_rendered],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer, _redact_rendered],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for noisy in ("papermill", "nbclient", "traitlets", "asyncio", "fontTools", "weasyprint", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("autoflow_watch").setLevel(numeric)


def get_logger(name: str, **bound: Any) -> Any:
    """A structlog logger; bind ``workflow``, ``reference_date``, ``run_id``, ``notebook`` for run lines."""
    return structlog.get_logger(name).bind(**bound) if bound else structlog.get_logger(name)
