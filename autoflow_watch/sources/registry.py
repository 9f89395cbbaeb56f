"""Which sources exist: one entry per config section, the daemon builds its sources from here.

A new source is a module with a class that follows :class:`~autoflow_watch.sources.source.Source`
(most derive from :class:`~autoflow_watch.sources.polling.PollingSource`) and one
:func:`register` line; ``daemon/`` needs no change. Entries build lazily so that an optional
extra (psycopg for FlowDB) is imported only when its section is configured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from autoflow_watch.config.model import AppConfig
from autoflow_watch.sources.source import Source, SourceContext


@dataclass(frozen=True)
class SourceKind:
    """A kind of source: whether the configuration asks for it, and how to build it."""

    section: str  # the config section, and the source's name in health checks, metrics and logs
    configured: Callable[[AppConfig], bool]
    build: Callable[[SourceContext], Source]


SOURCES: dict[str, SourceKind] = {}


def register(section: str, build: Callable[[SourceContext], Source], configured: Callable[[AppConfig], bool]) -> None:
    """Add (or replace) the kind of source of config section ``section``; sources start in this order."""
    SOURCES[section] = SourceKind(section, configured, build)


def unregister(section: str) -> None:
    SOURCES.pop(section, None)


def configured(app: AppConfig) -> list[SourceKind]:
    """The kinds of source this configuration uses, in registration order."""
    return [kind for kind in SOURCES.values() if kind.configured(app)]


def _inbox(ctx: SourceContext) -> Source:
    from autoflow_watch.sources.inbox.source import InboxSource

    return InboxSource(
        ctx.app.paths.inbox,
        ctx.app.inbox,
        ctx.record,
        on_fact=ctx.on_new_facts,
        is_used=ctx.is_used,
        on_rejected=ctx.on_rejected,
    )


def _flowapi(ctx: SourceContext) -> Source:
    from autoflow_watch.sources.flowapi.source import FlowApiSource

    assert ctx.app.flowapi is not None
    return FlowApiSource(
        ctx.app.flowapi,
        ctx.record,
        on_new_facts=ctx.on_new_facts,
        wanted=ctx.wanted(),
        on_failed_poll=lambda: ctx.on_failed_poll("flowapi"),
    )


def _flowdb(ctx: SourceContext) -> Source:
    from autoflow_watch.sources.flowdb.source import FlowDbSource  # psycopg is an optional extra

    assert ctx.app.flowdb is not None
    return FlowDbSource(
        ctx.app.flowdb,
        ctx.record,
        on_new_facts=ctx.on_new_facts,
        on_failed_poll=lambda: ctx.on_failed_poll("flowdb"),
    )


register("inbox", _inbox, lambda app: True)
register("flowapi", _flowapi, lambda app: app.flowapi is not None)
register("flowdb", _flowdb, lambda app: app.flowdb is not None)
