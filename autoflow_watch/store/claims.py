"""Claiming the next due run: one daemon per run, however many share the store.

On PostgreSQL one query picks and locks the oldest due run, skipping rows that other daemons
have locked at that moment (``SELECT … FOR UPDATE SKIP LOCKED``), and takes it: it is the
sub-select of the UPDATE that makes the run ours. Claimers never wait for each other and never
fail a compare-and-set against each other. SQLite has no row locks (and one
daemon per store): there a candidate is taken with a compare-and-set on its state and attempt
count, and the next candidate tried when another process won it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, String, and_, case, cast, or_, select

from autoflow_watch.store import schema
from autoflow_watch.store.attempts import AttemptJournal, this_holder
from autoflow_watch.vocabulary import Claim, RunState

R = schema.runs
CANDIDATES = 20  # rows a compare-and-set claimer looks at per round


def new_run_id(workflow: str, reference_date: dt.date, attempt: int) -> str:
    """Unique per attempt and readable in folder names: ``daily-report-2026-11-24-a1-3f9c2b1e``."""
    return f"{workflow}-{reference_date.isoformat()}-a{attempt}-{uuid.uuid4().hex[:8]}"


def _due(now: float, workflows: list[str]) -> ColumnElement[bool]:
    waiting = and_(R.c.state == RunState.FAILED.value, or_(R.c.next_attempt_at.is_(None), R.c.next_attempt_at <= now))
    return and_(or_(R.c.state == RunState.PENDING.value, waiting), R.c.workflow.in_(workflows))


def claim_next(
    engine: Engine, owner: str, max_attempts: Mapping[str, int], lease_ttl: timedelta, now: float
) -> Claim | None:
    """Take the oldest due run of a known workflow for ``owner``, or None when nothing is due now."""
    if not max_attempts:
        return None
    if engine.dialect.name == "postgresql":
        return _claim_skip_locked(engine, owner, max_attempts, lease_ttl, now)
    return _claim_compare_and_set(engine, owner, max_attempts, lease_ttl, now)


def _claim_skip_locked(
    engine: Engine, owner: str, max_attempts: Mapping[str, int], lease_ttl: timedelta, now: float
) -> Claim | None:
    """One UPDATE takes the run that its sub-select picked and locked; then the attempt row, same transaction."""
    attempt = R.c.attempts + 1
    suffix = uuid.uuid4().hex[:8]
    pick = (
        select(R.c.id)
        .where(_due(now, list(max_attempts)))
        .order_by(R.c.reference_date, R.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    take = (
        R.update()
        .where(R.c.id == pick)
        .values(
            attempts=attempt,
            max_attempts=case(dict(max_attempts), value=R.c.workflow),
            run_id=R.c.workflow + "-" + R.c.reference_date + "-a" + cast(attempt, String) + "-" + suffix,
            **_running(owner, lease_ttl, now),
        )
        .returning(R.c.id, R.c.workflow, R.c.reference_date, R.c.attempts, R.c.run_id)
    )
    with engine.begin() as conn:
        row = conn.execute(take).first()
        if row is None:
            return None
        AttemptJournal.open(conn, row.id, row.run_id, row.attempts, owner, now)
    day = dt.date.fromisoformat(row.reference_date)
    return Claim(
        pk=row.id, workflow=row.workflow, reference_date=day, run_id=row.run_id, attempt=row.attempts, started_at=now
    )


def _running(owner: str, lease_ttl: timedelta, now: float) -> dict[str, Any]:
    """The columns of a run taken now by ``owner`` (both ways of claiming set these alike)."""
    return {
        "state": RunState.RUNNING.value,
        "lease_owner": owner,
        "lease_expires_at": now + lease_ttl.total_seconds(),
        "holder": this_holder(),
        "started_at": now,
        "finished_at": None,
        "updated_at": now,
        "next_attempt_at": None,
    }


def _claim_compare_and_set(
    engine: Engine, owner: str, max_attempts: Mapping[str, int], lease_ttl: timedelta, now: float
) -> Claim | None:
    query = (
        select(R.c.id, R.c.workflow, R.c.reference_date, R.c.state, R.c.attempts)
        .where(_due(now, list(max_attempts)))
        .order_by(R.c.reference_date, R.c.id)
        .limit(CANDIDATES)
    )
    with engine.connect() as conn:
        candidates = conn.execute(query).all()
    for row in candidates:
        with engine.begin() as conn:
            claim = _take(conn, row, owner, max_attempts[row.workflow], lease_ttl, now)
        if claim is not None:
            return claim
    return None


def _take(conn: Connection, row: Any, owner: str, max_attempts: int, lease_ttl: timedelta, now: float) -> Claim | None:
    """Make the run running under ``owner`` if it is still as ``row`` saw it, and open its attempt."""
    day = dt.date.fromisoformat(row.reference_date)
    attempt = row.attempts + 1
    run_id = new_run_id(row.workflow, day, attempt)
    updated = conn.execute(
        R.update()
        .where(R.c.id == row.id, R.c.state == row.state, R.c.attempts == row.attempts)
        .values(attempts=attempt, max_attempts=max_attempts, run_id=run_id, **_running(owner, lease_ttl, now))
    ).rowcount
    if updated != 1:
        return None
    AttemptJournal.open(conn, row.id, run_id, attempt, owner, now)
    return Claim(pk=row.id, workflow=row.workflow, reference_date=day, run_id=run_id, attempt=attempt, started_at=now)
