"""Facts: "dataset D has data for date X", from whichever source said so first."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict

from sqlalchemy import Connection, Engine, select

from autoflow_watch.store import schema
from autoflow_watch.store.records import Fact, FactChange, FactTimes


class FactStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, fact: Fact, now: float | None = None) -> FactChange:
        """Insert or update a fact; say whether it was new, redelivered or confirmed.

        A redelivery by the same source replaces the metadata and bumps ``updated_at``
        (which is what ``on_redelivery = "rerun"`` reacts to); another source confirming a
        known fact is only noted.
        """
        return self.record_batch([fact], now)[0]

    def record_batch(self, facts: list[Fact], now: float | None = None) -> list[FactChange]:
        """Record several facts as :meth:`record` does, in one transaction: all or none.

        The inbox records a drained batch of markers this way (one commit, not one per marker)
        and moves the marker files only after the commit.
        """
        now = time.time() if now is None else now
        with self._engine.begin() as conn:
            return [self._record_in(conn, fact, now) for fact in facts]

    def _record_in(self, conn: Connection, fact: Fact, now: float) -> FactChange:
        t = schema.facts
        day = fact.day.isoformat()
        meta_json = json.dumps(fact.metadata, sort_keys=True) if fact.metadata is not None else None
        row = conn.execute(
            select(t.c.source, t.c.sources, t.c.deliveries, t.c.delivery_key).where(
                t.c.dataset == fact.dataset, t.c.day == day
            )
        ).first()
        if row is None:
            conn.execute(
                t.insert().values(
                    dataset=fact.dataset,
                    day=day,
                    source=fact.source,
                    sources=fact.source,
                    meta_json=meta_json,
                    first_seen_at=now,
                    updated_at=now,
                    deliveries=1,
                    delivery_key=fact.delivery_key,
                )
            )
            return FactChange.NEW
        sources = row.sources.split(",")
        where = (t.c.dataset == fact.dataset) & (t.c.day == day)
        if fact.source in sources and fact.source == "inbox":
            if fact.delivery_key is not None and fact.delivery_key == row.delivery_key:
                return FactChange.CONFIRMED
            conn.execute(
                t.update()
                .where(where)
                .values(
                    meta_json=meta_json,
                    updated_at=now,
                    deliveries=row.deliveries + 1,
                    delivery_key=fact.delivery_key,
                )
            )
            return FactChange.REDELIVERED
        if fact.source not in sources:
            values: dict[str, object] = {"sources": ",".join([*sources, fact.source])}
            if fact.source == "inbox":
                values.update(meta_json=meta_json, delivery_key=fact.delivery_key)
            conn.execute(t.update().where(where).values(**values))
        return FactChange.CONFIRMED

    def record_many(self, facts: list[Fact]) -> dict[Fact, FactChange]:
        """Record a poll's worth of facts; known ones from the same source cost one read."""
        known = self._known()
        changes: dict[Fact, FactChange] = {}
        for fact in facts:
            sources = known.get((fact.dataset, fact.day.isoformat()))
            if sources is not None and fact.source in sources and fact.source != "inbox":
                changes[fact] = FactChange.CONFIRMED
                continue
            changes[fact] = self.record(fact)
        return changes

    def _known(self) -> dict[tuple[str, str], list[str]]:
        t = schema.facts
        with self._engine.connect() as conn:
            return {
                (r.dataset, r.day): r.sources.split(",")
                for r in conn.execute(select(t.c.dataset, t.c.day, t.c.sources))
            }

    def dates_by_dataset(self) -> dict[str, set[dt.date]]:
        t = schema.facts
        result: dict[str, set[dt.date]] = defaultdict(set)
        with self._engine.connect() as conn:
            for dataset, day in conn.execute(select(t.c.dataset, t.c.day)):
                result[dataset].add(dt.date.fromisoformat(day))
        return dict(result)

    def times(self) -> dict[tuple[str, dt.date], FactTimes]:
        t = schema.facts
        with self._engine.connect() as conn:
            return {
                (r.dataset, dt.date.fromisoformat(r.day)): FactTimes(r.first_seen_at, r.updated_at)
                for r in conn.execute(select(t.c.dataset, t.c.day, t.c.first_seen_at, t.c.updated_at))
            }

    def get(self, dataset: str, day: dt.date) -> tuple[Fact, int] | None:
        """The fact and how many times it was delivered, or None."""
        t = schema.facts
        with self._engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.dataset == dataset, t.c.day == day.isoformat())).first()
        if row is None:
            return None
        metadata = json.loads(row.meta_json) if row.meta_json else None
        return Fact(row.dataset, day, row.source, metadata), row.deliveries

    def count(self) -> int:
        with self._engine.connect() as conn:
            return len(conn.execute(select(schema.facts.c.dataset)).all())
