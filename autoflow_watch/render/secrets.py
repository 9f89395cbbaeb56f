"""Keep secrets out of what is published: reports, executed notebooks.

A notebook may print the FlowAPI token by mistake (``print(os.environ)``), and papermill
records every parameter in the notebook's metadata. Three nets, applied to every string of
the notebook (sources, outputs, metadata) before anything is rendered or published from it:

- values registered with :func:`autoflow_watch.logs.register_secret` (the daemon registers
  the token it read), and the ``FLOWAPI_TOKEN`` of this process's environment (the worker
  hands it to kernels that way);
- anything shaped like a JSON Web Token, which is what FlowAPI tokens are;
- parameters whose *name* says secret (``*token*``, ``*secret*``, ``*password*``…).
"""

from __future__ import annotations

import os
import re
from typing import Any

from autoflow_watch.executor.params import is_secret_name
from autoflow_watch.logs import REDACTED, redact

TOKEN_ENV = "FLOWAPI_TOKEN"
# header.payload.signature, each base64url; headers of JWTs always start with {" -> eyJ
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_ASSIGNMENT = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Za-z_]\w*)\s*=.*$", re.MULTILINE)


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


def redact_assignments(source: str) -> str:
    """A parameters cell's source with secret-named assignments' values replaced."""
    return _ASSIGNMENT.sub(
        lambda m: (
            f"{m.group('indent')}{m.group('name')} = {REDACTED!r}" if is_secret_name(m.group("name")) else m.group(0)
        ),
        source,
    )
