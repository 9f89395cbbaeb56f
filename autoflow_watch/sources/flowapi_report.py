"""What the FlowAPI source logs, and when: each condition once, not once per poll.

A FlowAPI that is down for a day must not write a warning every five minutes, and an
expired token must be said plainly, once: a condition is logged when it starts or changes
(and reminded hourly while it lasts), its repeats go to debug, and a recovery says how long
it lasted. Server-supplied oddities are warned about once each. Nothing here sees the token.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from autoflow_watch.config.model import FlowApiConfig
from autoflow_watch.logs import get_logger
from autoflow_watch.sources.flowapi_answer import Skipped, show
from autoflow_watch.sources.flowapi_token import expiry, token_origin

log = get_logger("autoflow_watch.flowapi")

REMIND_EVERY_S = 3600.0  # a condition that persists is logged again at most this often
MAX_WARNINGS_PER_POLL = 20
# Conditions that need a person (a new token, a permission, a certificate) are errors.
NEEDS_ACTION = frozenset({"unauthorized", "forbidden", "token", "tls"})


@dataclass(frozen=True)
class PollOutcome:
    """What one poll did: ``kind`` is None when it succeeded, else why it failed."""

    ok: bool
    kind: str | None = None
    facts: int = 0
    new_facts: int = 0
    datasets: tuple[str, ...] = ()
    skipped: int = 0
    message: str = ""
    duration_s: float = 0.0
    next_poll_s: float = 0.0


class PollReporter:
    """Turns poll outcomes into log lines, remembering what was already said."""

    def __init__(self, config: FlowApiConfig) -> None:
        self._config = config
        self._url = safe_url(config.url)
        self._failure: tuple[str, str] | None = None  # (kind, message) of the current condition
        self._failing_since = 0.0
        self._last_logged = 0.0
        self._polled_ok = False
        self._warned: set[Skipped] = set()
        self._not_listed: frozenset[str] = frozenset()

    @property
    def url(self) -> str:
        return self._url

    def outcome(self, outcome: PollOutcome, failures: int) -> None:
        if outcome.kind == "stopped":
            return
        if outcome.ok:
            self._succeeded(outcome, time.monotonic())
        else:
            self._failed(outcome, failures, time.monotonic())

    def _failed(self, outcome: PollOutcome, failures: int, now: float) -> None:
        condition = (outcome.kind or "error", outcome.message)
        fields: dict[str, Any] = {
            "kind": outcome.kind,
            "url": self._url,
            "error": outcome.message,
            "next_retry_s": round(outcome.next_poll_s, 1),
            "failures": failures,
        }
        if condition != self._failure:
            if self._failure is None:
                self._failing_since = now
            self._failure, self._last_logged = condition, now
            level = log.error if outcome.kind in NEEDS_ACTION else log.warning
            level("flowapi.poll.failed", **fields)
        elif now - self._last_logged >= REMIND_EVERY_S:
            self._last_logged = now
            log.warning("flowapi.poll.failed", still_failing_s=round(now - self._failing_since), **fields)
        else:
            log.debug("flowapi.poll.failed", repeated=True, **fields)

    def _succeeded(self, outcome: PollOutcome, now: float) -> None:
        fields: dict[str, Any] = {
            "url": self._url,
            "datasets": len(outcome.datasets),
            "facts": outcome.facts,
            "new_facts": outcome.new_facts,
            "duration_ms": round(outcome.duration_s * 1000, 1),
        }
        if self._failure is not None:
            log.info(
                "flowapi.poll.recovered",
                after_kind=self._failure[0],
                failed_for_s=round(now - self._failing_since, 1),
                **fields,
            )
            self._failure = None
        elif outcome.new_facts or not self._polled_ok:
            log.info("flowapi.poll.ok", **fields)
        else:
            log.debug("flowapi.poll.ok", **fields)
        self._polled_ok = True

    def skipped(self, skipped: list[Skipped]) -> None:
        """Warn about each odd item once (not every poll), at most a screenful per poll."""
        fresh = [item for item in skipped if item not in self._warned]
        self._warned = set(skipped)
        for item in fresh[:MAX_WARNINGS_PER_POLL]:
            log.warning(
                f"flowapi.{item.what}.skipped",
                url=self._url,
                dataset=item.dataset,
                value=item.value,
                reason=item.reason,
            )
        if len(fresh) > MAX_WARNINGS_PER_POLL:
            log.warning("flowapi.answer.skipped_more", url=self._url, more=len(fresh) - MAX_WARNINGS_PER_POLL)

    def not_listed(self, wanted: Mapping[str, tuple[str, ...]], listed: set[str]) -> None:
        """Warn once when a dataset some workflow waits for is (newly) absent from FlowAPI."""
        missing = frozenset(d for d in wanted if d not in listed)
        fresh = sorted(missing - self._not_listed)
        self._not_listed = missing
        for dataset in fresh:
            log.warning(
                "flowapi.dataset.not_listed",
                url=self._url,
                dataset=dataset,
                workflows=list(wanted[dataset]),
                hint="FlowAPI lists no dates for it; only inbox markers can provide it",
            )

    def forget_not_listed(self) -> None:
        self._not_listed = frozenset()

    def token_loaded(self, claims: Mapping[str, Any], rotated: bool) -> None:
        """Say (without the token) that a token was loaded: whose it is and when it expires."""
        expires = expiry(dict(claims))
        sub = claims.get("sub")
        log.info(
            "flowapi.token.rotated" if rotated else "flowapi.token.loaded",
            origin=token_origin(self._config),
            user=sub[:80] if isinstance(sub, str) else show(sub),
            expires_at=expires.isoformat() if expires else None,
        )

    def transport_security(self) -> None:
        """Warn once if the token would cross the network unprotected."""
        parts = urlsplit(self._url)
        if parts.scheme == "https" and self._config.ssl_certificate is False:
            log.warning(
                "flowapi.tls_unverified",
                url=self._url,
                hint="ssl_certificate = false: anyone between can read the token",
            )
        if parts.scheme != "http":
            return
        try:
            loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname or "").is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            log.warning("flowapi.insecure_url", url=self._url, hint="the token is sent in clear text; use https://")


def unauthorized_hint(config: FlowApiConfig, claims: Mapping[str, Any]) -> str:
    """What to do about a 401, said plainly: an expired token says when it expired."""
    expires = expiry(dict(claims))
    origin = token_origin(config)
    if expires is not None and expires <= dt.datetime.now(dt.timezone.utc):
        when = f"{expires:%Y-%m-%dT%H:%M:%SZ}"
        return f"; the token in {origin} expired at {when}: put a new one there (no restart needed)"
    return f"; check the token in {origin} (it is re-read when it changes)"


def safe_url(url: str) -> str:
    """The URL as logged: without any ``user:password@`` part."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()
