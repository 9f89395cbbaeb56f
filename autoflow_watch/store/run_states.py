"""The run state machine: one row per (workflow, reference date), moved by compare-and-set.

``pending -> running -> succeeded``, or ``failed`` (with a retry time) and ``dead`` after
``max_attempts``. Every change is conditional on the state it starts from (and, once running,
on the attempt that holds the run), so several daemons on one store can never both claim,
finish or expire the same run. Claims themselves are in :mod:`autoflow_watch.store.claims`.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, select
from sqlalchemy.exc import IntegrityError

from autoflow_watch.store import claims, schema
from autoflow_watch.store.attempts import AttemptJournal
from autoflow_watch.store.steps import StepJournal
from autoflow_watch.vocabulary import AttemptOutcome, AttemptResult, Claim, Requeue, RunState, StepState

R = schema.runs
FINISHED = (RunState.SUCCEEDED, RunState.DEAD, RunState.FAILED)


def retry_delay(backoff: timedelta, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before the next try: ``backoff`` doubled per failed attempt, ±20 % jitter."""
    jitter = (rng or random).uniform(0.8, 1.2)
    return backoff.total_seconds() * (2 ** max(attempt - 1, 0)) * jitter


def error_line(result: AttemptResult) -> str:
    """``ValueError in notebook nb, cell 3: boom``: how a run's error reads in ``status``."""
    where = ""
    if result.failing_notebook:
        where = f" in notebook {result.failing_notebook}"
        if result.failing_cell is not None:
            where += f", cell {result.failing_cell}"
    return f"{result.error_type or 'Error'}{where}: {result.error or ''}".strip()


