"""A unix-socket proxy in front of PostgreSQL that a test can cut: one daemon cut off from the store.

PostgreSQL listens on ``<dir>/.s.PGSQL.5432``; the proxy listens on the same name in a folder of
its own, so a daemon whose URL says ``host=<proxy folder>`` reaches the store only through it.
``cut()`` drops every connection and refuses new ones (as a network partition does, seen from
the daemon); ``restore()`` lets connections through again.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
from pathlib import Path

SOCKET_NAME = ".s.PGSQL.5432"


class StoreProxy:
    """Forwards connections from its own socket folder to PostgreSQL's, until cut."""

    def __init__(self, server_folder: Path) -> None:
        self.target = str(server_folder / SOCKET_NAME)
        self.folder = Path(tempfile.mkdtemp(prefix="afw-proxy-"))
        self._open = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.folder / SOCKET_NAME))
        self._listener.listen(64)
        self._open.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, server_url: str, server_folder: Path) -> str:
        """``server_url`` through this proxy: its ``host`` (the server's socket folder) replaced by ours.

        Parsed, not replaced as text: a URL that SQLAlchemy rendered quotes the folder (``%2Ftmp%2F…``).
        """
        from sqlalchemy.engine import make_url

        url = make_url(server_url)
        assert url.query.get("host") == str(server_folder), (url.query, server_folder)
        return url.update_query_dict({"host": str(self.folder)}).render_as_string(hide_password=False)

    def cut(self) -> None:
        self._open.clear()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def restore(self) -> None:
        self._open.set()

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._open.is_set():
                client.close()
                continue
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
