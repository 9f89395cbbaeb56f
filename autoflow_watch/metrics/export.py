"""Getting the metrics out: an HTTP endpoint for Prometheus, or a textfile for node_exporter.

The textfile is written whole under a hidden temporary name in the same folder (which the
textfile collector ignores: it reads only ``*.prom``), flushed to disk and renamed over the
old one, so a reader sees the previous file or the new one, never a part.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server

from autoflow_watch.config.model import split_listen
from autoflow_watch.logs import get_logger

log = get_logger("autoflow_watch.metrics")
TEXTFILE_EVERY_S = 15.0


def write_textfile(path: Path, registry: CollectorRegistry) -> None:
    """Write the exposition of ``registry`` to ``path`` atomically."""
    data = generate_latest(registry)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class MetricsServer:
    """Serves ``/metrics`` on ``listen`` from a thread of its own."""

    def __init__(self, listen: str, registry: CollectorRegistry) -> None:
        self.listen = listen
        self._registry = registry
        self._server: Any = None

    def start(self) -> str:
        """Start serving; return the address actually bound (port 0 picks a free one)."""
        host, port = split_listen(self.listen)
        self._server, _thread = start_http_server(port, addr=host, registry=self._registry)
        bound_port = self._server.server_address[1]
        address = f"[{host}]:{bound_port}" if ":" in host else f"{host}:{bound_port}"
        log.info("metrics.listening", address=address, url=f"http://{address}/metrics")
        return address

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class TextfileWriter:
    """Rewrites the textfile every ``every_s`` seconds, and soon after :meth:`poke`."""

    def __init__(self, path: Path, registry: CollectorRegistry, every_s: float = TEXTFILE_EVERY_S) -> None:
        self.path = path
        self._registry = registry
        self._every_s = every_s
        self._poked = threading.Event()
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="metrics-textfile", daemon=True)

    def start(self) -> None:
        self.write()
        self._thread.start()
        log.info("metrics.textfile", path=str(self.path), every_s=self._every_s)

    def poke(self) -> None:
        self._poked.set()

    def write(self) -> None:
        try:
            write_textfile(self.path, self._registry)
        except OSError as error:
            if not self._failing:
                log.error("metrics.textfile_failed", path=str(self.path), error=str(error))
            self._failing = True
            return
        if self._failing:
            log.info("metrics.textfile_written_again", path=str(self.path))
        self._failing = False

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poked.wait(self._every_s)
            self._poked.clear()
            if not self._stop.is_set():
                self.write()

    def stop(self) -> None:
        self._stop.set()
        self._poked.set()
        self._thread.join(timeout=5)
        self.write()  # the last state, as the daemon leaves it
