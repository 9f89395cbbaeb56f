"""Real receivers on 127.0.0.1 for notification tests: an SMTP server (aiosmtpd) and an HTTP server."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

SMTP_USER = "autoflow"
SMTP_PASSWORD = "s3cret-smtp-Pa55word"  # must appear in no log line or file the daemon writes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpReceiver:
    """An SMTP server that accepts one login and keeps every message it is sent."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        login, password = data.login.decode(), data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == (SMTP_USER, SMTP_PASSWORD))

    def url(self, to: str = "ops@example.org") -> str:
        return (
            f"mailto://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{self.port}"
            f"?from=autoflow-watch@example.org&to={to}&mode=insecure"
        )


class _Controller(Controller):
    def __init__(self, receiver: SmtpReceiver, port: int) -> None:
        super().__init__(
            receiver,
            hostname="127.0.0.1",
            port=port,
            authenticator=receiver.authenticate,
            auth_require_tls=False,
            ready_timeout=30,
        )


def start_smtp() -> tuple[SmtpReceiver, Controller]:
    receiver = SmtpReceiver()
    for _ in range(5):  # the free port may be taken by another test in between: try another
        receiver.port = free_port()
        controller = _Controller(receiver, receiver.port)
        try:
            controller.start()
            return receiver, controller
        except OSError:
            continue
    raise RuntimeError("no free port for the SMTP receiver")


@dataclass
class HttpReceiver:
    """An HTTP server that records each POSTed JSON body; can answer slowly and with an error."""

    status: int = 200
    delay_s: float = 0.0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    answered_at: list[float] = field(default_factory=list)  # epoch seconds, as the store's times
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"


def start_http(status: int = 200, delay_s: float = 0.0) -> HttpReceiver:
    receiver = HttpReceiver(status=status, delay_s=delay_s)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.received_at.append(time.monotonic())
            try:
                receiver.bodies.append(json.loads(body))
            except ValueError:
                receiver.bodies.append({"raw": body.decode(errors="replace")})
            time.sleep(receiver.delay_s)
            self.send_response(receiver.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            receiver.answered_at.append(time.time())

        def log_message(self, *args: Any) -> None:
            pass

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.server.daemon_threads = True
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


def attachments(message: EmailMessage) -> Iterator[tuple[str, bytes]]:
    for part in message.iter_attachments():
        yield str(part.get_filename()), bytes(part.get_payload(decode=True) or b"")


def run_once_notifying(config: Path, receivers: list[HttpReceiver], urls: list[str], on: str = '["dead"]') -> Any:
    """Add ``[notify]`` with ``urls`` to ``config``, drop a marker, ``run --once``, then stop the receivers."""
    from daemon_process import cli
    from faulty_project import drop_marker

    with config.open("a", encoding="utf-8") as handle:
        handle.write(f"\n[notify]\nurls = {json.dumps(urls)}\non = {on}\n")
    drop_marker(config)
    try:
        return cli(config, "run", "--once")
    finally:
        for receiver in receivers:
            assert receiver.server is not None
            receiver.server.shutdown()
