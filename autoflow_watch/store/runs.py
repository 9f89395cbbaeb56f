"""Run records: one row per (workflow, reference date), one attempt row per try.

Every state change is a compare-and-set on the row (``WHERE state = ...``) so that two
daemons sharing a PostgreSQL store can never both claim, finish or expire the same run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from autoflow_watch.store import schema
from autoflow_watch.store.records import (
    AttemptOutcome,
    AttemptResult,
    Claim,
    RunState,
    RunStatus,
    StepState,
    StepStatus,
)

R = schema.runs
A = schema.attempts
S = schema.steps
FINISHED = (RunState.SUCCEEDED.value, RunState.DEAD.value, RunState.FAILED.value)


def new_run_id(workflow: str, reference_date: dt.date, attempt: int) -> str:
    """Unique per attempt and readable in folder names: ``daily-report-2026-11-24-a1-3f9c2b1e``."""
    return f"{workflow}-{reference_date.isoformat()}-a{attempt}-{uuid.uuid4().hex[:8]}"


def retry_delay(backoff: timedelta, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before the next try: ``backoff`` doubled per failed attempt, ±20 % jitter."""
    jitter = (rng or random).uniform(0.8, 1.2)
    return backoff.total_seconds() * (2 ** max(attempt - 1, 0)) * jitter


class RunStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- planning -------------------------------------------------------------------
    def existing(self) -> dict[tuple[str, dt.date], tuple[RunState, float | None]]:
        """(workflow, date) -> (state, started_at of the current attempt)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(R.c.workflow, R.c.reference_date, R.c.state, R.c.started_at))
            return {
                (r.workflow, dt.date.fromisoformat(r.reference_date)): (RunState(r.state), r.started_at) for r in rows
            }

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

    def requeue(self, workflow: str, dates: Iterable[dt.date], states: Iterable[str] = FINISHED) -> dict[dt.date, str]:
        """Make finished runs pending again with a fresh attempt budget.

        A running run is flagged instead, and requeued when its attempt ends. Returns what
        happened per date: ``queued``, ``after-current-attempt``, ``created`` or ``unchanged``.
        """
        outcome: dict[dt.date, str] = {}
        allowed = tuple(states)
        now = time.time()
        with self._engine.begin() as conn:
            for day in dates:
                where = and_(R.c.workflow == workflow, R.c.reference_date == day.isoformat())
                row = conn.execute(select(R.c.state).where(where)).first()
                if row is None:
                    outcome[day] = "missing"
                elif row.state == RunState.RUNNING.value:
                    conn.execute(R.update().where(where).values(rerun_requested=1, updated_at=now))
                    outcome[day] = "after-current-attempt"
                elif row.state in allowed:
                    conn.execute(
                        R.update()
                        .where(where)
                        .values(
                            state=RunState.PENDING.value,
                            attempts=0,
                            next_attempt_at=None,
                            updated_at=now,
                            rerun_requested=0,
                        )
                    )
                    outcome[day] = "queued"
                else:
                    outcome[day] = "unchanged"
        return outcome

    # -- claiming and leases -------------------------------------------------------------
    def claim_next(
        self, owner: str, max_attempts: Mapping[str, int], lease_ttl: timedelta, now: float | None = None
    ) -> Claim | None:
        """Take the oldest due run of a known workflow, or None when nothing is due now."""
        if not max_attempts:
            return None
        now = time.time() if now is None else now
        due = or_(
            R.c.state == RunState.PENDING.value,
            and_(R.c.state == RunState.FAILED.value, or_(R.c.next_attempt_at.is_(None), R.c.next_attempt_at <= now)),
        )
        query = (
            select(R.c.id, R.c.workflow, R.c.reference_date, R.c.state, R.c.attempts)
            .where(due, R.c.workflow.in_(list(max_attempts)))
            .order_by(R.c.reference_date, R.c.id)
            .limit(20)
        )
        with self._engine.connect() as conn:
            candidates = conn.execute(query).all()
        for row in candidates:
            claim = self._try_claim(row, owner, max_attempts[row.workflow], lease_ttl, now)
            if claim is not None:
                return claim
        return None

    def _try_claim(self, row: Any, owner: str, max_attempts: int, lease_ttl: timedelta, now: float) -> Claim | None:
        day = dt.date.fromisoformat(row.reference_date)
        attempt = row.attempts + 1
        run_id = new_run_id(row.workflow, day, attempt)
        with self._engine.begin() as conn:
            updated = conn.execute(
                R.update()
                .where(R.c.id == row.id, R.c.state == row.state, R.c.attempts == row.attempts)
                .values(
                    state=RunState.RUNNING.value,
                    attempts=attempt,
                    max_attempts=max_attempts,
                    run_id=run_id,
                    lease_owner=owner,
                    lease_expires_at=now + lease_ttl.total_seconds(),
                    started_at=now,
                    finished_at=None,
                    updated_at=now,
                    next_attempt_at=None,
                )
            ).rowcount
            if updated != 1:
                return None
            conn.execute(
                A.insert().values(
                    run_id=run_id,
                    run_pk=row.id,
                    number=attempt,
                    owner=owner,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    outcome=AttemptOutcome.RUNNING.value,
                    started_at=now,
                )
            )
        return Claim(
            pk=row.id, workflow=row.workflow, reference_date=day, run_id=run_id, attempt=attempt, started_at=now
        )

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

    # -- finishing -----------------------------------------------------------------------
    def finish(
        self, claim: Claim, result: AttemptResult, retry_backoff: timedelta, now: float | None = None
    ) -> RunState:
        """Record how an attempt ended and move the run to its next state.

        ``interrupted`` (SIGTERM) gives the attempt back; ``expired`` (its daemon died)
        counts it and makes the run pending again at once. A rerun
        requested while the attempt ran makes the run pending again whatever the outcome.
        """
        now = time.time() if now is None else now
        with self._engine.begin() as conn:
            row = conn.execute(select(R).where(R.c.id == claim.pk)).first()
            if row is None or row.run_id != claim.run_id or row.state != RunState.RUNNING.value:
                self._close_attempt(conn, claim.run_id, result, now)
                return RunState(row.state) if row is not None else RunState.PENDING
            values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None, "updated_at": now}
            if result.outcome is AttemptOutcome.SUCCEEDED:
                state = RunState.SUCCEEDED
                values.update(finished_at=now, error=None)
            elif result.outcome is AttemptOutcome.INTERRUPTED:
                state = RunState.PENDING
                values.update(attempts=max(row.attempts - 1, 0), started_at=None)
            elif result.outcome is AttemptOutcome.EXPIRED:
                state = RunState.DEAD if row.attempts >= row.max_attempts else RunState.PENDING
                values.update(finished_at=now, error=_error_line(result))
            else:
                state = RunState.DEAD if row.attempts >= row.max_attempts else RunState.FAILED
                values.update(finished_at=now, error=_error_line(result))
                if state is RunState.FAILED:
                    values["next_attempt_at"] = now + retry_delay(retry_backoff, row.attempts)
            if row.rerun_requested:
                state = RunState.PENDING
                values.update(attempts=0, next_attempt_at=None, rerun_requested=0)
            values["state"] = state.value
            conn.execute(R.update().where(R.c.id == claim.pk, R.c.run_id == claim.run_id).values(**values))
            self._close_attempt(conn, claim.run_id, result, now)
        return state

    def _close_attempt(self, conn: Any, run_id: str, result: AttemptResult, now: float) -> None:
        """End the attempt and any notebook step still running in it (a killed worker reports no end)."""
        conn.execute(
            S.update()
            .where(S.c.run_id == run_id, S.c.state == StepState.RUNNING.value)
            .values(
                state=StepState(result.outcome.value).value,
                finished_at=now,
                duration_s=now - S.c.started_at,
                error=_error_line(result) if result.outcome is not AttemptOutcome.SUCCEEDED else None,
            )
        )
        conn.execute(
            A.update()
            .where(A.c.run_id == run_id, A.c.outcome == AttemptOutcome.RUNNING.value)
            .values(
                outcome=result.outcome.value,
                finished_at=now,
                error_type=result.error_type,
                error=result.error,
                failing_notebook=result.failing_notebook,
                failing_cell=result.failing_cell,
            )
        )

    # -- attempt details ---------------------------------------------------------------------
    def set_attempt_details(
        self,
        run_id: str,
        *,
        parameters: dict[str, Any] | None = None,
        kernel_pids: list[int] | None = None,
        work_dir: str | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if parameters is not None:
            values["parameters_json"] = json.dumps(parameters, sort_keys=True, default=str)
        if kernel_pids is not None:
            values["kernel_pids_json"] = json.dumps(kernel_pids)
        if work_dir is not None:
            values["work_dir"] = work_dir
        if values:
            with self._engine.begin() as conn:
                conn.execute(A.update().where(A.c.run_id == run_id).values(**values))

    def attempt(self, run_id: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(A).where(A.c.run_id == run_id)).first()
        if row is None:
            return None
        data = dict(row._mapping)
        data["kernel_pids"] = json.loads(data.pop("kernel_pids_json") or "[]")
        data["parameters"] = json.loads(data.pop("parameters_json") or "null")
        return data

    def attempts_of(self, workflow: str, reference_date: dt.date) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(A)
                .join(R, R.c.id == A.c.run_pk)
                .where(R.c.workflow == workflow, R.c.reference_date == reference_date.isoformat())
                .order_by(A.c.started_at)
            ).all()
        return [dict(r._mapping) for r in rows]

    def record_step(
        self,
        run_id: str,
        notebook: str,
        state: StepState,
        *,
        started_at: float | None = None,
        finished_at: float | None = None,
        duration_s: float | None = None,
        error: str | None = None,
    ) -> None:
        with self._engine.begin() as conn:
            where = and_(S.c.run_id == run_id, S.c.notebook == notebook)
            values = {
                "state": StepState(state).value,
                "started_at": started_at,
                "finished_at": finished_at,
                "duration_s": duration_s,
                "error": error,
            }
            if conn.execute(select(S.c.state).where(where)).first() is None:
                conn.execute(S.insert().values(run_id=run_id, notebook=notebook, **values))
            else:
                conn.execute(
                    S.update().where(where).values(**{k: v for k, v in values.items() if v is not None or k == "state"})
                )

    # -- reading -------------------------------------------------------------------------
    def status(self, workflow: str | None = None) -> list[RunStatus]:
        query = select(R).order_by(R.c.workflow, R.c.reference_date.desc())
        if workflow is not None:
            query = query.where(R.c.workflow == workflow)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
            run_ids = [r.run_id for r in rows if r.run_id]
            steps: dict[str, list[StepStatus]] = {}
            if run_ids:
                for s in conn.execute(select(S).where(S.c.run_id.in_(run_ids)).order_by(S.c.started_at)):
                    steps.setdefault(s.run_id, []).append(StepStatus(s.notebook, s.state, s.duration_s, s.error))
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
            )
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {state.value: 0 for state in RunState}
        with self._engine.connect() as conn:
            for state, number in conn.execute(select(R.c.state, func.count()).group_by(R.c.state)):
                counts[state] = number
        return counts


def _error_line(result: AttemptResult) -> str:
    where = ""
    if result.failing_notebook:
        where = f" in notebook {result.failing_notebook}"
        if result.failing_cell is not None:
            where += f", cell {result.failing_cell}"
    return f"{result.error_type or 'Error'}{where}: {result.error or ''}".strip()
