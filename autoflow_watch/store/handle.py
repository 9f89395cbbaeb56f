"""One handle on the state store: its engine (migrated on open), its facts and its runs."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from autoflow_watch.store.engine import open_engine
from autoflow_watch.store.facts import FactStore
from autoflow_watch.store.runs import RunStore


class Store:
    """One handle on the state store: ``store.facts`` and ``store.runs``.

    Opening it migrates the schema (under a lock shared by every process on the store);
    ``store.upgrade`` says what that applied.
    """

    def __init__(self, url: str, password_file: Path | None = None) -> None:
        self.url = url
        self.engine: Engine
        self.engine, self.upgrade = open_engine(url, password_file)
        self.facts = FactStore(self.engine)
        self.runs = RunStore(self.engine)

    def close(self) -> None:
        self.engine.dispose()
