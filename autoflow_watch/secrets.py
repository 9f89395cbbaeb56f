"""Every rule about secrets, in one place, below every layer that applies them.

Secrets are the FlowAPI token (and whatever else a source reads as a credential). They must
never reach a log line, a notebook, a report, a manifest or a record. Four nets:

- values registered with :func:`register_secret` (the daemon registers the token it read; a
  worker registers the token a job hands it), replaced wherever they appear;
- the ``FLOWAPI_TOKEN`` of this process's environment, for code that runs beside a kernel
  that was given it;
- anything shaped like a JSON Web Token, which is what FlowAPI tokens are;
- parameters whose *name* says secret (``*token*``, ``*secret*``, ``*password*``…).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

REDACTED = "[redacted]"
TOKEN_ENV = "FLOWAPI_TOKEN"  # the one way a kernel receives the FlowAPI token
SECRET_WORDS = ("token", "secret", "password", "passwd", "credential", "api_key", "apikey")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
# header.payload.signature, each base64url; headers of JWTs always start with {" -> eyJ
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_ASSIGNMENT = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Za-z_]\w*)\s*=.*$", re.MULTILINE)


def register_secret(value: str | None) -> None:
    """Never let ``value`` reach a log line or a published file (a token, a password)."""
    if value and len(value) >= 6:
        with _secrets_lock:
            _secrets.add(value)


def has_secrets() -> bool:
    """Whether any secret was registered (log processors skip their work when none was)."""
    return bool(_secrets)


def redact(text: str) -> str:
    """Replace every registered secret in ``text``."""
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_text(text: str) -> str:
    """``text`` with every known secret value and every JWT-shaped string replaced."""
    text = redact(text)
    token = os.environ.get(TOKEN_ENV, "").strip()
    if len(token) >= 6:
        text = text.replace(token, REDACTED)
    return _JWT.sub(REDACTED, text)


def redact_tree(value: Any) -> Any:
    """``value`` (a notebook, or any JSON-like tree) with :func:`redact_text` applied to every string."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        for key in list(value):
            value[key] = redact_tree(value[key])
        return value
    if isinstance(value, list):
        return [redact_tree(item) for item in value]
    return value


def is_secret_name(name: str) -> bool:
    """Whether a parameter's name says its value is a secret."""
    return any(word in name.lower() for word in SECRET_WORDS)


def public_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameters safe to store and publish: values of secret-looking names are redacted."""
    return {name: REDACTED if is_secret_name(name) else value for name, value in parameters.items()}


def redact_assignments(source: str) -> str:
    """A parameters cell's source with secret-named assignments' values replaced."""
    return _ASSIGNMENT.sub(
        lambda m: (
            f"{m.group('indent')}{m.group('name')} = {REDACTED!r}" if is_secret_name(m.group("name")) else m.group(0)
        ),
        source,
    )


MAX_SECRET_FILE_BYTES = 4096


class SecretFileError(Exception):
    """A password file that is missing, unreadable, empty or not one line of UTF-8 (the message names it)."""


def read_small_text(path: Path, what: str, limit: int) -> str:
    """The UTF-8 text of a small file (a token, a password), or :class:`SecretFileError` naming it.

    ``what`` names the file in messages (``"FlowDB password file"``); at most ``limit`` bytes are read.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise SecretFileError(f"{what} {path} does not exist") from None
    except PermissionError:
        raise SecretFileError(f"{what} {path} is not readable by this user") from None
    except IsADirectoryError:
        raise SecretFileError(f"{what} {path} is a directory") from None
    except OSError as error:
        raise SecretFileError(f"{what} {path} cannot be read: {error.strerror}") from None
    if len(data) > limit:
        raise SecretFileError(f"{what} {path} is larger than {limit} bytes; check that it is the right file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretFileError(f"{what} {path} is not UTF-8 text") from None


def read_secret_file(path: Path, what: str) -> str:
    """The one-line secret in ``path`` (a trailing newline is not part of it), registered for redaction.

    Read anew at each call, so a rotated password needs no restart.
    """
    secret = read_small_text(path, what, MAX_SECRET_FILE_BYTES).rstrip("\r\n")
    register_secret(secret)  # before anything else can fail and print it
    if not secret:
        raise SecretFileError(f"{what} {path} is empty")
    if "\n" in secret:
        raise SecretFileError(f"{what} {path} has more than one line")
    return secret


_QUERY_PASSWORD = re.compile(r"(?i)(?<=[?&])(password|passwd)=[^&#]*")


def url_without_password(url: str) -> str:
    """``url`` as it may be printed, even when it does not parse: its userinfo's password and any
    ``password=`` query value replaced by ``***`` (everything before the last ``@`` counts as userinfo)."""
    url = _QUERY_PASSWORD.sub(lambda m: f"{m.group(1)}=***", url)
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"
