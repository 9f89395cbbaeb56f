"""Logging: structlog everywhere, JSON lines for journald, readable lines on a terminal.

stdout is reserved for a command's own output (``status --json`` must stay pure JSON), so
every log line goes to stderr. Secrets registered with :func:`autoflow_watch.secrets.register_secret` are
replaced in every rendered line, whatever field or exception they hide in.

journald gives every line of a service's stderr the priority "info" unless the line starts
with a syslog level prefix such as ``<4>`` (sd-daemon(3); ``SyslogLevelPrefix=`` defaults
to yes), which it strips. So when stderr *is* the journal (``$JOURNAL_STREAM`` names its
device and inode, systemd.exec(5)) each line gets the prefix of its level, and
``journalctl -p warning`` works; anywhere else (a pipe, a file, a test) lines stay plain JSON.
The native journal protocol would add fields of its own, but needs a socket and a
dependency for what one prefix per line already gives.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

from autoflow_watch.lean_imports import import_without

# structlog would import rich (about 1 s of CPU) for console tracebacks: only a console renderer (a
# terminal) uses it, and _console_renderer lets structlog see it then; JSON lines never need it.
import_without("structlog", "rich")
import structlog  # noqa: E402

from autoflow_watch.secrets import has_secrets, redact  # noqa: E402


def _redact_event(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if not has_secrets():
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


_run_context: dict[str, Any] = {}
RUN_KEYS = ("workflow", "reference_date", "run_id", "notebook")


def bind_run(**values: Any) -> None:
    """Tag every later line of this process with a run's keys (a worker serves one run).

    Process-wide rather than a context variable, so that lines papermill, nbclient and
    traitlets log from their own threads and event loops carry the run's keys too.
    """
    _run_context.update(values)


def _merge_run_context(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in _run_context.items():
        event.setdefault(key, value)
    return event


def _complete_run_keys(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A line about a run names all four run keys, null where it has none (no attempt yet, or no notebook).

    So ``jq 'select(.run_id == ...)'`` and a reader's schema never meet a missing key.
    """
    if "workflow" in event and "reference_date" in event:
        for key in RUN_KEYS:
            event.setdefault(key, None)
    return event


# syslog(3) priorities, as the "<N>" prefixes of sd-daemon(3); "notice" (5) has no Python level.
PRIORITIES = {"critical": 2, "fatal": 2, "error": 3, "exception": 3, "warning": 4, "warn": 4, "info": 6, "debug": 7}


def stream_is_journal(stream: TextIO) -> bool:
    """True when ``stream`` is the journal stream systemd connected, not merely inherited the variable.

    A process started by the service with its stderr redirected (a test, a shell pipeline)
    keeps ``$JOURNAL_STREAM``; only the device and inode of the descriptor itself tell.
    """
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # closed, or no descriptor at all (StringIO)
        return False
    return (info.st_dev, info.st_ino) == (int(device), int(inode))


def journal_prefix(level: str) -> str:
    """The ``<N>`` prefix journald reads as the priority of a line logged at ``level``."""
    return f"<{PRIORITIES.get(level.lower(), 6)}>"


def _prefix_priority(_logger: Any, name: str, event: Any) -> Any:
    """Last processor: ``name`` is the level the line was logged at (structlog or stdlib)."""
    return journal_prefix(name) + event if isinstance(event, str) else event


def error_line(text: str, stream: TextIO | None = None) -> None:
    """Write a plain (non-JSON) error line to stderr, at priority "err" in the journal.

    For the command line's own messages (a bad config, a usage error), which are written
    before or outside the structured logs but must still show up in ``journalctl -p err``.
    """
    stream = stream or sys.stderr
    prefix = journal_prefix("error") if stream_is_journal(stream) else ""
    stream.write(f"{prefix}{redact(text)}\n")


class _NamedPrintLogger(structlog.PrintLogger):
    """A PrintLogger that knows the name it was asked for, for ``add_logger_name``."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


def _named_print_loggers(stream: TextIO) -> Callable[..., _NamedPrintLogger]:
    def factory(*args: Any) -> _NamedPrintLogger:
        return _NamedPrintLogger(stream, str(args[0]) if args else "autoflow_watch")

    return factory


def configure(
    level: str = "info", stream: TextIO | None = None, json_lines: bool | None = None, journal: bool | None = None
) -> None:
    """Configure structlog and the stdlib loggers of our dependencies (papermill, nbclient).

    ``journal`` (default: detected, see :func:`stream_is_journal`) adds the priority prefix.
    """
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not stream.isatty()
    if journal is None:
        journal = stream_is_journal(stream)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _merge_run_context,
        _complete_run_keys,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _redact_event,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json_lines else _console_renderer(stream.isatty())
    numeric = logging.getLevelName(level.upper())
    rendering: list[Any] = [renderer, _redact_rendered, *([_prefix_priority] if journal else [])]
    structlog.configure(
        processors=[structlog.stdlib.add_logger_name, *shared, *rendering],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_named_print_loggers(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for noisy in ("papermill", "nbclient", "traitlets", "asyncio", "fontTools", "weasyprint", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("autoflow_watch").setLevel(numeric)


def _console_renderer(colors: bool) -> Any:
    """structlog's console renderer, with rich's tracebacks when rich is installed (held back at import)."""
    import importlib
    import importlib.util

    if getattr(structlog.dev, "rich", None) is None and importlib.util.find_spec("rich") is not None:
        importlib.reload(structlog.tracebacks)
        importlib.reload(structlog.dev)
    return structlog.dev.ConsoleRenderer(colors=colors)


def get_logger(name: str, **bound: Any) -> Any:
    """A structlog logger; bind ``workflow``, ``reference_date``, ``run_id``, ``notebook`` for run lines."""
    # Initial values, not .bind(): a module-level logger made before configure() stays lazy and
    # follows the configuration; .bind() would assemble it from structlog's defaults there and then.
    return structlog.get_logger(name, **bound)
