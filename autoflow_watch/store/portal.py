"""What the outbox's pages read from the store, one workflow at a time, and the scraps they show.

Every query here is filtered by workflow and served by an index (``runs``' unique
``(workflow, reference_date)``, ``attempts.run_pk``, ``scraps``' primary key), so rebuilding one
workflow's pages costs in proportion to that workflow's dates, not to the whole store.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from autoflow_watch.store import schema

R = schema.runs
A = schema.attempts
S = schema.scraps

Scalar = int | float | str | bool


@dataclass(frozen=True)
class FailedAttemptRow:
    """One attempt of a run that failed (or whose daemon vanished): its failure page is filed by run id."""

    run_id: str
    number: int
    outcome: str
    finished_at: float | None
    error_type: str | None


@dataclass
class HistoryRow:
    """One (workflow, reference date) as the workflow's history page shows it."""

    reference_date: str
    state: str
    attempts: int
    run_id: str | None
    started_at: float | None
    finished_at: float | None
    error: str | None
    failed: list[FailedAttemptRow] = field(default_factory=list)  # newest first
    scraps: dict[str, dict[str, Scalar]] = field(default_factory=dict)  # notebook -> name -> value


class PortalRecords:
    """Reads for the outbox pages (per workflow) and the scraps table's one writer."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def workflows(self) -> list[str]:
        """Every workflow the store has a run of."""
        with self._engine.connect() as conn:
            return [r[0] for r in conn.execute(select(R.c.workflow).distinct().order_by(R.c.workflow))]

    def history(self, workflow: str) -> list[HistoryRow]:
        """Every run of ``workflow``, newest reference date first, with its failed attempts and scraps."""
        with self._engine.connect() as conn:
            runs = conn.execute(
                select(R.c.id, R.c.reference_date, R.c.state, R.c.attempts, R.c.run_id, R.c.started_at)
                .add_columns(R.c.finished_at, R.c.error)
                .where(R.c.workflow == workflow)
                .order_by(R.c.reference_date.desc())
            ).all()
            failed = conn.execute(
                select(A.c.run_pk, A.c.run_id, A.c.number, A.c.outcome, A.c.finished_at, A.c.error_type)
                .join(R, R.c.id == A.c.run_pk)
                .where(R.c.workflow == workflow, A.c.outcome.in_(("failed", "expired")))
                .order_by(A.c.number.desc())
            ).all()
            scraps = conn.execute(select(S.c.reference_date, S.c.values_json).where(S.c.workflow == workflow)).all()
        by_run: dict[int, list[FailedAttemptRow]] = {}
        for a in failed:
            by_run.setdefault(a.run_pk, []).append(
                FailedAttemptRow(a.run_id, a.number, a.outcome, a.finished_at, a.error_type)
            )
        values = {s.reference_date: _values(s.values_json) for s in scraps}
        return [
            HistoryRow(
                r.reference_date,
                r.state,
                r.attempts,
                r.run_id,
                r.started_at,
                r.finished_at,
                r.error,
                by_run.get(r.id, []),
                values.get(r.reference_date, {}),
            )
            for r in runs
        ]

    def version(self, workflow: str) -> tuple[int, float]:
        """Changes whenever a run of ``workflow`` changes (count, newest update): to rebuild while it moves."""
        with self._engine.connect() as conn:
            row = conn.execute(select(func.count(), func.max(R.c.updated_at)).where(R.c.workflow == workflow)).one()
            scrap = conn.execute(select(func.max(S.c.recorded_at)).where(S.c.workflow == workflow)).scalar()
        return int(row[0]), float(max(row[1] or 0.0, scrap or 0.0))

    def record_scraps(self, workflow: str, reference_date: str, run_id: str, values: dict[str, dict[str, Any]]) -> None:
        """The scalar scraps of the report ``run_id`` published (replacing an earlier report's)."""
        row = {
            "workflow": workflow,
            "reference_date": reference_date,
            "run_id": run_id,
            "values_json": json.dumps(values, ensure_ascii=False, allow_nan=False),
            "recorded_at": time.time(),
        }
        with self._engine.begin() as conn:
            conn.execute(delete(S).where(S.c.workflow == workflow, S.c.reference_date == reference_date))
            conn.execute(insert(S).values(**row))


def _values(text: str) -> dict[str, dict[str, Scalar]]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
