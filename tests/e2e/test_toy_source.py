"""A source added through the registry alone: its facts are planned and run, with no change to the daemon."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoflow_watch.config import load_config
from autoflow_watch.daemon.loop import Daemon
from autoflow_watch.sources import registry
from autoflow_watch.sources.source import PollOutcome, RecordFacts, SourceContext
from autoflow_watch.store import Store
from autoflow_watch.vocabulary import Fact, FactChange

pytestmark = pytest.mark.e2e


class JsonFolderSource:
    """A toy source: each ``*.json`` file of a folder is one fact, ``{"dataset": ..., "date": ...}``."""

    name = "jsonfolder"

    def __init__(self, folder: Path, record: RecordFacts) -> None:
        self._folder = folder
        self._record = record
        self.running = False

    def start(self) -> None:
        self.running = True  # a real one would watch the folder in a thread of its own

    def poll_once(self) -> PollOutcome:
        facts = []
        for path in sorted(self._folder.glob("*.json")):
            item = json.loads(path.read_text(encoding="utf-8"))
            facts.append(Fact(item["dataset"], dt.date.fromisoformat(item["date"]), self.name))
        changes = self._record(facts)
        return PollOutcome(ok=True, facts=len(facts), new_facts=sum(c is FactChange.NEW for c in changes))

    def healthy(self) -> bool:
        return True

    def reload(self, ctx: SourceContext) -> bool:
        return False

    def stop(self) -> None:
        self.running = False


@pytest.fixture
def facts_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "facts"
    folder.mkdir()
    registry.register("jsonfolder", lambda ctx: JsonFolderSource(folder, ctx.record), lambda app: True)
    yield folder
    registry.unregister("jsonfolder")


def test_a_source_registered_alone_has_its_facts_planned_and_run(project: Path, facts_folder: Path) -> None:
    for day in ("2026-11-23", "2026-11-24"):
        (facts_folder / f"calls-{day}.json").write_text(json.dumps({"dataset": "calls", "date": day}))
    config = load_config(project / "autoflow.toml")
    assert Daemon(config, once=True, json_logs=True).run() == 0
    manifest = json.loads((project / "var" / "outbox" / "daily" / "2026-11-24" / "manifest.json").read_text())
    assert manifest["reference_date"] == "2026-11-24"
    store = Store(config.state_url)
    try:
        found = store.facts.get("calls", dt.date(2026, 11, 24))
        assert found is not None and found[0].source == "jsonfolder"
    finally:
        store.close()
