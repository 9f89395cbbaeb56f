"""The daemon's sources, as the registry and the configuration say: all only record facts."""

from __future__ import annotations

from collections.abc import Callable

from autoflow_watch.daemon.context import Context
from autoflow_watch.logs import get_logger
from autoflow_watch.sources import registry
from autoflow_watch.sources.source import Source, SourceContext

log = get_logger("autoflow_watch.sources")


class Sources:
    """Builds the configured sources from the registry; starts, reloads, checks and stops them."""

    def __init__(
        self,
        ctx: Context,
        on_rejected: Callable[[], None] = lambda: None,
        on_error: Callable[[str], None] = lambda source: None,
    ) -> None:
        self._ctx = ctx
        self._on_rejected = on_rejected  # for metrics: a marker went to rejected/
        self._on_error = on_error  # for metrics: a source's poll failed (its name)
        self._sources: dict[str, Source] = {}
        self._started = False

    def __getitem__(self, name: str) -> Source | None:
        return self._sources.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._sources)

    def _context(self) -> SourceContext:
        config = self._ctx.config
        return SourceContext(
            app=config.app,
            record=self._ctx.store.facts.record_batch,
            on_new_facts=self._ctx.prompt_planning,
            on_failed_poll=self._on_error,
            on_rejected=self._on_rejected,
            wanted=lambda: {name: wf.datasets for name, wf in self._ctx.config.workflows.items()},
            is_used=lambda dataset: any(dataset in wf.datasets for wf in self._ctx.config.workflows.values()),
        )

    def start(self, *, once: bool) -> None:
        """Build every configured source; ``once``: poll each once in turn, else start each."""
        ctx = self._context()
        for kind in registry.configured(ctx.app):
            source = kind.build(ctx)
            self._sources[kind.section] = source
            if once:
                outcome = source.poll_once()
                log.info(
                    f"{kind.section}.polled_once",
                    ok=outcome.ok,
                    failure=outcome.failure.value if outcome.failure else None,
                    facts=outcome.facts,
                    new_facts=outcome.new_facts,
                    datasets=list(outcome.datasets),
                    error=outcome.message or None,
                )
            else:
                source.start()
        self._started = not once

    def reconfigure(self) -> None:
        """After a reload: each source takes the new configuration, or is replaced by a fresh one."""
        ctx = self._context()
        for name, source in list(self._sources.items()):
            kind = registry.SOURCES.get(name)
            if source.reload(ctx) and kind is not None:
                source.stop()
                self._sources[name] = fresh = kind.build(ctx)
                fresh.start()

    def token(self) -> str | None:
        flowapi = self._sources.get("flowapi")
        if flowapi is None:  # not configured: its module (httpx, which imports rich) is never imported
            return None
        from autoflow_watch.sources.flowapi.source import FlowApiSource

        return flowapi.token() if isinstance(flowapi, FlowApiSource) else None

    def health_checks(self) -> dict[str, Callable[[], bool]]:
        """One check per running source, asking whichever source has that name now (a reload may
        replace it)."""
        if not self._started:
            return {}
        return {name: self._healthy(name) for name, source in self._sources.items() if source.running}

    def _healthy(self, name: str) -> Callable[[], bool]:
        return lambda: (source := self._sources.get(name)) is not None and source.healthy()

    def stop(self) -> None:
        for source in self._sources.values():
            if source.running:
                source.stop()
