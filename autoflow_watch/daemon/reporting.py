"""Telling people and Prometheus how runs end: the daemon's side of ``[notify]`` and ``[metrics]``.

The main loop calls :meth:`Reporting.attempt_ended` once a run's new state is recorded; it
reads the attempt back from the store (the record of what happened, PublishError included),
counts it, and hands a :class:`RunEvent` to the dispatcher, which sends from its own threads.
Nothing here may fail or slow a run: every hook logs and carries on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoflow_watch.config import Config
from autoflow_watch.daemon.context import Context
from autoflow_watch.daemon.health import Health
from autoflow_watch.extensions import FORMATS
from autoflow_watch.logs import get_logger
from autoflow_watch.sources import registry
from autoflow_watch.store import tallies
from autoflow_watch.vocabulary import AttemptOutcome, AttemptRecord, Claim, RunState

log = get_logger("autoflow_watch.reporting")
SHUTDOWN_WAIT_S = 5.0  # how long SIGTERM waits for notifications in flight


class Reporting:
    """Owns the notification dispatcher and the metrics exporters, when the config asks for them."""

    def __init__(self, ctx: Context, health: Health) -> None:
        self._ctx = ctx
        self._health = health
        app = ctx.config.app
        self.dispatcher: Any = None
        self.metrics: Any = None
        self._exporters: list[Any] = []
        if app.notify is not None:
            from autoflow_watch.notify import Dispatcher, EventKind, load_targets

            targets = load_targets(app.notify)
            self.dispatcher = Dispatcher(targets, frozenset(EventKind(k) for k in app.notify.on))
        if app.metrics is not None:
            self._make_metrics(ctx.config)

    def _make_metrics(self, config: Config) -> None:
        from autoflow_watch.metrics import Metrics, MetricsServer, TextfileWriter

        self.metrics = Metrics(
            self._ctx.store.engine,
            workflows=lambda: list(self._ctx.config.workflows),
            components=self._components,
            notifications=self._notification_counts,
        )
        for kind in registry.configured(config.app):  # every source's error series, at zero
            self.metrics.source_errors.labels(kind.section)
        settings = config.app.metrics
        assert settings is not None
        if settings.listen:
            self._exporters.append(MetricsServer(settings.listen, self.metrics.registry))
        if settings.textfile:
            self._exporters.append(TextfileWriter(settings.textfile, self.metrics.registry))

    def _components(self) -> dict[str, bool]:
        failing = set(self._health.unhealthy())
        names = set(self._health.names())
        if self.dispatcher is not None:
            names.add("notify")
            if not self.dispatcher.healthy():
                failing.add("notify")
        return {name: name not in failing for name in names}

    def _notification_counts(self) -> list[tuple[int, int, int, int]]:
        if self.dispatcher is None:
            return []
        return [(t.index, c.sent, c.failed, c.dropped) for t, c in self.dispatcher.counts()]

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.start()
        for exporter in self._exporters:
            exporter.start()

    def stop(self) -> None:
        """At shutdown: wait a few seconds at most for messages in flight, write the last textfile."""
        if self.dispatcher is not None:
            self.dispatcher.close(SHUTDOWN_WAIT_S)
        for exporter in self._exporters:
            exporter.stop()

    def workflows_changed(self) -> None:
        if self.metrics is not None:
            self.metrics.workflows_changed()

    # -- hooks ---------------------------------------------------------------------------------------
    def rejected_marker(self) -> None:
        if self.metrics is not None:
            self.metrics.observe_rejected_marker()

    def source_error(self, source: str) -> None:
        if self.metrics is not None:
            self.metrics.observe_source_error(source)

    def attempt_ended(self, claim: Claim, state: RunState) -> None:
        """An attempt's end is recorded: count it and notify; never raises."""
        if self.metrics is None and self.dispatcher is None:
            return
        try:
            self._attempt_ended(claim, state)
        except Exception as error:  # a store hiccup or a bug here must not stop the loop
            log.error("reporting.failed", run_id=claim.run_id, error=f"{type(error).__name__}: {error}"[:300])

    def _attempt_ended(self, claim: Claim, state: RunState) -> None:
        record = self._ctx.store.runs.attempt(claim.run_id)
        if record is None:
            return
        outcome = record.outcome
        if self.metrics is not None:
            finished = record.finished_at
            duration = finished - claim.started_at if finished is not None else None
            self.metrics.observe_attempt(claim.workflow, outcome, duration)
            self.metrics.observe_reused(claim.workflow, len(self._ctx.store.runs.steps.reused(claim.run_id)))
            for exporter in self._exporters:
                getattr(exporter, "poke", lambda: None)()
        if self.dispatcher is not None:
            event = self._event(claim, state, record, outcome)
            if event is not None:
                self.dispatcher.submit(event)

    def _event(self, claim: Claim, state: RunState, record: AttemptRecord, outcome: AttemptOutcome) -> Any:
        from autoflow_watch.notify import RunEvent, classify
        from autoflow_watch.notify.events import first_line

        previous = None
        if outcome is AttemptOutcome.SUCCEEDED:
            previous = tallies.previous_counted_outcome(self._ctx.store.engine, claim.pk, claim.run_id)
        kind = classify(outcome, state is RunState.DEAD, previous is not None and previous.is_failure)
        if kind is None:
            return None
        workflow = self._ctx.config.workflows.get(claim.workflow)
        day = claim.reference_date.isoformat()
        folder, attachment = _where_it_is(self._ctx.config.app.paths.outbox, claim, record, kind.is_failure)
        error = first_line(record.error)
        error_type = record.error_type
        return RunEvent(
            kind=kind,
            workflow=claim.workflow,
            reference_date=day,
            run_id=claim.run_id,
            attempt=claim.attempt,
            max_attempts=workflow.max_attempts if workflow else claim.attempt,
            notebook=record.failing_notebook,
            cell=record.failing_cell,
            error=f"{error_type}: {error}" if error_type and error else (error or error_type),
            folder=folder,
            attachment=attachment,
            reused=tuple(self._ctx.store.runs.steps.reused(claim.run_id)),
        )


def _where_it_is(outbox: Path, claim: Claim, record: AttemptRecord, failure: bool) -> tuple[Path | None, Path | None]:
    """The folder a message points to and the file it attaches (failed notebook's HTML, report PDF)."""
    day = claim.reference_date.isoformat()
    if failure:
        folder = outbox / "_failed" / claim.workflow / day / claim.run_id
        if not folder.is_dir():
            return None, None
        notebook = record.failing_notebook
        html = folder / f"{notebook}.html" if notebook else None
        return folder, html if html is not None and html.is_file() else None
    folder = outbox / claim.workflow / day
    attachable = sorted((e for e in FORMATS.values() if e.attach_rank is not None), key=lambda e: e.attach_rank or 0)
    for entry in attachable:  # the PDF, else the HTML page (the registry ranks them)
        found = sorted(folder.glob(f"*.{entry.name}"))
        if found:
            return folder, found[0]
    return folder, None
