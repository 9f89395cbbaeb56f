"""The dispatcher against real receivers: e-mail with attachment, Apprise JSON, grouping, outages."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from daemon_process import wait_for
from receivers import SMTP_PASSWORD, attachments, start_http

from autoflow_watch.config.model import NotifyConfig
from autoflow_watch.config.notify_urls import load_targets
from autoflow_watch.notify import Dispatcher, EventKind, RunEvent, SendPolicy

FAST = SendPolicy(group_window_s=0.5, send_timeout_s=5.0, retry_delays_s=(0.3, 0.3), max_queued=100)


def dead_event(tmp_path: Path, day: str = "2026-11-24", kind: EventKind = EventKind.DEAD) -> RunEvent:
    folder = tmp_path / "outbox" / "_failed" / "daily" / day / f"daily-{day}-a3-0123abcd"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text("<html><body>the failed notebook</body></html>", encoding="utf-8")
    return RunEvent(
        kind=kind,
        workflow="daily",
        reference_date=day,
        run_id=f"daily-{day}-a3-0123abcd",
        attempt=3,
        max_attempts=3,
        notebook="report",
        cell=4,
        error="ValueError: bad input for " + day,
        folder=folder,
        attachment=folder / "report.html",
    )


def dispatcher(*urls: str, on: tuple[str, ...] = ("failed", "dead", "recovered", "succeeded")) -> Dispatcher:
    targets = load_targets(NotifyConfig(urls=list(urls), on=list(on)))  # type: ignore[arg-type]
    sender = Dispatcher(targets, frozenset(EventKind(k) for k in on), FAST)
    sender.start()
    return sender


def test_an_email_names_the_run_and_attaches_the_failed_notebook(smtp, tmp_path):
    sender = dispatcher(smtp.url())
    sender.submit(dead_event(tmp_path))
    [mail] = wait_for(lambda: smtp.messages, 30, what="the e-mail")
    sender.close()
    assert mail["Subject"] == "autoflow-watch: daily 2026-11-24 dead (attempt 3)"
    assert mail["To"] == "ops@example.org"
    body = mail.get_body(preferencelist=("plain", "html")).get_content()
    for expected in ("daily", "2026-11-24", "dead", "attempt 3", "notebook report, cell 4", "ValueError: bad input"):
        assert expected in body
    assert "_failed/daily/2026-11-24/daily-2026-11-24-a3-0123abcd" in body
    assert dict(attachments(mail)) == {"report.html": b"<html><body>the failed notebook</body></html>"}
    assert smtp.logins == [("autoflow", SMTP_PASSWORD)], "the URL's credentials logged in"


def test_a_webhook_receives_apprise_json(http_hook, tmp_path):
    sender = dispatcher(http_hook.url())
    sender.submit(dead_event(tmp_path))
    [body] = wait_for(lambda: http_hook.bodies, 30, what="the JSON post")
    sender.close()
    assert body["title"] == "autoflow-watch: daily 2026-11-24 dead (attempt 3)"
    assert body["type"] == "failure"
    assert "ValueError: bad input for 2026-11-24" in body["message"]
    assert [a["filename"] for a in body.get("attachments", [])] == ["report.html"]


def test_events_not_chosen_by_on_send_nothing(http_hook, tmp_path):
    sender = dispatcher(http_hook.url(), on=("dead",))
    sender.submit(dead_event(tmp_path, kind=EventKind.FAILED))
    sender.close(wait_s=5)
    assert http_hook.bodies == []


def test_many_runs_failing_at_once_become_one_message(http_hook, tmp_path):
    sender = dispatcher(http_hook.url())
    days = [f"2026-11-{d:02d}" for d in range(1, 21)]
    for day in days:
        sender.submit(dead_event(tmp_path, day))
    [body] = wait_for(lambda: http_hook.bodies, 30, what="the grouped post")
    time.sleep(1.5)  # longer than the window: nothing else follows
    sender.close()
    assert len(http_hook.bodies) == 1
    assert body["title"] == "autoflow-watch: 20 runs of daily: 20 dead"
    assert all(day in body["message"] for day in days)
    assert len(body.get("attachments", [])) == 3, "a grouped message attaches the first few files only"


@pytest.mark.server  # HTTP receivers
def test_a_failing_target_is_retried_logged_once_and_never_holds_up_another(tmp_path, log_lines):
    broken, healthy = start_http(status=500, delay_s=0.5), start_http()
    try:
        sender = dispatcher(broken.url("down"), healthy.url("up"))
        sender.submit(dead_event(tmp_path, "2026-11-01"))
        wait_for(lambda: healthy.bodies, 10, what="the healthy target's post")
        assert len(broken.bodies) < 3, "the healthy target got its message while the broken one was still retrying"
        wait_for(lambda: len(broken.bodies) == 3, 30, what="one try and two retries")
        sender.submit(dead_event(tmp_path, "2026-11-02"))  # still down: counted, not logged again
        wait_for(lambda: len(broken.bodies) == 6 and len(healthy.bodies) == 2, 30, what="the second message")
        time.sleep(1.0)
        broken.status = 200
        sender.submit(dead_event(tmp_path, "2026-11-03"))
        wait_for(lambda: len(broken.bodies) == 7, 30, what="the recovered target's post")
        sender.close()
    finally:
        for receiver in (broken, healthy):
            assert receiver.server is not None
            receiver.server.shutdown()
    lines = log_lines()
    failing = [line for line in lines if line["event"] == "notify.target_failing"]
    assert len(failing) == 1, "one outage, one line"
    assert failing[0]["target"] == f"notify.urls[0] json://127.0.0.1:{broken.port}", "never its path (issue 19)"
    assert "500" in failing[0]["reason"]
    [recovered] = [line for line in lines if line["event"] == "notify.target_recovered"]
    assert recovered["lost_messages"] == 2, "both messages of the outage gave up after their retries"
    counts = {t.index: c for t, c in sender.counts()}  # 0: down, 1: up
    assert (counts[0].sent, counts[0].failed, counts[0].dropped) == (1, 6, 2)
    assert counts[1].sent == 3 and counts[1].failed == 0


@pytest.mark.server  # an HTTP receiver that hangs
def test_close_waits_at_most_its_limit_for_a_target_that_hangs(tmp_path):
    hanging = start_http(delay_s=60)
    try:
        sender = Dispatcher(
            load_targets(NotifyConfig(urls=[hanging.url()])),
            frozenset({EventKind.DEAD}),
            SendPolicy(group_window_s=0.1, send_timeout_s=60.0, retry_delays_s=()),
        )
        sender.start()
        sender.submit(dead_event(tmp_path))
        wait_for(lambda: hanging.bodies, 10, what="the send to start")
        started = time.monotonic()
        sender.close(wait_s=1.0)
        assert time.monotonic() - started < 15, "shutdown is not held by a send in flight"
    finally:
        assert hanging.server is not None
        hanging.server.shutdown()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mailto://user:Hunter2Pass@", "mailto:// URL"),
        ("nosuchservice://user:Hunter2Pass@host", "nosuchservice:// URL"),
        ("just-a-word-Hunter2Pass", "not a URL"),
    ],
)
def test_urls_that_do_not_parse_are_named_by_scheme_only(url, expected):
    from autoflow_watch.config.notify_urls import urls_problems

    [(where, problem)] = urls_problems(NotifyConfig(urls=["json://127.0.0.1:9/ok", url]))
    assert where == "notify.urls[1]"
    assert expected in problem and "Hunter2Pass" not in problem
