"""The real daemon notifies: failed -> dead -> (fix, rerun) -> recovered, by e-mail and webhook, secrets kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, cli, wait_for
from faulty_project import drop_marker, single_notebook_project
from receivers import SMTP_PASSWORD, attachments, start_http

pytestmark = pytest.mark.e2e

HOOK_PASSWORD = "hook-Pa55word-9f8e7d"


def notify_project(tmp_path: Path, urls: list[str], on: str, *, backoff: str = "8s") -> tuple[Path, Path]:
    """A one-notebook workflow that fails while ``broken`` exists; the URLs go in a secret file."""
    flag = tmp_path / "broken"
    flag.touch()
    cell = f"import os\nif os.path.exists({str(flag)!r}):\n    raise ValueError('bad input for ' + reference_date)"
    config = single_notebook_project(
        tmp_path, cell, execution=f'retry_backoff = "{backoff}"', workflow="max_attempts = 2", formats='["html", "pdf"]'
    )
    secret = tmp_path / "secrets" / "notify-urls"
    secret.parent.mkdir()
    secret.write_text("# one Apprise URL a line\n" + "\n".join(urls) + "\n", encoding="utf-8")
    with config.open("a", encoding="utf-8") as handle:
        handle.write(f'\n[notify]\nurls_file = "secrets/notify-urls"\non = {on}\n')
    return config, flag


def files_holding(folder: Path, secret: str, skip: set[Path]) -> list[Path]:
    return [
        path
        for path in folder.rglob("*")
        if path.is_file() and path not in skip and secret.encode() in path.read_bytes()
    ]


def test_failed_dead_then_recovered_in_order_by_mail_and_webhook_without_leaking_urls(tmp_path, smtp):
    hook = start_http()
    hook_url = f"json://autoflow:{HOOK_PASSWORD}@127.0.0.1:{hook.port}/hook"
    config, flag = notify_project(tmp_path, [smtp.url(), hook_url], '["failed", "dead", "recovered", "succeeded"]')
    assert cli(config, "validate").returncode == 0
    daemon = DaemonProcess(config).start()
    try:
        drop_marker(config)
        wait_for(lambda: len(hook.bodies) >= 2, 120, what="failed and dead notifications")
        flag.unlink()  # the fix
        assert cli(config, "rerun", "faulty", "2026-11-24").returncode == 0
        wait_for(lambda: len(hook.bodies) >= 3 and len(smtp.messages) >= 3, 120, what="the recovered notification")
    finally:
        assert daemon.stop() == 0
        assert hook.server is not None
        hook.server.shutdown()
    titles = [body["title"] for body in hook.bodies]
    assert titles == [
        "autoflow-watch: faulty 2026-11-24 failed (attempt 1)",
        "autoflow-watch: faulty 2026-11-24 dead (attempt 2)",
        "autoflow-watch: faulty 2026-11-24 recovered (attempt 1)",
    ], "recovered once, not also succeeded"
    assert [m["Subject"] for m in smtp.messages] == titles
    _failed, dead, recovered = smtp.messages
    body = dead.get_body(preferencelist=("plain", "html")).get_content()
    assert "notebook job, cell 3" in body and "ValueError: bad input for 2026-11-24" in body
    assert "_failed/faulty/2026-11-24/faulty-2026-11-24-a2-" in body
    [(name, html)] = attachments(dead)
    assert name == "job.html" and b"bad input for 2026-11-24" in html
    [(pdf_name, pdf)] = attachments(recovered)
    assert pdf_name == "job.pdf" and pdf.startswith(b"%PDF")
    assert "outbox/faulty/2026-11-24" in recovered.get_body(preferencelist=("plain", "html")).get_content()
    skip = {tmp_path / "secrets" / "notify-urls"}
    for secret in (SMTP_PASSWORD, HOOK_PASSWORD):
        assert secret not in daemon.log_text()
        assert files_holding(tmp_path, secret, skip) == [], "no file the daemon wrote holds a URL's secret"
    assert "apprise" not in {line.get("logger") for line in daemon.logs()}


def test_a_slow_failing_target_does_not_delay_the_runs_nor_hold_up_shutdown(tmp_path):
    slow = start_http(status=500, delay_s=90)
    config, flag = notify_project(tmp_path, [slow.url()], '["failed", "dead", "succeeded"]', backoff="1s")
    flag.unlink()
    days = ("2026-11-22", "2026-11-23", "2026-11-24")
    for day in days:
        drop_marker(config, day)
    daemon = DaemonProcess(config).start()
    try:

        def all_succeeded() -> list[dict[str, object]] | None:
            runs = json.loads(cli(config, "status", "--json").stdout)
            done = [r for r in runs if r["state"] == "succeeded"]
            return done if len(done) == len(days) else None

        wait_for(all_succeeded, 180, what="three succeeded runs")
        assert slow.answered_at == [], "every run finished while the target had not answered once"
        wait_for(lambda: slow.bodies, 30, what="the grouped successes to be sent (its answer takes 90 s)")
    finally:
        code = daemon.stop(timeout=60)
        assert slow.server is not None
        slow.server.shutdown()
    assert code == 0
    assert daemon.events("notify.unsent_at_shutdown"), "SIGTERM left the hanging send behind instead of waiting"