class RunStateMachine:
    """Creates runs, claims them, keeps and expires leases, and moves a run on when its attempt ends."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def ensure(self, workflow: str, dates: Iterable[dt.date], max_attempts: int) -> list[dt.date]:
        """Create pending runs for the dates that have none; return the dates created."""
        created = []
        now = time.time()
        for day in dates:
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        R.insert().values(
                            workflow=workflow,
                            reference_date=day.isoformat(),
                            state=RunState.PENDING.value,
                            attempts=0,
                            max_attempts=max_attempts,
                            created_at=now,
                            updated_at=now,
                            rerun_requested=0,
                        )
                    )
                created.append(day)
            except IntegrityError:
                continue  # another planner (or daemon) created it first: that is the point
        return created

    def requeue(
        self, workflow: str, dates: Iterable[dt.date], states: Iterable[RunState] = FINISHED, *, fresh: bool = False
    ) -> dict[dt.date, Requeue]:
        """Make finished runs pending again with a fresh attempt budget.

        A running run is flagged instead, and requeued when its attempt ends. ``fresh``: no
        execution begun before now is reused (``--fresh``). Returns what happened per date.
        """
        outcome: dict[dt.date, Requeue] = {}
        allowed = tuple(RunState(s).value for s in states)
        now = time.time()
        with self._engine.begin() as conn:
            for day in dates:
                where = and_(R.c.workflow == workflow, R.c.reference_date == day.isoformat())
                row = conn.execute(select(R.c.state).where(where).with_for_update()).first()
                if row is None:
                    outcome[day] = Requeue.MISSING
                    continue
                if fresh and (row.state == RunState.RUNNING.value or row.state in allowed):
                    conn.execute(R.update().where(where).values(reuse_after=now))
                if row.state == RunState.RUNNING.value:
                    conn.execute(R.update().where(where).values(rerun_requested=1, updated_at=now))
                    outcome[day] = Requeue.AFTER_CURRENT_ATTEMPT
                elif row.state in allowed:
                    conn.execute(
                        R.update()
                        .where(where, R.c.state == row.state)
                        .values(
                            state=RunState.PENDING.value,
                            attempts=0,
                            next_attempt_at=None,
                            updated_at=now,
                            rerun_requested=0,
                        )
                    )
                    outcome[day] = Requeue.QUEUED
                else:
                    outcome[day] = Requeue.UNCHANGED
        return outcome

    def claim_next(
        self, owner: str, max_attempts: Mapping[str, int], lease_ttl: timedelta, now: float | None = None
    ) -> Claim | None:
        """Take the oldest due run of a known workflow, or None when nothing is due now."""
        return claims.claim_next(self._engine, owner, max_attempts, lease_ttl, time.time() if now is None else now)

    def renew(self, owner: str, run_ids: Iterable[str], lease_ttl: timedelta, now: float | None = None) -> set[str]:
        """Extend our leases; return the run ids whose lease we no longer hold."""
        now = time.time() if now is None else now
        lost = set()
        with self._engine.begin() as conn:
            for run_id in run_ids:
                n = conn.execute(
                    R.update()
                    .where(R.c.run_id == run_id, R.c.lease_owner == owner, R.c.state == RunState.RUNNING.value)
                    .values(lease_expires_at=now + lease_ttl.total_seconds(), updated_at=now)
                ).rowcount
                if n != 1:
                    lost.add(run_id)
        return lost

    def expired(
        self, now: float | None = None, owner_other_than: str | None = None, all_running: bool = False
    ) -> list[Claim]:
        """Running runs whose lease ran out (or, with ``all_running``, every running run)."""
        now = time.time() if now is None else now
        query = select(R).where(R.c.state == RunState.RUNNING.value)
        if not all_running:
            query = query.where(R.c.lease_expires_at < now)
        if owner_other_than is not None:
            query = query.where(R.c.lease_owner != owner_other_than)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Claim(
                pk=r.id,
                workflow=r.workflow,
                reference_date=dt.date.fromisoformat(r.reference_date),
                run_id=r.run_id,
                attempt=r.attempts,
                started_at=r.started_at or now,
            )
            for r in rows
        ]

    def finish(
        self, claim: Claim, result: AttemptResult, retry_backoff: timedelta, now: float | None = None
    ) -> RunState:
        """Record how an attempt ended and move the run to its next state; return that state.

        ``interrupted`` (SIGTERM) gives the attempt back; ``expired`` (its daemon died)
        counts it and makes the run pending again at once. A rerun requested while the
        attempt ran makes the run pending again whatever the outcome. An attempt that no
        longer holds its run (another daemon expired it) is closed and the run left alone.
        """
        state, _ = self._finish(claim, result, retry_backoff, time.time() if now is None else now)
        return state

    def finish_if_current(
        self, claim: Claim, result: AttemptResult, retry_backoff: timedelta, now: float | None = None
    ) -> RunState | None:
        """As :meth:`finish`, but None when the attempt no longer held its run (someone else moved it)."""
        state, applied = self._finish(claim, result, retry_backoff, time.time() if now is None else now)
        return state if applied else None

    def _finish(
        self, claim: Claim, result: AttemptResult, retry_backoff: timedelta, now: float
    ) -> tuple[RunState, bool]:
        with self._engine.begin() as conn:
            row = conn.execute(select(R).where(R.c.id == claim.pk).with_for_update()).first()
            if row is None or row.run_id != claim.run_id or row.state != RunState.RUNNING.value:
                self._close_attempt(conn, claim.run_id, result, now)
                return (RunState(row.state) if row is not None else RunState.PENDING), False
            state, values = _next_state(row, result, retry_backoff, now)
            conn.execute(R.update().where(R.c.id == claim.pk, R.c.run_id == claim.run_id).values(**values))
            self._close_attempt(conn, claim.run_id, result, now)
        return state, True

    @staticmethod
    def _close_attempt(conn: Any, run_id: str, result: AttemptResult, now: float) -> None:
        """End the attempt and any notebook step still running in it (a killed worker reports no end)."""
        failed = result.outcome is not AttemptOutcome.SUCCEEDED
        state = StepState(result.outcome.value)
        StepJournal.close_running(conn, run_id, state, error_line(result) if failed else None, now)
        AttemptJournal.close(conn, run_id, result, now)


def _next_state(
    row: Any, result: AttemptResult, retry_backoff: timedelta, now: float
) -> tuple[RunState, dict[str, Any]]:
    """The run's next state after ``result``, and the column values that make it so."""
    values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None, "holder": None, "updated_at": now}
    outcome = result.outcome
    if outcome is AttemptOutcome.SUCCEEDED:
        state = RunState.SUCCEEDED
        values.update(finished_at=now, error=None)
    elif outcome is AttemptOutcome.INTERRUPTED:
        state = RunState.PENDING
        values.update(attempts=max(row.attempts - 1, 0), started_at=None)
    elif outcome is AttemptOutcome.EXPIRED:
        state = RunState.DEAD if row.attempts >= row.max_attempts else RunState.PENDING
        values.update(finished_at=now, error=error_line(result))
    else:
        state = RunState.DEAD if row.attempts >= row.max_attempts else RunState.FAILED
        values.update(finished_at=now, error=error_line(result))
        if state is RunState.FAILED:
            values["next_attempt_at"] = now + retry_delay(retry_backoff, row.attempts)
    if row.rerun_requested:
        state = RunState.PENDING
        values.update(attempts=0, next_attempt_at=None, rerun_requested=0)
    values["state"] = state.value
    return state, values
