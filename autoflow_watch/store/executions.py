"""The execution journal: each notebook's execution per attempt, and which a later attempt may reuse.

docs/reuse.md has the contract. Rows are written when an attempt ends by itself (its worker
reported every notebook it reached); the run's kept executions are the rows recorded last per
notebook that succeeded.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, delete, select

from autoflow_watch.store import schema
from autoflow_watch.vocabulary import ExecutionOutcome, KeptExecution

E = schema.executions
R = schema.runs


@dataclass(frozen=True)
class ExecutionRow:
    """One notebook's execution in one attempt, as the attempt's end reports it."""

    notebook: str
    outcome: ExecutionOutcome
    executed_by: str
    source_sha256: str = ""
    parameters_sha256: str = ""
    kernel: str = ""
    started_at: float = 0.0
    duration_s: float | None = None
    files: tuple[str, ...] = ()


class ExecutionJournal:
    """Records executions, picks the kept ones for a run's next attempt, and forgets a run's."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, run_pk: int, run_id: str, folder: str, rows: Iterable[ExecutionRow]) -> None:
        """The executions of attempt ``run_id`` (whose run folder is ``folder``, on this host)."""
        now, host = time.time(), socket.gethostname()
        values = [
            {
                "run_id": run_id,
                "notebook": row.notebook,
                "run_pk": run_pk,
                "executed_by": row.executed_by,
                "outcome": row.outcome.value,
                "source_sha256": row.source_sha256,
                "parameters_sha256": row.parameters_sha256,
                "kernel": row.kernel,
                "started_at": row.started_at,
                "duration_s": row.duration_s,
                "folder": folder,
                "host": host,
                "files_json": json.dumps(list(row.files)),
                "recorded_at": now,
            }
            for row in rows
        ]
        if not values:
            return
        with self._engine.begin() as conn:
            conn.execute(delete(E).where(E.c.run_id == run_id))  # a conclusion retried after a store error
            conn.execute(E.insert(), values)

    def kept(self, run_pk: int) -> list[KeptExecution]:
        """Per notebook, its execution recorded last in this run, if that one succeeded."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(E).where(E.c.run_pk == run_pk).order_by(E.c.recorded_at)).all()
        last = {row.notebook: row for row in rows}
        return [_kept(row) for row in last.values() if row.outcome == ExecutionOutcome.SUCCEEDED.value]

    def replaced(self, run_pk: int, host: str) -> list[str]:
        """Forget the run's executions on ``host`` in folders no kept execution is in; those folders."""
        keep = {kept.folder for kept in self.kept(run_pk)}
        with self._engine.begin() as conn:
            folders = set(conn.execute(select(E.c.folder).where(E.c.run_pk == run_pk, E.c.host == host)).scalars())
            gone = sorted(folders - keep)
            if gone:
                conn.execute(delete(E).where(E.c.run_pk == run_pk, E.c.host == host, E.c.folder.in_(gone)))
        return gone

    def reuse_after(self, run_pk: int) -> float | None:
        """When ``--fresh`` was last asked for this run."""
        with self._engine.connect() as conn:
            return conn.execute(select(R.c.reuse_after).where(R.c.id == run_pk)).scalar()

    def forget(self, workflow: str, reference_date: str) -> None:
        """Retention removed the run's report: its kept executions go too."""
        run = select(R.c.id).where(and_(R.c.workflow == workflow, R.c.reference_date == reference_date))
        with self._engine.begin() as conn:
            conn.execute(delete(E).where(E.c.run_pk.in_(run.scalar_subquery())))


def _kept(row: Any) -> KeptExecution:
    return KeptExecution(
        notebook=row.notebook,
        run_id=row.run_id,
        executed_by=row.executed_by,
        source_sha256=row.source_sha256,
        parameters_sha256=row.parameters_sha256,
        kernel=row.kernel,
        started_at=row.started_at,
        duration_s=row.duration_s or 0.0,
        folder=row.folder,
        host=row.host,
        files=tuple(json.loads(row.files_json)),
    )
