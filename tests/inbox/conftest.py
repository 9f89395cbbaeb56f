"""Fixtures for the inbox tests: a real folder, a real SQLite store, a real watchdog observer."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from inbox_helpers import Logs, StartInbox

from autoflow_watch.config.model import InboxConfig
from autoflow_watch.sources.inbox.source import InboxSource
from autoflow_watch.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    handle = Store(f"sqlite:///{tmp_path}/state/autoflow.db")
    yield handle
    handle.close()


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    return tmp_path / "inbox"


@pytest.fixture
def start_inbox(inbox: Path, store: Store) -> Iterator[StartInbox]:
    """``start_inbox(settle=..., rescan_interval=..., observer=..., record=..., ...)``: a started InboxSource.

    Durations are seconds; defaults are short so tests stay fast. Every source is stopped at
    the end of the test.
    """
    started: list[InboxSource] = []

    def start(
        *, settle: float = 0.2, rescan_interval: float = 3600, observer: str = "native", **kwargs: Any
    ) -> InboxSource:
        config = InboxConfig(
            settle=timedelta(seconds=settle),
            rescan_interval=timedelta(seconds=rescan_interval),
            observer=observer,  # type: ignore[arg-type]
        )
        kwargs.setdefault("record", store.facts.record_batch)
        source = InboxSource(inbox, config, **kwargs)
        source.start()
        started.append(source)
        return source

    yield start
    for source in started:
        source.stop()


@pytest.fixture
def logs() -> Iterator[Logs]:
    """Every structlog event, debug included, whatever an earlier test configured."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as events:
            yield Logs(events)
    finally:
        structlog.configure(wrapper_class=saved["wrapper_class"])
