"""One request for FlowAPI's available dates, through flowclient, bounded in time, classified.

flowclient builds its ``httpx.Client`` with ``timeout=None`` and, on a 5xx, prints the whole
response object to stdout; it wraps transport errors in ``FlowclientConnectionError`` and
(for a bad token) puts the token in the message. So each request here:

- sets ``conn.session.timeout`` to the configured ``timeout`` (connect, read, write, pool);
- checks the status in an httpx response hook, which raises :class:`PollError` before
  flowclient sees the response (no print, and a clear kind for 401/403/5xx);
- runs in a worker thread that the poll gives up on at ``timeout`` + a small grace, because
  httpx timeouts are per socket operation: a server trickling one byte per second never
  trips them. At most one abandoned request is ever outstanding.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterator

import httpx

from autoflow_watch.config.model import FlowApiConfig
from autoflow_watch.sources.source import PollError, PollFailure

MAX_ANSWER_BYTES = 16 * 1024 * 1024  # years of dates for dozens of types are well under 1 MiB
MAX_ERROR_BYTES = 64 * 1024
DEADLINE_GRACE_S = 1.0  # the hard deadline trails httpx's own timeouts by this much
_INSECURE = "Communications with this server are NOT SECURE"


def silence_insecure_warning() -> None:
    """flowclient warns on every connect to an http:// URL; the source logs it once instead.

    Adding the same filter again replaces it (no duplicates), so calling this per source is fine.
    """
    warnings.filterwarnings("ignore", message=_INSECURE, category=UserWarning)


def tls_verification(config: FlowApiConfig) -> ssl.SSLContext | bool:
    """What httpx should verify the server with, built once per source rather than per poll.

    A CA file or folder becomes an ``SSLContext`` (httpx deprecates passing the path);
    ``true`` is httpx's default context (certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``).
    """
    setting = config.ssl_certificate
    if setting is False:
        return False
    try:
        if setting is True:
            return httpx.create_ssl_context()
        if setting.is_dir():
            return ssl.create_default_context(capath=str(setting))
        return ssl.create_default_context(cafile=str(setting))
    except (OSError, ssl.SSLError) as error:
        raise PollError(PollFailure.TLS, f"cannot load the CA certificates in {setting}: {error}") from None


def fetch_available_dates(config: FlowApiConfig, token: str, verify: ssl.SSLContext | bool = True) -> object:
    """``flowclient.connect`` + ``get_available_dates``; raise :class:`PollError` on any failure.

    flowclient (with pandas) is imported on the first poll, not with the daemon: a daemon without
    ``[flowapi]`` never pays its ~100 MB.
    """
    import flowclient
    from flowclient.errors import FlowclientConnectionError

    try:
        conn = flowclient.connect(url=config.url, token=token, ssl_certificate=verify)
    except FlowclientConnectionError:
        # The token was checked before; flowclient's message would contain it, so say only this.
        raise PollError(
            PollFailure.TOKEN, "flowclient could not use the token (not a JWT with a 'sub' claim)"
        ) from None
    if not isinstance(getattr(conn, "session", None), httpx.Client):  # the timeout and hook below need httpx
        raise PollError(PollFailure.ERROR, "this flowclient does not use an httpx session; install flowclient >= 1.30")
    try:
        conn.session.timeout = httpx.Timeout(config.timeout.total_seconds())
        conn.session.event_hooks = {"request": [], "response": [check_response]}
        return flowclient.get_available_dates(connection=conn)
    except PollError:
        raise
    except Exception as error:
        raise classify(error) from None
    finally:
        conn.session.close()


def check_response(response: httpx.Response) -> None:
    """httpx response hook: turn anything but a sane 200 into a :class:`PollError`."""
    status = response.status_code
    if status == 200:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_ANSWER_BYTES:
            raise PollError(
                PollFailure.BAD_RESPONSE, f"FlowAPI answer is {length} bytes, over the {MAX_ANSWER_BYTES} limit"
            )
        read_bounded(response)
        return
    detail = _server_message(response)
    suffix = f": {detail}" if detail else ""
    if status == 401:
        raise PollError(PollFailure.UNAUTHORIZED, f"FlowAPI refused the token (HTTP 401{suffix})")
    if status == 403:
        raise PollError(PollFailure.FORBIDDEN, f"FlowAPI denied access to available dates (HTTP 403{suffix})")
    if status >= 500:
        raise PollError(PollFailure.SERVER_ERROR, f"FlowAPI failed (HTTP {status}{suffix})")
    if 300 <= status < 400:
        raise PollError(
            PollFailure.BAD_RESPONSE, f"FlowAPI answered with a redirect (HTTP {status}); check [flowapi] url"
        )
    raise PollError(PollFailure.BAD_RESPONSE, f"FlowAPI answered HTTP {status}{suffix}; expected 200")


def read_bounded(response: httpx.Response, limit: int = MAX_ANSWER_BYTES) -> None:
    """Read the body here, counting decoded bytes as they come, and stop past ``limit``.

    Content-Length is only a claim: a chunked answer, one without a length or a compressed one
    that inflates is counted as read. The body read is then the response's content (httpx's
    ``read()``, which flowclient calls next, returns it without reading again).
    """
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            response.close()
            raise PollError(
                PollFailure.BAD_RESPONSE, f"FlowAPI answer is over the {limit} byte limit; check [flowapi] url"
            )
    response._content = bytes(body)  # what Response.read() would have stored


def _server_message(response: httpx.Response) -> str:
    """The ``msg`` of a JSON error body (as FlowAPI sends), shortened; never the raw body.

    Reads at most ``MAX_ERROR_BYTES``: an error page is not worth unbounded memory.
    """
    try:
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_ERROR_BYTES:
                return ""
        message = json.loads(body).get("msg")
    except Exception:
        return ""
    return " ".join(message.split())[:200] if isinstance(message, str) else ""


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(error: BaseException) -> PollError:
    """Map an exception from flowclient/httpx (walking its cause chain) to a kind and message."""
    chain = list(_chain(error))
    transport = next((e for e in chain if isinstance(e, httpx.TransportError)), None)
    detail = f"{type(transport).__name__}: {transport}" if transport is not None else f"{type(error).__name__}: {error}"
    if any(isinstance(e, (httpx.TimeoutException, TimeoutError)) for e in chain):
        return PollError(PollFailure.TIMEOUT, f"no answer from FlowAPI in time ({detail})")
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return PollError(PollFailure.REFUSED, f"FlowAPI refused the connection ({detail})")
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return PollError(PollFailure.TLS, f"TLS with FlowAPI failed ({detail})")
    if transport is not None or isinstance(error, OSError) or type(error).__name__ == "FlowclientConnectionError":
        return PollError(PollFailure.UNREACHABLE, f"cannot reach FlowAPI ({detail})")
    if isinstance(error, (json.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError)):
        return PollError(PollFailure.BAD_RESPONSE, f"FlowAPI answer is not the expected JSON ({detail})")
    return PollError(PollFailure.ERROR, f"unexpected error while polling FlowAPI ({detail})")


class _Worker:
    """One request in a daemon thread, so that the poll can stop waiting for it."""

    def __init__(self, call: Callable[[], object]) -> None:
        self.done = threading.Event()
        self.result: object = None
        self.error: BaseException | None = None
        self._call = call
        self.thread = threading.Thread(target=self._run, name="flowapi-request", daemon=True)

    def _run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as error:  # handed to the polling thread
            self.error = error
        finally:
            self.done.set()


class Requester:
    """Sends requests with a hard deadline; remembers a request it had to abandon."""

    def __init__(self, config: FlowApiConfig, grace_s: float = DEADLINE_GRACE_S) -> None:
        silence_insecure_warning()
        self._config = config
        self._grace_s = grace_s
        self._abandoned: _Worker | None = None
        self._verify: ssl.SSLContext | bool | None = None  # built on first use: a bad CA path is a poll error

    def fetch(self, token: str, stop: threading.Event | None = None) -> object:
        """The raw ``available_dates`` mapping, or :class:`PollError` (kind ``stopped`` on stop)."""
        if self._abandoned is not None and not self._abandoned.done.is_set():
            raise PollError(
                PollFailure.TIMEOUT, "the previous request to FlowAPI has still not returned; not sending another"
            )
        self._abandoned = None
        if self._verify is None:
            self._verify = tls_verification(self._config)
        verify = self._verify
        worker = _Worker(lambda: fetch_available_dates(self._config, token, verify))
        worker.thread.start()
        limit = self._config.timeout.total_seconds() + self._grace_s
        deadline = time.monotonic() + limit
        while not worker.done.wait(min(0.1, max(0.0, deadline - time.monotonic()))):
            if stop is not None and stop.is_set():
                self._abandoned = worker
                raise PollError(PollFailure.STOPPED, "stopping: the request to FlowAPI was abandoned")
            if time.monotonic() >= deadline:
                self._abandoned = worker
                raise PollError(PollFailure.TIMEOUT, f"no complete answer from FlowAPI within {limit:g} s")
        if isinstance(worker.error, PollError):
            raise worker.error
        if worker.error is not None:
            raise classify(worker.error)
        return worker.result
