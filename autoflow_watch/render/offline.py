"""Make HTML fragments load nothing from the network.

A report is read on machines without internet access and printed by WeasyPrint, so every
resource it needs is embedded. Analysts' outputs (``text/html`` of plotting libraries,
``<img src="https://...">`` in markdown) may still point at a CDN; this module removes those
references and leaves a visible note in their place, so the reader knows something was left out.

Links (``<a href>``, ``<area href>``) are not resource loads: an analyst's link to a web page
stays. Rewriting is done with regular expressions on the tags themselves rather than by
re-serialising a parsed tree, so everything else (inline SVG attribute case, whitespace in
``<pre>``) stays byte for byte as the notebook produced it.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

# a URL that leaves the machine: any scheme with a host (http, https, ftp, ws) or protocol-relative //
_REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
_SAFE_SCHEMES = ("data:", "about:", "javascript:", "#", "mailto:", "tel:")

_ATTR = r"""(?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*"""
_TAG = re.compile(rf"<(?P<name>[a-zA-Z][a-zA-Z0-9:-]*)(?P<attrs>{_ATTR})\s*(?P<close>/?)>")
_ATTRIBUTE = re.compile(r"""(?P<lead>\s+)(?P<key>[^\s"'>/=]+)(?:\s*=\s*(?P<value>"[^"]*"|'[^']*'|[^\s"'>]+))?""")
_SCRIPT = re.compile(r"<script\b(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_STYLE_BLOCK = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.IGNORECASE | re.DOTALL)
_CSS_URL = re.compile(r"""url\(\s*(?P<q>["']?)(?P<url>[^"')]*)(?P=q)\s*\)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*["']?(?P<url>[^"')\s;]*)["']?\s*\)?[^;]*;?""", re.IGNORECASE)

# attributes that make a browser (or WeasyPrint) fetch something
_LOADING_ATTRIBUTES = {"src", "href", "xlink:href", "srcset", "data", "poster", "background", "action", "formaction"}
_LINK_TAGS = {"a", "area"}
_NOTE = '<span class="afw-removed" title="{title}">[{what} left out: it would load {host}]</span>'


def is_remote(url: str) -> bool:
    """Whether loading ``url`` would leave the machine."""
    url = html.unescape(url).strip()
    if url.lower().startswith(_SAFE_SCHEMES):
        return False
    return bool(_REMOTE.match(url))


def _host(url: str) -> str:
    url = html.unescape(url).strip()
    return urlsplit(url if "://" in url else f"http:{url}").hostname or "a remote address"


def offline_css(css: str) -> str:
    """Drop ``@import`` of remote sheets and ``url()`` of remote fonts and images."""
    css = _CSS_IMPORT.sub(lambda m: "" if is_remote(m.group("url")) else m.group(0), css)
    return _CSS_URL.sub(lambda m: "none" if is_remote(m.group("url")) else m.group(0), css)


def _rewrite_tag(match: re.Match[str]) -> str:
    name = match.group("name").lower()
    attrs = match.group("attrs")
    if not attrs:
        return match.group(0)
    removed: list[str] = []

    def attribute(m: re.Match[str]) -> str:
        key = m.group("key").lower()
        raw = m.group("value") or ""
        quote = raw[0] if raw[:1] in ("'", '"') else ""
        value = raw[1:-1] if quote else raw
        if key == "style":
            return f"{m.group('lead')}{m.group('key')}={quote}{offline_css(value)}{quote}"
        if key in _LOADING_ATTRIBUTES and not (name in _LINK_TAGS and key == "href"):
            urls = [part.strip().split(" ")[0] for part in value.split(",")] if key == "srcset" else [value]
            if any(is_remote(u) for u in urls):
                removed.append(value)
                return ""
        return m.group(0)

    new_attrs = _ATTRIBUTE.sub(attribute, attrs)
    if new_attrs == attrs:
        return match.group(0)
    if not removed or name not in {"img", "iframe", "embed", "object", "video", "audio"}:
        return f"<{match.group('name')}{new_attrs}{match.group('close')}>"
    what = "an image" if name == "img" else f"an {name}" if name[0] in "aeiou" else f"a {name}"
    note = _NOTE.format(title=html.escape(removed[0]), what=what, host=html.escape(_host(removed[0])))
    if name in {"img", "embed"}:  # void elements: the note takes their place
        return note
    return f"{note}<{match.group('name')}{new_attrs} hidden{match.group('close')}>"  # its content stays valid


def _rewrite_script(match: re.Match[str]) -> str:
    src = re.search(r"""\bsrc\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", match.group("attrs"), re.IGNORECASE)
    if src and is_remote(src.group(1).strip("\"'")):
        url = src.group(1).strip("\"'")
        return _NOTE.format(title=html.escape(url), what="a script", host=html.escape(_host(url)))
    return match.group(0)


def offline_html(fragment: str) -> str:
    """``fragment`` with every remote resource reference removed (links kept)."""
    if "//" not in fragment and "@import" not in fragment.lower():
        return fragment  # the common case: nothing that could be remote, keep it untouched and fast
    fragment = _SCRIPT.sub(_rewrite_script, fragment)
    fragment = _STYLE_BLOCK.sub(lambda m: m.group(1) + offline_css(m.group(2)) + m.group(3), fragment)
    return _TAG.sub(_rewrite_tag, fragment)


# what the tests (and a final check of every page) call a remote resource reference
REMOTE_REFERENCE = re.compile(
    r"""<(?:script|link|img|iframe|source|video|audio|embed|image|use)\b[^>]*?\s(?:src|href|xlink:href|srcset)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//""",
    re.IGNORECASE,
)


def remote_references(page: str) -> list[str]:
    """Every remote resource reference left in ``page`` (should be none)."""
    return [m.group(0) for m in REMOTE_REFERENCE.finditer(page)]
