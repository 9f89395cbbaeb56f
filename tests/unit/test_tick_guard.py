"""A tick that raises never ends the main loop (issue 19, item 1): said once per error, retried with backoff."""

from __future__ import annotations

import logging

import pytest
import structlog

from autoflow_watch.daemon.tick_guard import MAX_RETRY_S, ONCE_GIVES_UP_AFTER, TickGuard


def test_a_failing_tick_is_said_once_backed_off_and_forgiven() -> None:
    guard = TickGuard(once=False)
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as events:
            waits = [guard.failed(ValueError("month must be in 1..12")) for _ in range(8)]
            guard.passed()
            again = guard.failed(ValueError("month must be in 1..12"))
    finally:
        structlog.configure(wrapper_class=saved["wrapper_class"])
    assert waits == sorted(waits) and waits[0] == 1.0 and waits[-1] == MAX_RETRY_S
    assert [e["event"] for e in events].count("daemon.tick_failed") == 1, "the same error is said once"
    assert again == 1.0, "a passing tick resets the backoff"


def test_run_once_gives_up_on_a_tick_that_keeps_failing() -> None:
    guard = TickGuard(once=True)
    for _ in range(ONCE_GIVES_UP_AFTER - 1):
        guard.failed(RuntimeError("odd outbox"))
    with pytest.raises(RuntimeError, match="odd outbox"):
        guard.failed(RuntimeError("odd outbox"))
