"""The attempt journal: one row per try of a run, with its outcome, error, parameters and kernels."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from typing import Any

from sqlalchemy import Connection, Engine, select

from autoflow_watch.store import schema
from autoflow_watch.vocabulary import AttemptOutcome, AttemptRecord, AttemptResult

A = schema.attempts
R = schema.runs


def this_holder() -> str:
    """``"<host>:<pid>"`` of this process: what ``status`` shows as a running run's holder."""
    return f"{socket.gethostname()}:{os.getpid()}"


class AttemptJournal:
    """Opens an attempt when a run is claimed, records its details while it runs, closes it once."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @staticmethod
    def open(conn: Connection, run_pk: int, run_id: str, number: int, owner: str, now: float) -> None:
        """Record a new running attempt (in the claim's transaction)."""
        conn.execute(
            A.insert().values(
                run_id=run_id,
                run_pk=run_pk,
                number=number,
                owner=owner,
                host=socket.gethostname(),
                pid=os.getpid(),
                outcome=AttemptOutcome.RUNNING.value,
                started_at=now,
            )
        )

    @staticmethod
    def close(conn: Connection, run_id: str, result: AttemptResult, now: float) -> None:
        """End the attempt with ``result``; an attempt already ended keeps its first ending."""
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

    def set_details(
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

    def add_kernel_pid(self, run_id: str, pid: int) -> None:
        """Remember a kernel the attempt started, so recovery can kill it by pid if its daemon dies."""
        with self._engine.begin() as conn:
            row = conn.execute(select(A.c.kernel_pids_json).where(A.c.run_id == run_id).with_for_update()).first()
            if row is None:
                return
            pids = [*json.loads(row.kernel_pids_json or "[]"), pid]
            conn.execute(A.update().where(A.c.run_id == run_id).values(kernel_pids_json=json.dumps(pids)))

    def get(self, run_id: str) -> AttemptRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(A).where(A.c.run_id == run_id)).first()
        return _record(row) if row is not None else None

    def of_run(self, workflow: str, reference_date: dt.date) -> list[AttemptRecord]:
        """Every attempt of one run, oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(A)
                .join(R, R.c.id == A.c.run_pk)
                .where(R.c.workflow == workflow, R.c.reference_date == reference_date.isoformat())
                .order_by(A.c.started_at)
            ).all()
        return [_record(r) for r in rows]


def _record(row: Any) -> AttemptRecord:
    return AttemptRecord(
        run_id=row.run_id,
        run_pk=row.run_pk,
        number=row.number,
        owner=row.owner,
        host=row.host,
        pid=row.pid,
        outcome=AttemptOutcome(row.outcome),
        started_at=row.started_at,
        finished_at=row.finished_at,
        error_type=row.error_type,
        error=row.error,
        failing_notebook=row.failing_notebook,
        failing_cell=row.failing_cell,
        parameters=json.loads(row.parameters_json) if row.parameters_json else None,
        kernel_pids=[int(p) for p in json.loads(row.kernel_pids_json or "[]")],
        work_dir=row.work_dir,
    )
