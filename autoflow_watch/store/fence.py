"""The store's side of a fenced publish: record a success only under a current claim, then swap.

Two transactions, each holding the run's row lock:

1. :func:`record_success` checks that the attempt still holds the run (``run_id``, lease owner,
   state ``running``) and records the success, in one transaction under the row's lock. A daemon
   whose run was taken over (its lease lapsed while it was cut off or paused, and a peer expired
   or claimed the run) gets :attr:`Fence.LOST` and publishes nothing.
2. :func:`publish_permit` is held while the staged report is swapped in. It is taken with
   ``SKIP LOCKED``, so of the daemon that recorded the success and any peer finishing a swap
   that a crash interrupted, exactly one swaps at a time, and the swap is skipped once a newer
   attempt of the run exists.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Connection, Engine, select, text

from autoflow_watch.store import schema
from autoflow_watch.store.run_states import RunStateMachine, _next_state
from autoflow_watch.vocabulary import AttemptOutcome, AttemptResult, Claim, RunState

R = schema.runs
A = schema.attempts
LOCK_TIMEOUT = "10s"  # a peer holds a row lock for a swap (milliseconds); longer means it is stuck


class Fence(str, enum.Enum):
    """What :func:`record_success` found."""

    RECORDED = "recorded"  # the claim was current: the success is recorded now
    ALREADY = "already"  # recorded before (our commit's answer was lost with the connection)
    LOST = "lost"  # the run was taken over, or the lease lapsed: publish nothing


class Permit(str, enum.Enum):
    """What the holder of :func:`publish_permit` may do with a staged report."""

    SWAP = "swap"  # the attempt's success is recorded and it is still the run's newest: swap it in
    BUSY = "busy"  # another daemon holds the row (it is swapping, or recording): look again later
    WAIT = "wait"  # still running (its daemon waits for the store), or its daemon is swapping it now: leave it
    DISCARD = "discard"  # the attempt did not succeed, or a newer attempt exists: the staged report goes


def _lock_timeout(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))


def record_success(
    engine: Engine, claim: Claim, owner: str, retry_backoff: timedelta, now: float | None = None
) -> tuple[Fence, RunState | None]:
    """Record the attempt's success if its claim is current; return the verdict and the run's new state."""
    now = time.time() if now is None else now
    with engine.begin() as conn:
        _lock_timeout(conn)
        row = conn.execute(select(R).where(R.c.id == claim.pk).with_for_update()).first()
        attempt = conn.execute(select(A.c.outcome).where(A.c.run_id == claim.run_id)).scalar()
        if attempt == AttemptOutcome.SUCCEEDED.value:
            return Fence.ALREADY, RunState(row.state) if row is not None else None
        # current: the row still names this attempt and this daemon. A lease that lapsed while nobody
        # acted on it is still ours (others take a run over only by moving this row, which we hold locked)
        current = (
            row is not None
            and row.run_id == claim.run_id
            and row.state == RunState.RUNNING.value
            and row.lease_owner == owner
        )
        if not current:
            return Fence.LOST, None
        result = AttemptResult(AttemptOutcome.SUCCEEDED)
        state, values = _next_state(row, result, retry_backoff, now)
        conn.execute(R.update().where(R.c.id == claim.pk, R.c.run_id == claim.run_id).values(**values))
        RunStateMachine._close_attempt(conn, claim.run_id, result, now)
    return Fence.RECORDED, state


@contextmanager
def publish_permit(
    engine: Engine, run_id: str, grace_s: float = 0.0, wait: bool = False
) -> Iterator[tuple[Permit, str | None, str | None]]:
    """Hold the run's row while a staged report is swapped in; yield the verdict, workflow and date.

    ``grace_s``: a success recorded less than this ago is left to the daemon that recorded it
    (:attr:`Permit.WAIT`), which swaps it in at once unless it died; recovery on peers uses it.
    ``wait``: wait for the row (up to the lock timeout) instead of answering :attr:`Permit.BUSY`:
    the daemon that recorded the success waits out a peer that is only looking at its report.
    """
    with engine.begin() as conn:
        _lock_timeout(conn)
        query = select(A.c.run_pk, A.c.outcome, A.c.finished_at).where(A.c.run_id == run_id)
        attempt = conn.execute(query).first()
        if attempt is None:
            yield Permit.DISCARD, None, None
            return
        row = conn.execute(
            select(R.c.run_id, R.c.workflow, R.c.reference_date)
            .where(R.c.id == attempt.run_pk)
            .with_for_update(skip_locked=not wait)
        ).first()
        if row is None:
            yield Permit.BUSY, None, None
            return
        if attempt.outcome == AttemptOutcome.RUNNING.value:
            permit = Permit.WAIT
        elif attempt.outcome == AttemptOutcome.SUCCEEDED.value and row.run_id == run_id:
            recent = (attempt.finished_at or 0) + grace_s > time.time()
            permit = Permit.WAIT if recent else Permit.SWAP
        else:
            permit = Permit.DISCARD
        yield permit, row.workflow, row.reference_date
