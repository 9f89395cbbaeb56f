"""Read models of the run records: what the planner, ``status``, the index and the daemon's status line see."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select

from autoflow_watch.store import schema
from autoflow_watch.store.steps import StepJournal
from autoflow_watch.vocabulary import RunState, RunStatus

R = schema.runs


class RunViews:
    """Reads the runs table (and the steps of each run's current attempt); never writes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def existing(self) -> dict[tuple[str, dt.date], tuple[RunState, float | None]]:
        """(workflow, date) -> (state, started_at of the current attempt): what the planner needs."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(R.c.workflow, R.c.reference_date, R.c.state, R.c.started_at))
            return {
                (r.workflow, dt.date.fromisoformat(r.reference_date)): (RunState(r.state), r.started_at) for r in rows
            }

    def status(self, workflow: str | None = None) -> list[RunStatus]:
        """Every run (of ``workflow``), newest date first, with its notebooks and its holder."""
        query = select(R).order_by(R.c.workflow, R.c.reference_date.desc())
        if workflow is not None:
            query = query.where(R.c.workflow == workflow)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
            steps = StepJournal.of_runs(conn, [r.run_id for r in rows if r.run_id])
        return [
            RunStatus(
                workflow=r.workflow,
                reference_date=dt.date.fromisoformat(r.reference_date),
                state=RunState(r.state),
                attempts=r.attempts,
                max_attempts=r.max_attempts,
                run_id=r.run_id,
                started_at=r.started_at,
                finished_at=r.finished_at,
                next_attempt_at=r.next_attempt_at,
                error=r.error,
                steps=steps.get(r.run_id or "", []),
                holder=r.holder if r.state == RunState.RUNNING.value else None,
            )
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        """Runs per state, every state present (zero when none)."""
        counts: dict[str, int] = {state.value: 0 for state in RunState}
        with self._engine.connect() as conn:
            for state, number in conn.execute(select(R.c.state, func.count()).group_by(R.c.state)):
                counts[state] = counts.get(state, 0) + number
        return counts
