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
