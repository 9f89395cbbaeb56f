"""What the FlowAPI source logs, and when: each condition once, not once per poll.

A FlowAPI that is down for a day must not write a warning every five minutes, and an
expired token must be said plainly, once: a condition is logged when it starts or changes
(and reminded hourly while it lasts), its repeats go to debug, and a recovery says how long
it lasted. Server-supplied oddities are warned about once each. Nothing here sees the token.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from autoflow_watch.config.model import FlowApiConfig
from autoflow_watch.logs import get_logger
from autoflow_watch.sources.flowapi.answer import Skipped, show
from autoflow_watch.sources.flowapi.token import expiry, token_origin
from autoflow_watch.sources.outage import OutageLog, Wording
from autoflow_watch.sources.source import PollFailure

log = get_logger("autoflow_watch.flowapi")

# Conditions that need a person (a new token, a permission, a certificate) are errors.
NEEDS_ACTION = frozenset({PollFailure.UNAUTHORIZED, PollFailure.FORBIDDEN, PollFailure.TOKEN, PollFailure.TLS})
WORDING = Wording(
    logger="autoflow_watch.flowapi",
    failed="flowapi.poll.failed",
    recovered="flowapi.poll.recovered",
    ok="flowapi.poll.ok",
    was_key="after_kind",
    needs_action=NEEDS_ACTION,
    new_message_is_news=True,
    count_datasets=True,
)


class PollReporter(OutageLog):
    """FlowAPI's poll lines (:class:`OutageLog`), and what only FlowAPI says: tokens, TLS, missing datasets."""

    def __init__(self, config: FlowApiConfig) -> None:
        super().__init__(safe_url(config.url), WORDING)
        self._config = config
        self._not_listed: frozenset[str] = frozenset()

    def skipped(self, skipped: list[Skipped]) -> None:
        """Warn about each odd item of an answer once (not every poll)."""
        self.warn_once(skipped, _describe_skipped, "flowapi.answer.skipped_more")

    def not_listed(self, wanted: Mapping[str, tuple[str, ...]], listed: set[str]) -> None:
        """Warn once when a dataset some workflow waits for is (newly) absent from FlowAPI."""
        missing = frozenset(d for d in wanted if d not in listed)
        fresh = sorted(missing - self._not_listed)
        self._not_listed = missing
        for dataset in fresh:
            log.warning(
                "flowapi.dataset.not_listed",
                url=self.url,
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
        parts = urlsplit(self.url)
        if parts.scheme == "https" and self._config.ssl_certificate is False:
            log.warning(
                "flowapi.tls_unverified",
                url=self.url,
                hint="ssl_certificate = false: anyone between can read the token",
            )
        if parts.scheme != "http":
            return
        try:
            loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname or "").is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            log.warning("flowapi.insecure_url", url=self.url, hint="the token is sent in clear text; use https://")


def _describe_skipped(item: Skipped) -> tuple[str, dict[str, Any]]:
    return f"flowapi.{item.what}.skipped", {"dataset": item.dataset, "value": item.value, "reason": item.reason}


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
