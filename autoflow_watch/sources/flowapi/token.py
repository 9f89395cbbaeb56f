"""The FlowAPI token: read from a file (re-read when it changes) or an environment variable.

The token is a bearer secret. Errors here name where the token came from (the file or the
variable), never what it is, and :func:`scrub` removes it from any text that came from
elsewhere (flowclient's and httpx's exception messages) before that text is logged.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from autoflow_watch.config.model import FlowApiConfig
from autoflow_watch.secrets import REDACTED, SecretFileError, read_small_text, register_secret

MAX_TOKEN_BYTES = 64 * 1024  # a JWT is a few KiB; a bigger file is the wrong file
_JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)bearer\s+[^\s'\",}]+")


class FlowApiTokenError(Exception):
    """No usable token; the one-line message says where it was looked for and what is wrong."""


def token_origin(config: FlowApiConfig) -> str:
    """Where the token comes from, for messages: the file, or the environment variable."""
    if config.token_file is not None:
        return f"token file {config.token_file}"
    if config.token_env:
        return f"environment variable {config.token_env}"
    return "no token source"


def read_token(config: FlowApiConfig) -> str:
    """Read and check the token; raise :class:`FlowApiTokenError` naming its origin, never it."""
    return read_token_and_claims(config)[0]


def read_token_and_claims(config: FlowApiConfig) -> tuple[str, dict[str, Any]]:
    """The token and its unverified claims (for ``sub`` and ``exp`` in messages)."""
    token = _read_raw(config)
    register_secret(token)  # before anything else can fail and print it
    return token, check_token(token, token_origin(config))


def _read_raw(config: FlowApiConfig) -> str:
    if config.token_file is not None:
        return _read_file(config)
    if config.token_env:
        value = os.environ.get(config.token_env)
        if value is None:
            raise FlowApiTokenError(f"FlowAPI token: environment variable {config.token_env} is not set")
        if not value.strip():
            raise FlowApiTokenError(f"FlowAPI token: environment variable {config.token_env} is empty")
        return value.strip()
    raise FlowApiTokenError("FlowAPI token: set [flowapi] token_file or token_env")


def _read_file(config: FlowApiConfig) -> str:
    path = config.token_file
    assert path is not None
    try:
        text = read_small_text(path, "FlowAPI token file", MAX_TOKEN_BYTES).strip()
    except SecretFileError as error:
        raise FlowApiTokenError(str(error)) from None
    if not text:
        raise FlowApiTokenError(f"FlowAPI token file {path} is empty")
    return text


def check_token(token: str, origin: str) -> dict[str, Any]:
    """Decode (without verifying: the server does that) and require the ``sub`` claim.

    flowclient does the same in ``Connection.update_token`` but puts the whole token in its
    error message; checking first gives a clear line that cannot leak it.
    """
    if any(ch.isspace() for ch in token):
        raise FlowApiTokenError(f"FlowAPI token in {origin} contains whitespace; expected one JWT")
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as error:
        reason = scrub(str(error), [token])
        raise FlowApiTokenError(f"FlowAPI token in {origin} is not a valid JWT ({reason})") from None
    if not isinstance(claims, dict) or "sub" not in claims:
        raise FlowApiTokenError(
            f"FlowAPI token in {origin} has no 'sub' claim (flowclient needs the user identity); "
            "issue a new token from FlowAuth"
        )
    return claims


def expiry(claims: dict[str, Any]) -> dt.datetime | None:
    """The token's ``exp`` as an aware UTC datetime, when it has a sensible one."""
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    try:
        return dt.datetime.fromtimestamp(exp, tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def scrub(text: str, secrets: Iterable[str], limit: int = 300) -> str:
    """One line, at most ``limit`` characters, with every secret and anything token-like removed."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(f"Bearer {REDACTED}", text)
    text = _JWT_LIKE.sub(REDACTED, text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class _Cached:
    """The token last read, keyed by its file's signature, so an unchanged file is not read and decoded again."""

    signature: tuple[int, ...] | str | None
    token: str | None
    claims: dict[str, Any]
    error: FlowApiTokenError | None


class TokenCache:
    """The current token, re-read only when its file changes (inode, size or mtime).

    Rotation works without a restart: replace the file (atomically, by rename, or in place)
    and the next poll or kernel start uses the new token. Thread-safe: the poll thread and
    the executor's threads both ask for it.
    """

    def __init__(self, config: FlowApiConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._cached: _Cached | None = None
        self.generation = 0  # bumped each time a different token (or error) is loaded

    def current(self) -> str:
        """The token, or :class:`FlowApiTokenError` saying why there is none."""
        cached = self._load()
        if cached.error is not None:
            raise cached.error
        assert cached.token is not None
        return cached.token

    def claims(self) -> dict[str, Any]:
        """The current token's (unverified) claims; empty when there is no usable token."""
        return dict(self._load().claims)

    def known_secrets(self) -> list[str]:
        cached = self._cached
        return [cached.token] if cached is not None and cached.token else []

    def _load(self) -> _Cached:
        with self._lock:
            signature = self._signature()
            if self._cached is not None and signature == self._cached.signature and signature is not None:
                return self._cached
            try:
                token, claims = read_token_and_claims(self._config)
                fresh = _Cached(signature, token, claims, None)
            except FlowApiTokenError as error:
                fresh = _Cached(signature, None, {}, error)
            if self._cached is None or (fresh.token, str(fresh.error)) != (self._cached.token, str(self._cached.error)):
                self.generation += 1
            self._cached = fresh
            return fresh

    def _signature(self) -> tuple[int, ...] | str | None:
        """What identifies this version of the token without reading it; None = read again."""
        if self._config.token_file is not None:
            try:
                st = os.stat(self._config.token_file)
            except OSError:
                return None
            return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if self._config.token_env:
            value = os.environ.get(self._config.token_env)
            return None if value is None else f"env:{hash(value)}"
        return None
