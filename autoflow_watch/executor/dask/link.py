"""The daemon's connection to the Dask scheduler: made in the background, remade with backoff, outages logged once.

A scheduler that does not answer is an outage like the store's: logged when it starts and
when it ends (not at every retry), retried with a doubling wait, never the end of the
daemon. While it lasts the executor accepts no run, so due runs stay pending in the store.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from autoflow_watch.executor.dask.wire import DESERIALIZERS, SERIALIZERS, refuse_pickles_from_the_cluster
from autoflow_watch.logs import get_logger

log = get_logger("autoflow_watch.dask")
CONNECT_TIMEOUT_S = 10.0
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0


def security(tls: Any) -> Any:
    """Dask's own :class:`distributed.security.Security` for ``dask_tls`` (None: plain tcp://)."""
    if tls is None:
        return None
    from distributed.security import Security

    return Security(
        tls_ca_file=str(tls.ca_file),
        tls_client_cert=str(tls.cert),
        tls_client_key=str(tls.key),
        require_encryption=True,
    )


def connect(address: str, tls: Any, timeout: float = CONNECT_TIMEOUT_S) -> Any:
    """A connected ``distributed.Client`` that takes back plain data only (raises when the scheduler does not answer).

    Results are read with msgpack alone and every pickle the cluster sends is refused
    (:mod:`autoflow_watch.executor.dask.wire`): a worker or scheduler cannot run code in the daemon.
    """
    from distributed import Client

    refuse_pickles_from_the_cluster()
    return Client(
        address,
        security=security(tls),
        timeout=timeout,
        set_as_default=False,
        serializers=SERIALIZERS,
        deserializers=DESERIALIZERS,
    )


class SchedulerLink:
    """Keeps one connected Dask client for the executor, reconnecting on its own thread."""

    def __init__(self, address: str, tls: Any) -> None:
        self.address = address
        self._tls = tls
        self._client: Any = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._down_since: float | None = None
        self._failures = 0
        self._announced = False
        self._thread = threading.Thread(target=self._keep_connected, name="dask-link", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def client(self) -> Any:
        """The client while it is connected to the scheduler, else None."""
        with self._lock:
            client = self._client
        return client if client is not None and client.status == "running" else None

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=CONNECT_TIMEOUT_S + 5)
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close(timeout=5)
            except Exception as error:
                log.debug("dask.close_failed", error=str(error)[:200])

    # -- on its own thread ---------------------------------------------------------------------------------
    def _keep_connected(self) -> None:
        wait = 0.0
        while not self._closing.wait(wait):
            with self._lock:
                client = self._client
            status = client.status if client is not None else "closed"
            if status == "running":
                self._answered()
                wait = 0.5
                continue
            if status == "connecting":  # the client is trying to reconnect by itself
                self._went_away("the connection to the scheduler was lost; reconnecting")
                wait = 0.5
                continue
            if client is not None:  # it gave up: start afresh
                self._discard(client)
            wait = self._try_connect()

    def _try_connect(self) -> float:
        try:
            client = connect(self.address, self._tls)
        except Exception as error:
            self._went_away(f"{type(error).__name__}: {' '.join(str(error).split())[:300]}")
            self._failures += 1
            return min(FIRST_RETRY_S * 2 ** (self._failures - 1), MAX_RETRY_S)
        with self._lock:
            if self._closing.is_set():
                client.close()
                return 0.0
            self._client = client
        self._answered()
        return 0.5

    def _discard(self, client: Any) -> None:
        with self._lock:
            if self._client is client:
                self._client = None
        try:
            client.close(timeout=2)
        except Exception as error:
            log.debug("dask.close_failed", error=str(error)[:200])

    def _went_away(self, why: str) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.error(
                "dask.scheduler_unavailable",
                scheduler=self.address,
                error=why,
                hint="due runs stay pending; the inbox and FlowAPI sources keep recording; retrying",
            )

    def _answered(self) -> None:
        if self._down_since is not None:
            down = round(time.monotonic() - self._down_since, 1)
            log.warning("dask.scheduler_available_again", scheduler=self.address, down_s=down)
        elif not self._announced:
            log.info("dask.connected", scheduler=self.address)
        self._announced = True
        self._down_since = None
        self._failures = 0
