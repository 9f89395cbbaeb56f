"""Apply the planner's decisions to the store."""

from __future__ import annotations

from autoflow_watch.config import Config
from autoflow_watch.logs import get_logger
from autoflow_watch.planner import plan
from autoflow_watch.store import Store
from autoflow_watch.vocabulary import Requeue

log = get_logger("autoflow_watch.planner")


def plan_and_apply(config: Config, store: Store) -> int:
    """Create due runs and requeue redelivered ones; return how many runs became due."""
    facts = store.facts.dates_by_dataset()
    needs_times = any(w.on_redelivery == "rerun" for w in config.workflows.values())
    decision = plan(
        config.workflows.values(), facts, store.runs.existing(), store.facts.times() if needs_times else None
    )
    due = 0
    for name, dates in decision.create.items():
        created = store.runs.ensure(name, dates, config.workflows[name].max_attempts)
        for day in created:
            log.info("run.planned", workflow=name, reference_date=day.isoformat())
        due += len(created)
    for name, dates in decision.rerun.items():
        outcome = store.runs.requeue(name, dates)
        for day, what in outcome.items():
            if what in (Requeue.QUEUED, Requeue.AFTER_CURRENT_ATTEMPT):
                log.info("run.requeued_for_redelivery", workflow=name, reference_date=day.isoformat(), what=what.value)
                due += 1
    return due
