"""A second marker for a known fact: metadata updated; finished runs re-run only where a workflow asks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from daemon_process import wait_for
from inbox_helpers import StartInbox, entries, fact_of

from autoflow_watch.config import Config, ConfigError, load_config
from autoflow_watch.daemon.planning import plan_and_apply
from autoflow_watch.store import AttemptResult, Fact, FactChange, Store

WORKFLOWS = """
[paths]
notebooks = "notebooks"

[[workflow]]
name = "quiet"
datasets = ["calls"]
parameters = {{ region = "admin2" }}
{quiet_extra}
  [[workflow.notebook]]
  name = "aggregate"
  path = "aggregate.ipynb"

[[workflow]]
name = "eager"
datasets = ["calls"]
on_redelivery = "rerun"
parameters = {{ region = "admin2" }}
  [[workflow.notebook]]
  name = "aggregate"
  path = "aggregate.ipynb"
"""
DAY = "2026-11-24"
MARKER = f"calls_{DAY}.ready"


def load(project: Path, quiet_extra: str = "") -> Config:
    config = project / "redelivery.toml"
    config.write_text(WORKFLOWS.format(quiet_extra=quiet_extra), encoding="utf-8")
    return load_config(config)


def states(store: Store) -> dict[str, tuple[str, int]]:
    return {run.workflow: (run.state.value, run.attempts) for run in store.runs.status()}


def deliver(source_inbox: Path, store: Store, content: str, deliveries: int) -> None:
    (source_inbox / MARKER).write_text(content, encoding="utf-8")
    wait_for(lambda: (fact_of(store, "calls", DAY) or (None, 0))[1] == deliveries, 30, what=f"delivery {deliveries}")


def run_to_success(store: Store, config: Config) -> None:
    budget = {name: wf.max_attempts for name, wf in config.workflows.items()}
    while (claim := store.runs.claim_next("test", budget, timedelta(seconds=60))) is not None:
        store.runs.finish(claim, AttemptResult("succeeded"), timedelta(seconds=1))


def test_redelivered_marker_updates_metadata_and_reruns_only_workflows_that_ask(
    project: Path, start_inbox: StartInbox, store: Store
) -> None:
    config = load(project)
    source = start_inbox()
    deliver(source.inbox, store, '{"rows": 1}', deliveries=1)
    plan_and_apply(config, store)
    run_to_success(store, config)
    assert states(store) == {"quiet": ("succeeded", 1), "eager": ("succeeded", 1)}

    deliver(source.inbox, store, '{"rows": 2}', deliveries=2)
    fact, _ = fact_of(store, "calls", DAY) or (None, 0)
    assert fact.metadata == {"rows": 2}
    plan_and_apply(config, store)
    assert states(store) == {"quiet": ("succeeded", 1), "eager": ("pending", 0)}
    plan_and_apply(config, store)
    assert states(store) == {"quiet": ("succeeded", 1), "eager": ("pending", 0)}, "planning again changes nothing"
    wait_for(lambda: entries(source.processed) == [MARKER, f"{MARKER}.1"], 10, what="both markers kept")

    run_to_success(store, config)
    plan_and_apply(config, store)
    assert states(store) == {"quiet": ("succeeded", 1), "eager": ("succeeded", 1)}, "one rerun per redelivery"


def test_a_redelivery_during_a_run_reruns_it_once_it_has_finished(
    project: Path, start_inbox: StartInbox, store: Store
) -> None:
    config = load(project)
    source = start_inbox()
    deliver(source.inbox, store, "", deliveries=1)
    plan_and_apply(config, store)
    claim = store.runs.claim_next("test", {"eager": 3}, timedelta(seconds=60))
    assert claim is not None
    deliver(source.inbox, store, '{"rows": 2}', deliveries=2)  # the running attempt may have read the old data
    plan_and_apply(config, store)
    assert states(store)["eager"] == ("running", 1)
    store.runs.finish(claim, AttemptResult("succeeded"), timedelta(seconds=1))
    plan_and_apply(config, store)
    assert states(store)["eager"] == ("pending", 0)


def test_the_same_file_seen_again_after_a_crash_is_not_a_redelivery(
    project: Path, start_inbox: StartInbox, store: Store
) -> None:
    """Recorded, then the process dies before the move: the next look finds the very same file."""
    crashed = []

    def commit_then_crash(facts: list[Fact]) -> list[FactChange]:
        changes = store.facts.record_batch(facts)
        if not crashed:
            crashed.append(facts)
            raise RuntimeError("killed between the commit and the move")
        return changes

    source = start_inbox(record=commit_then_crash, rescan_interval=1)
    (source.inbox / MARKER).write_text('{"rows": 1}', encoding="utf-8")
    wait_for(lambda: entries(source.processed) == [MARKER], 30, what="the marker moved at the next scan")
    assert crashed and (fact_of(store, "calls", DAY) or (None, 0))[1] == 1
    times = store.facts.times()
    fact_times = next(iter(times.values()))
    assert fact_times.updated_at == fact_times.first_seen_at, "not counted as a redelivery"


def test_on_redelivery_accepts_only_ignore_or_rerun(project: Path) -> None:
    assert load(project, 'on_redelivery = "ignore"').workflows["quiet"].on_redelivery == "ignore"
    assert load(project).workflows["quiet"].on_redelivery == "ignore", "ignore is the default"
    with pytest.raises(ConfigError) as error:
        load(project, 'on_redelivery = "sometimes"')
    assert "on_redelivery" in str(error.value)
