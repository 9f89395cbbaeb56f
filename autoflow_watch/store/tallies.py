"""Aggregate reads for metrics: counts per workflow and state, last successes, facts per source.

Grouped queries, so a scrape costs a few index scans whatever the number of runs.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from autoflow_watch.store import schema
from autoflow_watch.vocabulary import AttemptOutcome

R = schema.runs
A = schema.attempts
F = schema.facts


def runs_by_workflow_and_state(engine: Engine) -> dict[tuple[str, str], int]:
    """(workflow, state) -> number of runs, as ``status`` would count them."""
    with engine.connect() as conn:
        rows = conn.execute(select(R.c.workflow, R.c.state, func.count()).group_by(R.c.workflow, R.c.state))
        return {(r[0], r[1]): int(r[2]) for r in rows}


def last_success_by_workflow(engine: Engine) -> dict[str, float]:
    """workflow -> when its newest succeeded attempt finished (epoch seconds)."""
    query = (
        select(R.c.workflow, func.max(A.c.finished_at))
        .join(R, R.c.id == A.c.run_pk)
        .where(A.c.outcome == AttemptOutcome.SUCCEEDED.value, A.c.finished_at.is_not(None))
        .group_by(R.c.workflow)
    )
    with engine.connect() as conn:
        return {r[0]: float(r[1]) for r in conn.execute(query) if r[1] is not None}


def facts_by_source(engine: Engine) -> dict[str, int]:
    """source -> facts it reported first."""
    with engine.connect() as conn:
        return {r[0]: int(r[1]) for r in conn.execute(select(F.c.source, func.count()).group_by(F.c.source))}


def previous_counted_outcome(engine: Engine, run_pk: int, run_id: str) -> AttemptOutcome | None:
    """The outcome of the run's last counted attempt before ``run_id`` (SIGTERM's are not counted)."""
    query = (
        select(A.c.outcome)
        .where(
            A.c.run_pk == run_pk,
            A.c.run_id != run_id,
            A.c.outcome.not_in([o.value for o in AttemptOutcome if not o.counts]),
        )
        .order_by(A.c.started_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return AttemptOutcome(row[0]) if row is not None else None
