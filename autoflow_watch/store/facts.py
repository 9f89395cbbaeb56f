"""Facts: "dataset D has data for date X", from whichever source said so first.

Which reports are *redeliveries* is the sources' rule, not this module's: a source that hands
over files (the inbox) gives each fact the key of the file it came from (``delivery_key``),
and a new key from the same source is a redelivery; sources that report the same facts at
every poll (FlowAPI) give none, and their repeats are confirmations. The planner decides what
a redelivery does (``on_redelivery``). Several daemons may record the same fact at once: the
insert skips a row another daemon committed first, and the fact is then recorded against it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, Insert, func, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from autoflow_watch.store import schema
from autoflow_watch.vocabulary import Fact, FactChange, FactTimes

KEYS_PER_QUERY = 400  # (dataset, day) pairs per lookup: 800 bound parameters, under SQLite's old limit of 999


def _meta_json(fact: Fact) -> str | None:
    return json.dumps(fact.metadata, sort_keys=True) if fact.metadata is not None else None


class FactStore:
    """Records facts (one row per dataset and date) and answers what the planner asks of them."""

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
            inserted = self._insert_new(conn, new)
            raced = [key for key in keys if key not in known and key not in inserted]
            if raced:  # another daemon recorded them since we looked: record against its rows
                known.update(self._rows(conn, raced))
            return [
                FactChange.NEW if key in inserted else self._apply(conn, fact, known[key], now)
                for fact, key in zip(facts, keys, strict=True)
            ]

    @staticmethod
    def _insert_new(conn: Connection, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        """Insert rows not stored yet, skipping any another daemon inserted meanwhile; return those inserted."""
        if not rows:
            return set()
        t = schema.facts
        statement: Insert
        if conn.dialect.name == "postgresql":
            statement = postgresql.insert(t).on_conflict_do_nothing(index_elements=[t.c.dataset, t.c.day])
        elif conn.dialect.name == "sqlite":
            statement = sqlite.insert(t).on_conflict_do_nothing(index_elements=[t.c.dataset, t.c.day])
        else:  # pragma: no cover - the two supported backends are above
            statement = insert(t)
        inserted: set[tuple[str, str]] = set()
        for start in range(0, len(rows), KEYS_PER_QUERY):
            result = conn.execute(statement.returning(t.c.dataset, t.c.day), rows[start : start + KEYS_PER_QUERY])
            inserted.update((row.dataset, row.day) for row in result)
        return inserted

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
            key = (fact.dataset, day)
            if self._insert_new(conn, [self._new_row(fact, key, now)]):
                return FactChange.NEW
            row = self._row(conn, key)  # another daemon inserted it meanwhile
            assert row is not None
        sources = row.sources.split(",")
        where = (t.c.dataset == fact.dataset) & (t.c.day == day)
        delivered = fact.delivery_key is not None  # the source's rule: see the module docstring
        if fact.source in sources and delivered:
            if fact.delivery_key == row.delivery_key:
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
            if delivered:
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

    def changed_at(self, datasets: Iterable[str], days: Iterable[dt.date]) -> float | None:
        """When the newest of these facts was recorded, redelivered or given new metadata (None: none known)."""
        t = schema.facts
        day_names = [d.isoformat() for d in days]
        with self._engine.connect() as conn:
            return conn.execute(
                select(func.max(t.c.updated_at)).where(t.c.dataset.in_(list(datasets)), t.c.day.in_(day_names))
            ).scalar()

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
