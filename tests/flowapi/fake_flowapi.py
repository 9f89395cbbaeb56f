"""A fake FlowAPI on 127.0.0.1: real HTTP, real JWT checks, switchable faults.

It serves ``GET /api/0/available_dates`` the way FlowAPI does (``{"available_dates": {...}}``
behind a Bearer JWT with a ``sub`` claim) so tests drive the real ``flowclient`` and ``httpx``
rather than mocks. It also runs queries as FlowAPI's protocol has them, so that a notebook's
``flowclient.run_query`` / ``get_result_by_query_id`` / ``get_geography`` work end to end:
``POST /api/0/run`` (202, ``Location: /api/0/poll/<id>``), ``GET /api/0/poll/<id>`` (202 with
progress ``pending_polls`` times, then 303 to ``/api/0/get/<id>``), ``GET /api/0/get/<id>``
(``{"query_id", "query_result"}``) and ``GET /api/0/geography/<unit>`` (a GeoJSON
FeatureCollection); an unknown query id is a 404. Results come from ``results(spec)``.

Faults — 401, 403, 500, malformed JSON, a hang, a trickle — are switches,
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

import hashlib
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest

ROUTE = "/api/0/available_dates"
QUERY_ROUTES = ("/api/0/run", "/api/0/poll/", "/api/0/get/", "/api/0/geography/")
MODES = (
    "ok",
    "unauthorized",
    "forbidden",
    "server_error",
    "malformed",
    "not_json",
    "hang",
    "trickle",
    "raw",
    "endless",
)
ENDLESS_MAX_BYTES = 64 * 1024 * 1024  # "endless" stops here, so a broken client cannot wedge the suite
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
        self.endless_sent = 0  # bytes of the "endless" answer written so far
        self.requests: list[SeenRequest] = []
        self.results: Callable[[dict[str, Any]], list[dict[str, Any]]] = default_results
        self.pending_polls = 0  # 202 answers to a poll before the result is ready
        self.queries: dict[str, dict[str, Any]] = {}  # query id -> spec, as posted to /run
        self._polls: dict[str, int] = {}
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

    def _register(self, spec: dict[str, Any]) -> str:
        """FlowAPI's query id is a digest of the spec: the same query twice is the same id."""
        query_id = hashlib.md5(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        with self._lock:
            self.queries[query_id] = spec
            self._polls.setdefault(query_id, 0)
        return query_id

    def _poll(self, query_id: str) -> int | None:
        """How many polls of this query came before this one; None for an unknown id."""
        with self._lock:
            if query_id not in self.queries:
                return None
            self._polls[query_id] += 1
            return self._polls[query_id] - 1


def default_results(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A small, deterministic result for any query: one row per pair of regions."""
    seed = int(hashlib.md5(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:6], 16)
    return [
        {"pcod_from": a, "pcod_to": b, "value": (seed + 7 * i) % 100 + 1}
        for i, (a, b) in enumerate([("R1", "R1"), ("R1", "R2"), ("R2", "R1"), ("R2", "R3"), ("R3", "R1")])
    ]


def geography(unit: str) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of three square regions, as ``/geography/<unit>`` answers."""
    features = []
    for index, pcod in enumerate(("R1", "R2", "R3")):
        x = float(index)
        ring = [[x, 0.0], [x + 1, 0.0], [x + 1, 1.0], [x, 1.0], [x, 0.0]]
        features.append(
            {
                "type": "Feature",
                "properties": {"pcod": pcod, "name": f"Region {index + 1}", "unit": unit},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


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
        path = self.path.split("?")[0]
        if path != ROUTE and not path.startswith(QUERY_ROUTES[1:]):
            return self._json(404, {"msg": "Not found"})
        denied = self._check_token()
        if denied is not None:
            return self._json(401, {"msg": denied})
        if path != ROUTE:
            return self._query_get(path)
        self._answer(fake.mode)

    def do_POST(self) -> None:
        fake = self.fake
        fake._record(SeenRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic()))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.split("?")[0] != QUERY_ROUTES[0]:
            return self._json(404, {"msg": "Not found"})
        denied = self._check_token()
        if denied is not None:
            return self._json(401, {"msg": denied})
        try:
            spec = json.loads(body)
        except ValueError:
            return self._json(400, {"msg": "Bad request: not JSON"})
        if not isinstance(spec, dict) or "query_kind" not in spec:
            return self._json(400, {"msg": "Bad request: no query_kind", "payload": spec})
        query_id = fake._register(spec)
        self._send(202, json.dumps({"query_id": query_id}).encode(), location=f"/api/0/poll/{query_id}")

    def _query_get(self, path: str) -> None:
        """``poll/<id>``, ``get/<id>`` and ``geography/<unit>``, as FlowAPI answers them."""
        fake = self.fake
        kind, _, name = path[len("/api/0/") :].partition("/")
        if kind == "geography":
            return self._json(200, geography(name))
        polled = fake._poll(name)
        if polled is None:
            return self._json(404, {"status": "awol", "msg": f"Unknown query id: '{name}'"})
        if kind == "poll":
            if polled < fake.pending_polls:
                progress = {"eligible": 1, "queued": 0, "running": 1}
                return self._json(202, {"status": "executing", "progress": progress})
            return self._send(303, b"", location=f"/api/0/get/{name}")
        self._json(200, {"query_id": name, "query_result": fake.results(fake.queries[name])})

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
        elif mode == "endless":
            self._endless()
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

    def _endless(self) -> None:
        """A 200 without Content-Length whose JSON body streams on until the client hangs up (or 64 MiB)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        chunk = b'"2026-11-24", ' * 75_000  # ~1 MiB
        try:
            self.wfile.write(b'{"available_dates": {"calls": [')
            self.fake.endless_sent = 0
            while self.fake.endless_sent < ENDLESS_MAX_BYTES:
                self.wfile.write(chunk)
                self.fake.endless_sent += len(chunk)
        except OSError:
            return  # the client stopped reading: expected
        self.close_connection = True

    def _json(self, status: int, payload: object) -> None:
        self._send(status, json.dumps(payload).encode())

    def _send(
        self, status: int, body: bytes, content_type: str = "application/json", location: str | None = None
    ) -> None:
        try:
            self.send_response(status)
            if location is not None:
                self.send_header("Location", location)
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
