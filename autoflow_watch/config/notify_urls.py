"""Apprise URLs of [notify]: read them (inline or from a secret file), check they parse, and name them safely.

A URL carries passwords and tokens, so it is never logged or written whole: a target is
named by its place in the config, scheme, host and port (``notify.urls[1] json://127.0.0.1:8080``),
and every URL and its password are registered as secrets for the log redaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from autoflow_watch.config.model import NotifyConfig
from autoflow_watch.secrets import register_secret

# Apprise logs each failure with details of its own, from the sending threads; we log one line per
# target per outage instead, so its lines are captured (see ``dispatch``) and not shown.
APPRISE_LOGGER = "apprise"


class NotifyUrlError(ValueError):
    """A URL that cannot be used; ``where`` is the key path or ``urls_file line N``."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where


@dataclass(frozen=True)
class Target:
    """One Apprise destination: its position in the config, a loggable name, and the plugin."""

    index: int
    name: str  # its place in the config, scheme, host and port: safe to log (see target_name)
    plugin: Any  # apprise NotifyBase

    @property
    def supports_attachments(self) -> bool:
        return bool(getattr(self.plugin, "attachment_support", False))


def read_urls(config: NotifyConfig) -> list[tuple[str, str]]:
    """(where, url) for every URL of ``[notify]``; raises :class:`NotifyUrlError` on an unreadable file."""
    if config.urls is not None:
        return [(f"notify.urls[{i}]", url.strip()) for i, url in enumerate(config.urls)]
    assert config.urls_file is not None
    try:
        text = config.urls_file.read_text(encoding="utf-8")
    except OSError as error:
        raise NotifyUrlError("notify.urls_file", f"cannot read {config.urls_file}: {error.strerror}") from None
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            found.append((f"notify.urls_file line {number}", line.strip()))
    if not found:
        raise NotifyUrlError("notify.urls_file", f"{config.urls_file} holds no URL (one Apprise URL a line)")
    return found


def scheme_of(url: str) -> str:
    """What of a URL may be shown in an error: its scheme only."""
    return url.split("://", 1)[0][:20] if "://" in url else "(none)"


def parse_target(index: int, where: str, url: str) -> Target:
    """The Apprise plugin for ``url``, or :class:`NotifyUrlError` naming only its scheme."""
    try:
        import apprise
    except ImportError:
        raise NotifyUrlError("notify", "needs Apprise: pip install 'autoflow-watch[notify]'") from None
    remember_secrets(url)
    if "://" not in url:
        raise NotifyUrlError(where, "not a URL: expected an Apprise URL such as mailtos://user:password@host")
    quiet = logging.getLogger(APPRISE_LOGGER)
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # its parse warnings would quote the URL
    try:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    finally:
        quiet.setLevel(level)
    if plugin is None:
        raise NotifyUrlError(
            where,
            f"Apprise cannot use this {scheme_of(url)}:// URL (unknown service, or a part such as the host, "
            "token or recipient is missing or malformed); see https://github.com/caronc/apprise/wiki",
        )
    register_secret(url)  # a webhook's path is often its only secret: the whole URL is one
    return Target(index=index, name=target_name(where, url), plugin=plugin)


def parse_targets(urls: Sequence[tuple[str, str]]) -> tuple[list[Target], list[NotifyUrlError]]:
    """Every target that parses, and an error for each that does not."""
    targets, errors = [], []
    for index, (where, url) in enumerate(urls):
        try:
            targets.append(parse_target(index, where, url))
        except NotifyUrlError as error:
            errors.append(error)
    return targets, errors


def load_targets(config: NotifyConfig) -> list[Target]:
    """The targets of ``[notify]``; the first problem raises (``validate`` has reported them all)."""
    targets, errors = parse_targets(read_urls(config))
    if errors:
        raise errors[0]
    return targets


def target_name(where: str, url: str) -> str:
    """How a target is named in logs: its place in the config, its scheme, host and port, nothing more.

    ``notify.urls[1] json://127.0.0.1:8080``. A webhook's path and query are often its only
    secret (Slack's ``T…/B…/X…``, Discord's, Teams'), and some services put a token where the
    host goes (``slack://TokenA/…``): a host is shown only when it looks like one (a dotted name,
    an address, ``localhost``).
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return f"{where} {scheme_of(url)}://…"
    shown = host if _looks_like_host(host) else "…"
    return f"{where} {scheme_of(url)}://{shown}{f':{port}' if port and shown != '…' else ''}"


def _looks_like_host(host: str) -> bool:
    return host == "localhost" or (("." in host or ":" in host) and all(c.isalnum() or c in ".-:" for c in host))


def remember_secrets(url: str) -> None:
    """Register the URL's password, path tokens and secret query values with the log redaction."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        register_secret(parts.password)
        register_secret(unquote(parts.password))
    for piece in parts.path.split("/"):
        if len(piece) >= 16:  # webhook tokens (Slack, Teams, Discord) are path segments
            register_secret(piece)
    for piece in parts.query.split("&"):
        key, _, value = piece.partition("=")
        if value and key.lower() in {"pass", "password", "token", "key", "apikey", "secret", "pwd"}:
            register_secret(unquote(value))


def urls_problems(config: NotifyConfig) -> list[tuple[str, str]]:
    """(key path, problem) for ``validate`` and start-up: every URL must parse."""
    if (config.urls is None) == (config.urls_file is None):
        return [("notify", "set exactly one of urls or urls_file")]
    if config.urls is not None and not config.urls:
        return [("notify.urls", "is empty; list at least one Apprise URL, or remove [notify]")]
    try:
        urls = read_urls(config)
    except NotifyUrlError as error:
        return [(error.where, str(error))]
    _, errors = parse_targets(urls)
    return [(error.where, str(error)) for error in errors]
