"""A guard around each tick of the main loop: nothing from outside stops it.

The store's own outage has :class:`~autoflow_watch.daemon.outage.StoreOutage`. Anything else a
tick meets (an odd folder in the outbox, a bug that a hostile input reaches) is logged with
its traceback once per distinct error, waited out with a growing pause, and the loop goes on.
``run --once`` gives up after a few failed ticks in a row, so it cannot spin for ever.
"""

from __future__ import annotations

from autoflow_watch.logs import get_logger

log = get_logger("autoflow_watch.daemon")

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 10.0  # short: the main loop must keep beating for the systemd watchdog
ONCE_GIVES_UP_AFTER = 5


class TickGuard:
    """Failed ticks: said once per distinct error, retried with backoff, forgiven when a tick passes."""

    def __init__(self, *, once: bool) -> None:
        self._once = once
        self._failures = 0
        self._said: set[str] = set()

    def failed(self, error: Exception) -> float:
        """Note a tick that raised; return how long to wait (``run --once``: re-raise when it keeps failing)."""
        self._failures += 1
        if self._once and self._failures >= ONCE_GIVES_UP_AFTER:
            raise error
        key = f"{type(error).__name__}: {error}"[:300]
        if key not in self._said:
            self._said.add(key)
            log.exception("daemon.tick_failed", error=key, hint="the daemon goes on; this tick is tried again")
        return min(FIRST_RETRY_S * 2 ** (self._failures - 1), MAX_RETRY_S)

    def passed(self) -> None:
        if self._failures:
            log.info("daemon.tick_ok_again", failed_ticks=self._failures)
        self._failures = 0
