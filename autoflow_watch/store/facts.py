"""Facts: "dataset D has data for date X", from whichever source said so first."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Engine, select, tuple_

from autoflow_watch.store import schema
from autoflow_watch.store.records import Fact, FactChange, FactTimes

KEYS_PER_QUERY = 400  # (dataset, day) pairs per lookup: 800 bound parameters, under SQLite's old limit of 999


def _meta_json(fact: Fact) -> str | None:
    return json.dumps(fact.metadata, sort_keys=True) if fact.metadata is not None else None


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
        and moves the marker files only after the commit. Known rows are read with one query
        per chunk and new facts inserted with one multi-row insert.
        """
        now = time.time() if now is None else now
        keys = [(fact.dataset, fact.day.isoformat()) for fact in facts]
        with self._engine.begin() as conn:
            if len(set(keys)) < len(keys):  # the same fact twice: each must see the one before
                return [
                    self._apply(conn, fact, self._row(conn, key), now) for fact, key in zip(facts, keys, strict=True)
                ]
            known = self._rows(conn, keys)
            new = [self._new_row(fact, key, now) for fact, key in zip(facts, keys, strict=True) if key not in known]
            if new:
                conn.execute(schema.facts.insert(), new)
            return [
                self._apply(conn, fact, known[key], now) if key in known else FactChange.NEW
                for fact, key in zip(facts, keys, strict=True)
            ]

    def _row(self, conn: Connection, key: tuple[str, str]) -> Any | None:
        return self._rows(conn, [key]).get(key)

    def _rows(self, conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        t = schema.facts
        columns = (t.c.dataset, t.c.day, t.c.source, t.c.sources, t.c.deliveries, t.c.delivery_key)
        rows: dict[tuple[str, str], Any] = {}
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start : start + KEYS_PER_QUERY]
            for row in conn.execute(select(*columns).where(tuple_(t.c.dataset, t.c.day).in_(chunk))):
                rows[(row.dataset, row.day)] = row
        return rows

    @staticmethod
    def _new_row(fact: Fact, key: tuple[str, str], now: float) -> dict[str, Any]:
        return {
            "dataset": key[0],
            "day": key[1],
            "source": fact.source,
            "sources": fact.source,
            "meta_json": _meta_json(fact),
            "first_seen_at": now,
            "updated_at": now,
            "deliveries": 1,
            "delivery_key": fact.delivery_key,
        }

    def _apply(self, conn: Connection, fact: Fact, row: Any | None, now: float) -> FactChange:
        """Record ``fact`` given the row already stored for it (None: not known yet)."""
        t = schema.facts
        day = fact.day.isoformat()
        if row is None:
            conn.execute(t.insert().values(**self._new_row(fact, (fact.dataset, day), now)))
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
                    meta_json=_meta_json(fact),
                    updated_at=now,
                    deliveries=row.deliveries + 1,
                    delivery_key=fact.delivery_key,
                )
            )
            return FactChange.REDELIVERED
        if fact.source not in sources:
            values: dict[str, object] = {"sources": ",".join([*sources, fact.source])}
            if fact.source == "inbox":
                values.update(meta_json=_meta_json(fact), delivery_key=fact.delivery_key)
            conn.execute(t.update().where(where).values(**values))
        return FactChange.CONFIRMED

    def record_many(self, facts: list[Fact]) -> dict[Fact, FactChange]:
        """Record a poll's worth of facts in one transaction (:meth:`record_batch`), keyed by fact."""
        return dict(zip(facts, self.record_batch(facts), strict=True))

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
