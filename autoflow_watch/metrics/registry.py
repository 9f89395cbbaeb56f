"""The daemon's Prometheus metrics, in a registry of its own.

What the store knows (runs by state, last success, facts) is read from it at each scrape, so
the page agrees with ``status --json`` and survives restarts; what happens in this process
(attempts finishing, their durations, rejected markers, source errors, notifications) is
counted as it happens. Labels stay bounded: workflow, state, outcome, source, component and
target index, never a date or a run id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from autoflow_watch.store import tallies
from autoflow_watch.vocabulary import AttemptOutcome, RunState

ATTEMPT_OUTCOMES = tuple(o for o in AttemptOutcome if o is not AttemptOutcome.RUNNING)
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, float("inf"))


class _StoreCollector(Collector):
    """Reads the store at scrape time: runs, last successes, facts, and whether the store answers."""

    def __init__(
        self,
        engine: Engine,
        workflows: Callable[[], Iterable[str]],
        components: Callable[[], Mapping[str, bool]],
    ) -> None:
        self._engine = engine
        self._workflows = workflows
        self._components = components

    def describe(self) -> list[Any]:
        return []  # collected on demand only: registration must not query the store

    def collect(self) -> Iterable[Any]:
        healthy = dict(self._components())
        try:
            runs = tallies.runs_by_workflow_and_state(self._engine)
            successes = tallies.last_success_by_workflow(self._engine)
            facts = tallies.facts_by_source(self._engine)
            healthy["store"] = True
        except SQLAlchemyError:
            runs, successes, facts = {}, {}, {}
            healthy["store"] = False
        yield from _run_families(runs, successes, set(self._workflows()))
        family = GaugeMetricFamily(
            "autoflow_watch_facts", "Facts in the store, by the source that reported them first", labels=["source"]
        )
        for source in sorted({"inbox", *facts}):
            family.add_metric([source], facts.get(source, 0))
        yield family
        up = GaugeMetricFamily(
            "autoflow_watch_component_healthy",
            "1 when the component works (main loop, sources, store, notify targets)",
            labels=["component"],
        )
        for name, ok in sorted(healthy.items()):
            up.add_metric([name], 1.0 if ok else 0.0)
        yield up


def _run_families(
    runs: Mapping[tuple[str, str], int], successes: Mapping[str, float], configured: set[str]
) -> Iterable[Any]:
    gauge = GaugeMetricFamily("autoflow_watch_runs", "Runs by workflow and state", labels=["workflow", "state"])
    for workflow in sorted(configured | {w for w, _ in runs}):
        for state in RunState:
            gauge.add_metric([workflow, state.value], runs.get((workflow, state.value), 0))
    yield gauge
    last = GaugeMetricFamily(
        "autoflow_watch_last_success_timestamp_seconds",
        "When the newest successful attempt of the workflow finished (Unix time)",
        labels=["workflow"],
    )
    for workflow, when in sorted(successes.items()):
        last.add_metric([workflow], when)
    yield last


def _without_created_series() -> None:
    """No ``*_created`` twin per counter: Prometheus does not need them and they double the page."""
    import prometheus_client

    disable = getattr(prometheus_client, "disable_created_metrics", None)
    if disable is not None:
        disable()


NotifyCounts = tuple[int, int, int, int]  # target index, messages sent, failed tries, events dropped


class _NotifyCollector(Collector):
    """The notification dispatcher's own counts, read at scrape time."""

    def __init__(self, counts: Callable[[], Iterable[NotifyCounts]]) -> None:
        self._counts = counts

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterable[Any]:
        family = CounterMetricFamily(
            "autoflow_watch_notifications",
            "Notifications by target (its index in [notify]) and outcome: sent messages, failed tries, dropped events",
            labels=["target", "outcome"],
        )
        for index, sent, failed, dropped in self._counts():
            for outcome, value in (("sent", sent), ("failed", failed), ("dropped", dropped)):
                family.add_metric([str(index), outcome], value)
        yield family


class Metrics:
    """Every metric of one daemon; the ``observe_*`` methods are its hooks."""

    def __init__(
        self,
        engine: Engine,
        workflows: Callable[[], Iterable[str]],
        components: Callable[[], Mapping[str, bool]],
        notifications: Callable[[], Iterable[NotifyCounts]] | None = None,
    ) -> None:
        _without_created_series()
        self.registry = CollectorRegistry(auto_describe=False)
        self._workflows = workflows
        self.attempts = Counter(
            "autoflow_watch_attempts",
            "Attempts finished, by workflow and outcome",
            ["workflow", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "autoflow_watch_run_duration_seconds",
            "Duration of finished attempts (claim to conclusion)",
            ["workflow"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.reused = Counter(
            "autoflow_watch_notebooks_reused",
            "Notebooks an attempt reused from an earlier one instead of executing (docs/reuse.md)",
            ["workflow"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "autoflow_watch_markers_rejected", "Inbox markers moved to rejected/", registry=self.registry
        )
        self.source_errors = Counter(
            "autoflow_watch_source_errors", "Failed polls or scans of a source", ["source"], registry=self.registry
        )
        self.registry.register(_StoreCollector(engine, workflows, components))
        if notifications is not None:
            self.registry.register(_NotifyCollector(notifications))
        self.workflows_changed()

    def workflows_changed(self) -> None:
        """Start every configured workflow's series at zero, so rate() and alerts see them at once."""
        for workflow in self._workflows():
            for outcome in ATTEMPT_OUTCOMES:
                self.attempts.labels(workflow, outcome.value)
            self.duration.labels(workflow)
            self.reused.labels(workflow)

    def observe_attempt(self, workflow: str, outcome: AttemptOutcome, duration_s: float | None) -> None:
        if outcome not in ATTEMPT_OUTCOMES:
            return
        self.attempts.labels(workflow, outcome.value).inc()
        if duration_s is not None and duration_s >= 0 and outcome is not AttemptOutcome.INTERRUPTED:
            self.duration.labels(workflow).observe(duration_s)

    def observe_reused(self, workflow: str, notebooks: int) -> None:
        if notebooks > 0:
            self.reused.labels(workflow).inc(notebooks)

    def observe_rejected_marker(self) -> None:
        self.rejected.inc()

    def observe_source_error(self, source: str) -> None:
        self.source_errors.labels(source).inc()
