"""A state store that stops answering (PostgreSQL restarting, a full disk) is waited out, not fatal.

The main loop keeps going: running notebooks go on, finished attempts wait in the queue and
are concluded once the store answers again (publishing is idempotent per run id), and leases
that expired meanwhile are recovered as after any crash. The operator hears of the outage
once when it starts and once when it ends, not at every retry.
"""

from __future__ import annotations

import time

from autoflow_watch.logs import get_logger

log = get_logger("autoflow_watch.store")

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 5.0  # short: the main loop must keep beating for the systemd watchdog


class StoreOutage:
    """A state-store outage: logged when it starts and when it ends, retried with backoff meanwhile."""

    def __init__(self) -> None:
        self._since: float | None = None
        self._failures = 0

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, error: Exception) -> float:
        """Note a failed store call; return how long to wait before the next try."""
        self._failures += 1
        if self._since is None:
            self._since = time.monotonic()
            log.error(
                "store.unavailable",
                error=" ".join(str(error).split())[:500],
                hint="runs go on; finished ones are recorded once the store answers again",
            )
        return min(FIRST_RETRY_S * 2 ** (self._failures - 1), MAX_RETRY_S)

    def answered(self) -> None:
        if self._since is not None:
            log.warning("store.available_again", down_s=round(time.monotonic() - self._since, 1))
        self._since = None
        self._failures = 0
