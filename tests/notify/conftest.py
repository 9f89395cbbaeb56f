"""Fixtures: real SMTP and HTTP receivers on 127.0.0.1, ephemeral ports, stopped after the test."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from autoflow_watch import logs

sys.path.insert(0, str(Path(__file__).parent))

from receivers import HttpReceiver, SmtpReceiver, start_http, start_smtp


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver, controller = start_smtp()
    yield receiver
    controller.stop()


@pytest.fixture
def http_hook() -> Iterator[HttpReceiver]:
    receiver = start_http()
    yield receiver
    assert receiver.server is not None
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON log lines written during the test; logging is put back as it was afterwards."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    stream = io.StringIO()
    logs.configure("info", stream=stream, json_lines=True)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)
