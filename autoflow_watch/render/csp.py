"""The Content-Security-Policy that every published page carries (DESIGN.md, release 3).

Reports and the outbox's own pages (index, history, failure pages) share one policy: nothing may be
fetched or sent (`connect-src 'none'`, `form-action 'none'`), nothing loads from outside the page
(`default-src 'none'`), images only from `data:`, styles inline. Scripts are refused unless the page
names them: the portal's own inline scripts by their SHA-256 hash, a report's inline scripts only when
the notebook's outputs carry them (interactive charts).

The policy travels as the first element of `<head>` (`<meta http-equiv=...>`), so it also holds for
pages opened from `file://` or a share, where no server can send a header.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from html import escape

__all__ = ["content_security_policy", "csp_meta_tag", "script_hash"]


def script_hash(source: str) -> str:
    """The CSP source expression (`'sha256-…'`) that allows exactly this inline script's text."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(script_hashes: Iterable[str] = (), *, inline_scripts: bool = False) -> str:
    """The policy text: no fetch or send, nothing from outside; scripts only by hash or, for a report
    whose outputs carry scripts, inline (`inline_scripts=True`)."""
    hashes = list(dict.fromkeys(script_hashes))
    if inline_scripts:
        script_src = "'unsafe-inline'"
    elif hashes:
        script_src = " ".join(hashes)
    else:
        script_src = "'none'"
    directives = [
        "default-src 'none'",
        "img-src data:",
        "font-src data:",
        "media-src data:",
        "style-src 'unsafe-inline'",
        f"script-src {script_src}",
        "connect-src 'none'",
        "form-action 'none'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-src 'none'",
        "worker-src 'none'",
        "manifest-src 'none'",
    ]
    return "; ".join(directives)


def csp_meta_tag(script_hashes: Iterable[str] = (), *, inline_scripts: bool = False) -> str:
    """The `<meta http-equiv="Content-Security-Policy">` element to put first in a page's `<head>`."""
    policy = content_security_policy(script_hashes, inline_scripts=inline_scripts)
    return f'<meta http-equiv="Content-Security-Policy" content="{escape(policy, quote=True)}">'
