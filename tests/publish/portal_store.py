"""Run records written straight into a store, as the daemon would have left them, for the portal's tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select

from autoflow_watch.store import Store, schema


@dataclass
class RunRow:
    """One run and its failed attempts (their run ids), as inserted."""

    workflow: str
    day: str
    state: str
    attempts: int = 1
    run_id: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    failed: Sequence[str] = field(default_factory=tuple)  # run ids of failed attempts, oldest first
    scraps: dict[str, dict[str, Any]] | None = None


def insert_runs(store: Store, rows: Sequence[RunRow]) -> None:
    """Every row in one transaction: runs, their failed attempts, their scraps."""
    with store.engine.begin() as conn:
        for row in rows:
            run_id = row.run_id or f"{row.workflow}-{row.day}-a{row.attempts}"
            conn.execute(
                insert(schema.runs).values(
                    workflow=row.workflow,
                    reference_date=row.day,
                    state=row.state,
                    attempts=row.attempts,
                    max_attempts=3,
                    run_id=run_id,
                    rerun_requested=0,
                    created_at=row.started_at or 0.0,
                    updated_at=row.finished_at or row.started_at or 0.0,
                    started_at=row.started_at,
                    finished_at=row.finished_at,
                    error=row.error,
                )
            )
            pk = conn.execute(
                select(schema.runs.c.id).where(
                    schema.runs.c.workflow == row.workflow, schema.runs.c.reference_date == row.day
                )
            ).scalar_one()
            for number, failed in enumerate(row.failed, start=1):
                conn.execute(
                    insert(schema.attempts).values(
                        run_id=failed,
                        run_pk=pk,
                        number=number,
                        owner="test",
                        host="host",
                        pid=1,
                        outcome="failed",
                        started_at=row.started_at or 0.0,
                        finished_at=row.finished_at,
                        error_type="RuntimeError",
                        error="boom",
                    )
                )
            if row.scraps is not None:
                conn.execute(
                    insert(schema.scraps).values(
                        workflow=row.workflow,
                        reference_date=row.day,
                        run_id=run_id,
                        values_json=json.dumps(row.scraps),
                        recorded_at=row.finished_at or 0.0,
                    )
                )
