"""The portal's Jinja2 templates (``publish/templates/``), their filters, and each page's CSP.

Every page is self-contained: the stylesheet and the page's one script are inlined from the
files beside the templates, and the page's Content-Security-Policy (``render/csp.py``, the one
reports carry) comes first in ``<head>``, allowing that script by its hash and nothing else.
Links are relative (``href`` climbs ``up`` folders to the outbox, then percent-encodes the path).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from autoflow_watch import __version__
from autoflow_watch.publish.portal_model import DateState
from autoflow_watch.render.csp import csp_meta_tag, script_hash

GLYPHS = {state.value: state.glyph for state in DateState}


def href(path: str, up: int = 0) -> str:
    """A link from a page ``up`` folders below the outbox to ``path`` (relative to the outbox)."""
    target, _, fragment = path.partition("#")
    encoded = "../" * up + quote(target)
    return encoded + ("#" + quote(fragment) if fragment else "")


def when(value: str | None) -> str:
    """An ISO time as the reader's outbox server shows times elsewhere: local, to the minute."""
    if not value:
        return ""
    try:
        return dt.datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return ""


def took(seconds: float | None) -> str:
    """``4.2 s``, ``3 min 05 s``, ``2 h 07 min``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def main_link(date: dict[str, Any]) -> str | None:
    """Where a date leads: its report's page, else its newest failed attempt's page (or file), else None."""
    report = date.get("report")
    if report and report.get("complete"):
        files = report.get("files") or []
        html = [f for f in files if f.endswith(".html")]
        return str((html or files or [report.get("manifest")])[0])
    for attempt in date.get("failed_attempts", []):
        if attempt.get("page") or attempt.get("files"):
            return str(attempt.get("page") or attempt["files"][0])
    return None


def newest_report(workflow: dict[str, Any]) -> dict[str, Any] | None:
    for date in workflow.get("dates", []):
        if date.get("report") and date["report"].get("complete"):
            return dict(date)
    return None


def json_for_script(value: Any) -> Markup:
    """JSON to inline in a ``<script type="application/json">``: nothing in it can end the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("autoflow_watch.publish", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        href=href, when=when, took=took, main_link=main_link, newest_report=newest_report, basename=_basename
    )
    env.globals.update(glyphs=GLYPHS, version=__version__)
    return env


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


@functools.cache
def asset(name: str) -> str:
    """A file beside the templates (the stylesheet, the search script), as text."""
    loader = environment().loader
    assert loader is not None
    return loader.get_source(environment(), name)[0]


def render_page(template: str, *, script: str | None = None, **context: Any) -> str:
    """A page: its CSP first in <head> (the script allowed by hash), the stylesheet and script inline."""
    hashes = [script_hash(script)] if script else []
    page = (
        environment()
        .get_template(template)
        .render(
            csp=Markup(csp_meta_tag(hashes)),
            css=Markup(asset("portal.css")),
            script=Markup(script) if script else None,
            generated=dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            **context,
        )
    )
    return page if page.endswith("\n") else page + "\n"


def render_xml(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context) + "\n"
