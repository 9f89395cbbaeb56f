"""Helpers for the FlowAPI tests (a uniquely named module, so tests need not import ``conftest``)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from autoflow_watch.config.model import FlowApiConfig
from autoflow_watch.config.workflow import Workflow

MakeConfig = Callable[..., FlowApiConfig]
LoadWorkflows = Callable[[str], dict[str, Workflow]]


@dataclass
class Captured:
    events: list[MutableMapping[str, Any]] = field(default_factory=list)
    records: list[logging.LogRecord] = field(default_factory=list)
    warned: list[warnings.WarningMessage] = field(default_factory=list)
    capfd: pytest.CaptureFixture[str] | None = None
    _out: str = ""

    def named(self, event: str) -> list[MutableMapping[str, Any]]:
        return [e for e in self.events if e.get("event") == event]

    def everything(self) -> str:
        """All captured output as one text, to search for secrets."""
        if self.capfd is not None:
            out, err = self.capfd.readouterr()
            self._out += out + err
        parts = [repr(self.events), self._out]
        parts += [f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in self.records]
        parts += [str(w.message) for w in self.warned]
        return "\n".join(parts)


class ListHandler(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)
