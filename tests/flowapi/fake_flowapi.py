"""A fake FlowAPI on 127.0.0.1: real HTTP, real JWT checks, switchable faults.

It serves ``GET /api/0/available_dates`` the way FlowAPI does (``{"available_dates": {...}}``
behind a Bearer JWT with a ``sub`` claim) so tests drive the real ``flowclient`` and ``httpx``
rather than mocks. Faults — 401, 403, 500, malformed JSON, a hang, a trickle — are switches,
and every request is recorded so tests can assert what the server saw (e.g. which token).

Use it from any test folder::

    from fake_flowapi import FakeFlowApi      # tests/flowapi is on sys.path for its own tests
    with FakeFlowApi({"calls": ["2026-11-24"]}) as server:
        token = server.make_token()
        ...  # connect to server.url

or the ``fake_flowapi`` fixture (defined here and re-exported by ``tests/flowapi/conftest.py``;
another folder's conftest can do ``from fake_flowapi import fake_flowapi`` after putting
``tests/flowapi`` on ``sys.path``).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest

ROUTE = "/api/0/available_dates"
MODES = ("ok", "unauthorized", "forbidden", "server_error", "malformed", "not_json", "hang", "trickle", "raw")
MAX_HANG_S = 10.0  # a hang is bounded so a broken test can never wedge the suite


@dataclass(frozen=True)
class SeenRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    at: float  # time.monotonic()

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def bearer(self) -> str | None:
        value = self.authorization or ""
        return value[len("Bearer ") :] if value.startswith("Bearer ") else None


class FakeFlowApi:
    """A FlowAPI stand-in in a background thread, on an ephemeral port."""

    def __init__(
        self,
        dates: Mapping[str, object] | None = None,
        *,
        key: str = "fake-flowapi-signing-key-not-a-secret",
        hang_s: float = 5.0,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        """``tls=(certfile, keyfile)`` serves https:// instead of http://."""
        self.key = key
        self.tls = tls
        # served as given: values may be anything JSON can carry, to test odd answers
        self.dates: dict[str, object] = dict(dates or {})
        self.mode = "ok"
        self.hang_s = min(hang_s, MAX_HANG_S)
        self.trickle_interval_s = 0.3
        self.raw_status = 200
        self.raw_body: bytes = b""
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeFlowApi:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True  # a hanging handler never blocks server_close()
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-flowapi", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop at once, releasing any handler that is hanging on purpose."""
        self._release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeFlowApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the fake first"
        host, port = self._httpd.server_address[:2]
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host!s}:{port}"

    # -- test controls -----------------------------------------------------------------------------
    def make_token(self, sub: str | None = "autoflow-watch", *, key: str | None = None, **claims: Any) -> str:
        """A JWT the fake accepts (HS256 with its key); ``sub=None`` leaves the claim out."""
        payload = dict(claims)
        if sub is not None:
            payload["sub"] = sub
        payload.setdefault("iat", int(time.time()))
        return jwt.encode(payload, key or self.key, algorithm="HS256")

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        self.mode = mode

    def set_raw(self, status: int, body: bytes | str) -> None:
        """Answer every request with exactly this status and body."""
        self.raw_status = status
        self.raw_body = body.encode() if isinstance(body, str) else body
        self.mode = "raw"

    def seen(self) -> list[SeenRequest]:
        with self._lock:
            return list(self.requests)

    def bearers(self) -> list[str | None]:
        """The bearer token of every request so far, in order."""
        return [r.bearer for r in self.seen()]

    def _record(self, request: SeenRequest) -> None:
        with self._lock:
            self.requests.append(request)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeFlowApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        fake = self.fake
        fake._record(SeenRequest("GET", self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic()))
        if fake.mode == "raw":
            return self._send(fake.raw_status, fake.raw_body)
        if self.path.split("?")[0] != ROUTE:
            return self._json(404, {"msg": "Not found"})
        denied = self._check_token()
        if denied is not None:
            return self._json(401, {"msg": denied})
        self._answer(fake.mode)

    def _check_token(self) -> str | None:
        """The flask-jwt-extended message FlowAPI would give, or None for a good token."""
        value = self.headers.get("Authorization")
        if not value:
            return "Missing Authorization Header"
        if not value.startswith("Bearer "):
            return "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'"
        try:
            claims = jwt.decode(value[len("Bearer ") :], self.fake.key, algorithms=["HS256"])
        except jwt.ExpiredSignatureError:
            return "Token has expired"
        except jwt.InvalidTokenError:
            return "Signature verification failed"
        return None if "sub" in claims else "Missing claim: sub"

    def _answer(self, mode: str) -> None:
        fake = self.fake
        if mode == "unauthorized":
            self._json(401, {"msg": "Token has expired"})
        elif mode == "forbidden":
            self._json(403, {"msg": "Token does not have the claim get_available_dates"})
        elif mode == "server_error":
            self._json(500, {"msg": "Internal server error", "status": "error"})
        elif mode == "malformed":
            self._send(200, b'{"available_dates": {"calls": ["2026-11-2')
        elif mode == "not_json":
            self._send(200, b"<html>proxy error</html>", content_type="text/html")
        elif mode == "hang":
            fake._release.wait(fake.hang_s)  # stop() releases it at once
            self._json(200, {"available_dates": fake.dates})
        elif mode == "trickle":
            self._trickle(json.dumps({"available_dates": fake.dates}).encode())
        else:
            self._json(200, {"available_dates": fake.dates})

    def _trickle(self, body: bytes) -> None:
        """Headers at once, then the body one byte at a time: each read succeeds, the whole is slow."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for index in range(len(body)):
                if self.fake._release.wait(self.fake.trickle_interval_s):
                    return
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
        except OSError:
            return  # the client gave up: expected

    def _json(self, status: int, payload: object) -> None:
        self._send(status, json.dumps(payload).encode())

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client timed out and closed: expected in hang tests


@pytest.fixture
def fake_flowapi() -> Iterator[FakeFlowApi]:
    """A started fake FlowAPI with two datasets; stopped (and released) after the test."""
    server = FakeFlowApi({"calls": ["2026-11-23", "2026-11-24"], "sms": ["2026-11-24"]})
    server.start()
    try:
        yield server
    finally:
        server.stop()
