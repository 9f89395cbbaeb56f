"""The text of a notification: one run in full, or many runs grouped into one message."""

from __future__ import annotations

import socket
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from autoflow_watch.notify.events import EventKind, RunEvent

MAX_ATTACHMENTS = 3  # a grouped message attaches the first few runs' files only
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # bigger files are named in the message, not attached
MAX_LISTED = 50  # a grouped message lists this many runs, then counts the rest


@dataclass(frozen=True)
class Message:
    """A notification ready for Apprise: title, plain-text body, files to attach, its severity."""

    title: str
    body: str
    attachments: tuple[Path, ...]
    failure: bool


def compose(events: list[RunEvent], dropped: int = 0) -> Message:
    """One message for ``events``: the run itself when there is one, a digest when several."""
    if len(events) == 1 and not dropped:
        return _single(events[0])
    return _grouped(events, dropped)


def _where(event: RunEvent) -> str:
    if event.notebook is None:
        return "-"
    return f"notebook {event.notebook}" + (f", cell {event.cell}" if event.cell is not None else "")


def _state_text(event: RunEvent) -> str:
    return {
        EventKind.DEAD: f"dead: attempt {event.attempt} was its last ({event.max_attempts} allowed)",
        EventKind.FAILED: f"failed: attempt {event.attempt} of {event.max_attempts}, will be retried",
        EventKind.RECOVERED: f"recovered: succeeded at attempt {event.attempt} after a failed one",
        EventKind.SUCCEEDED: f"succeeded at attempt {event.attempt}",
    }[event.kind]


def _single(event: RunEvent) -> Message:
    lines = [
        f"Workflow:       {event.workflow}",
        f"Reference date: {event.reference_date}",
        f"State:          {_state_text(event)}",
        f"Attempt:        {event.attempt} of {event.max_attempts}",
        f"Run id:         {event.run_id}",
    ]
    if event.kind.is_failure:
        lines += [f"Failed in:      {_where(event)}", f"Error:          {event.error or '-'}"]
        lines.append(f"Debug folder:   {event.folder or '(not filed)'}")
    else:
        lines.append(f"Report:         {event.folder or '-'}")
    if event.reused:
        lines.append(f"Reused:         {', '.join(event.reused)} (unchanged, from an earlier attempt)")
    attachments, notes = _attachable([event])
    lines += notes
    lines.append(f"Host:           {socket.gethostname()}")
    title = f"autoflow-watch: {event.workflow} {event.reference_date} {event.kind.value} (attempt {event.attempt})"
    return Message(title, "\n".join(lines) + "\n", attachments, event.kind.is_failure)


def _grouped(events: list[RunEvent], dropped: int) -> Message:
    kinds = Counter(e.kind.value for e in events)
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda item: -item[1]))
    total = len(events) + dropped
    lines = [f"{total} run events at once ({summary}); grouped into one message.", ""]
    for event in events[:MAX_LISTED]:
        head = f"- {event.kind.value:<9} {event.workflow} {event.reference_date} attempt {event.attempt}"
        if event.kind.is_failure:
            lines.append(f"{head}: {_where(event)}: {event.error or '-'}")
        else:
            lines.append(head)
        lines.append(f"  {event.folder or '-'}")
    if len(events) > MAX_LISTED or dropped:
        lines.append(f"… and {total - min(len(events), MAX_LISTED)} more: see `autoflow-watch status`.")
    attachments, notes = _attachable(events[:MAX_ATTACHMENTS])
    lines += ["", *notes, f"Host: {socket.gethostname()}"]
    workflows = sorted({e.workflow for e in events})
    what = workflows[0] if len(workflows) == 1 else f"{len(workflows)} workflows"
    title = f"autoflow-watch: {total} runs of {what}: {summary}"
    failure = any(e.kind.is_failure for e in events)
    return Message(title, "\n".join(lines) + "\n", attachments, failure)


def _attachable(events: list[RunEvent]) -> tuple[tuple[Path, ...], list[str]]:
    files, notes = [], []
    for event in events:
        path = event.attachment
        if path is None:
            continue
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size > MAX_ATTACHMENT_BYTES:
            notes.append(f"Not attached ({size // 1024 // 1024} MiB): {path}")
        else:
            files.append(path)
    if files:
        notes.insert(0, "Attached:       " + ", ".join(p.name for p in files))
    return tuple(files), notes
