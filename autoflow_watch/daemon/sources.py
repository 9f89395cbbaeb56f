"""The daemon's sources: the inbox always, FlowAPI and FlowDB when configured. All only record facts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from autoflow_watch.daemon.context import Context
from autoflow_watch.logs import get_logger
from autoflow_watch.sources.flowapi import FlowApiSource
from autoflow_watch.sources.inbox import InboxSource
from autoflow_watch.store.records import Fact, FactChange

if TYPE_CHECKING:
    from autoflow_watch.sources.flowdb import FlowDbSource

log = get_logger("autoflow_watch.sources")


class Sources:
    """Starts, supervises and stops the daemon's sources, and gives their health checks."""

    def __init__(
        self,
        ctx: Context,
        on_rejected: Callable[[], None] = lambda: None,
        on_error: Callable[[str], None] = lambda source: None,
    ) -> None:
        self._ctx = ctx
        self._on_rejected = on_rejected  # for metrics: a marker went to rejected/
        self._on_error = on_error  # for metrics: a source's poll failed (its name)
        self.inbox: InboxSource | None = None
        self.flowapi: FlowApiSource | None = None
        self.flowdb: FlowDbSource | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _is_used(self, dataset: str) -> bool:
        return any(dataset in wf.datasets for wf in self._ctx.config.workflows.values())

    def _new_inbox(self) -> InboxSource:
        config = self._ctx.config.app
        return InboxSource(
            config.paths.inbox,
            config.inbox,
            self._ctx.store.facts.record_batch,
            on_fact=self._ctx.prompt_planning,
            is_used=self._is_used,
            on_rejected=self._on_rejected,
        )

    def start(self, *, once: bool) -> None:
        config = self._ctx.config.app
        self.inbox = self._new_inbox()
        if once:
            self._scan_until_settled(self.inbox)
        else:
            self.inbox.start()
        if config.flowapi is not None:
            self._start_flowapi(once)
        if config.flowdb is not None:
            self._start_flowdb(once)

    def _scan_until_settled(self, inbox: InboxSource) -> None:
        """``run --once``: a marker touched just now is waited for, not left for a next run."""
        inbox.make_folders()
        deadline = time.monotonic() + self._ctx.config.app.inbox.settle.total_seconds() + 1.0
        while inbox.scan().deferred and time.monotonic() < deadline:
            time.sleep(0.2)

    def _wanted(self) -> dict[str, tuple[str, ...]]:
        return {name: wf.datasets for name, wf in self._ctx.config.workflows.items()}

    def reconfigure(self) -> None:
        """After a reload: watch the inbox with its new settings; tell FlowAPI the datasets now wanted."""
        inbox = self.inbox
        if inbox is not None and inbox.running and inbox.config != self._ctx.config.app.inbox:
            inbox.stop()  # a scan of the new watch's start finds whatever arrived in between
            self.inbox = self._new_inbox()
            self.inbox.start()
        if self.flowapi is not None:
            self.flowapi.set_wanted(self._wanted())

    def _start_flowapi(self, once: bool) -> None:
        config = self._ctx.config.app.flowapi
        assert config is not None
        source = FlowApiSource(
            config,
            self._record_many,
            on_new_facts=self._ctx.prompt_planning,
            wanted=self._wanted(),
            on_failed_poll=lambda: self._on_error("flowapi"),
        )
        self.flowapi = source
        if once:
            outcome = source.poll_once()
            log.info(
                "flowapi.polled_once",
                ok=outcome.ok,
                failure=outcome.kind,
                facts=outcome.facts,
                new_facts=outcome.new_facts,
                datasets=list(outcome.datasets),
                error=outcome.message or None,
            )
            return
        thread = threading.Thread(target=source.run, args=(self._stop,), name="flowapi-poller", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_flowdb(self, once: bool) -> None:
        from autoflow_watch.sources.flowdb import FlowDbSource  # psycopg is an optional extra

        config = self._ctx.config.app.flowdb
        assert config is not None
        source = FlowDbSource(
            config,
            self._record_many,
            on_new_facts=self._ctx.prompt_planning,
            on_failed_poll=lambda: self._on_error("flowdb"),
        )
        self.flowdb = source
        if once:
            outcome = source.poll_once()
            log.info(
                "flowdb.polled_once",
                ok=outcome.ok,
                failure=outcome.failure.value if outcome.failure else None,
                facts=outcome.facts,
                new_facts=outcome.new_facts,
                error=outcome.message or None,
            )
            return
        thread = threading.Thread(target=source.run, args=(self._stop,), name="flowdb-listener", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _record_many(self, facts: list[Fact]) -> dict[Fact, FactChange]:
        return self._ctx.store.facts.record_many(facts)

    def token(self) -> str | None:
        return self.flowapi.token() if self.flowapi is not None else None

    def health_checks(self) -> dict[str, Callable[[], bool]]:
        checks: dict[str, Callable[[], bool]] = {}
        if self.inbox is not None and self.inbox.running:
            checks["inbox"] = lambda: self.inbox is not None and self.inbox.healthy()  # the current watch
        if self.flowapi is not None and self._threads:
            checks["flowapi"] = self.flowapi.healthy
        if self.flowdb is not None and self._threads:
            checks["flowdb"] = self.flowdb.healthy
        return checks

    def stop(self) -> None:
        self._stop.set()
        if self.inbox is not None and self.inbox.running:
            self.inbox.stop()
        for thread in self._threads:
            thread.join(timeout=10)
