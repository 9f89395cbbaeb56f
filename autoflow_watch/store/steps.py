"""The step journal: one row per (attempt, notebook), as the worker reports its progress."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, and_, select

from autoflow_watch.store import schema
from autoflow_watch.vocabulary import StepState, StepStatus

S = schema.steps


class StepJournal:
    """Records each notebook's state within an attempt, and ends the steps a killed worker left open."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(
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
        """Insert or update the step; a value left None keeps what was recorded before."""
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

    def reused(self, run_id: str) -> list[str]:
        """The notebooks attempt ``run_id`` reused instead of executing, in the order they were reached."""
        with self._engine.connect() as conn:
            query = select(S.c.notebook).where(S.c.run_id == run_id, S.c.state == StepState.REUSED.value)
            return list(conn.execute(query.order_by(S.c.finished_at)).scalars())

    @staticmethod
    def close_running(conn: Connection, run_id: str, state: StepState, error: str | None, now: float) -> None:
        """End every step of ``run_id`` still running (its worker reports no end: it was killed)."""
        conn.execute(
            S.update()
            .where(S.c.run_id == run_id, S.c.state == StepState.RUNNING.value)
            .values(state=state.value, finished_at=now, duration_s=now - S.c.started_at, error=error)
        )

    @staticmethod
    def of_runs(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[StepStatus]]:
        """The steps of each attempt, in the order they started."""
        steps: dict[str, list[StepStatus]] = {}
        for start in range(0, len(run_ids), 500):
            chunk = list(run_ids[start : start + 500])
            for s in conn.execute(select(S).where(S.c.run_id.in_(chunk)).order_by(S.c.started_at)):
                steps.setdefault(s.run_id, []).append(StepStatus(s.notebook, StepState(s.state), s.duration_s, s.error))
        return steps
