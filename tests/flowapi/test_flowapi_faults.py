"""A slow, failing or refusing FlowAPI: logged, retried with backoff, never fatal, never leaking the token."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from fake_flowapi import FakeFlowApi
from flowapi_helpers import Captured, MakeConfig

from autoflow_watch.config.model import FlowApiConfig
from autoflow_watch.sources import outage
from autoflow_watch.sources.flowapi.source import FlowApiSource, PollOutcome
from autoflow_watch.store import Fact


def kinds(captured: Captured, level: str | None = None) -> list[str]:
    return [e["kind"] for e in captured.named("flowapi.poll.failed") if level is None or e["log_level"] == level]


def test_server_error_is_logged_retried_and_source_recovers(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, captured: Captured
) -> None:
    recorded: list[Fact] = []
    source = FlowApiSource(make_config(), recorded.extend)
    fake_flowapi.set_mode("server_error")

    failed = source.poll_once()
    fake_flowapi.set_mode("ok")
    recovered = source.poll_once()

    assert (failed.ok, failed.failure, failed.facts) == (False, "server_error", 0)
    assert "HTTP 500" in failed.message
    assert recovered.ok and recovered.facts == 3 and len(recorded) == 3
    [event] = captured.named("flowapi.poll.failed")
    assert event["log_level"] == "warning" and event["url"] == fake_flowapi.url and event["next_retry_s"] == 5.0
    [back] = captured.named("flowapi.poll.recovered")
    assert back["after_kind"] == "server_error"
    assert "*****" not in captured.everything()  # flowclient prints 5xx responses to stdout; not through us


def test_hung_flowapi_times_out_and_source_keeps_polling(fake_flowapi: FakeFlowApi, make_config: MakeConfig) -> None:
    source = FlowApiSource(make_config(timeout="1s"), lambda facts: None)
    fake_flowapi.set_mode("hang")

    started = time.monotonic()
    outcome = source.poll_once()
    blocked = time.monotonic() - started
    fake_flowapi.set_mode("ok")
    after = source.poll_once()

    assert outcome.failure == "timeout" and "timed out" in outcome.message
    assert 0.9 <= blocked < 1 + 2
    assert after.ok and after.facts == 3


def test_trickling_flowapi_is_cut_off_at_the_hard_deadline(fake_flowapi: FakeFlowApi, make_config: MakeConfig) -> None:
    """Each byte arrives within the read timeout, so only the poll's own deadline ends it."""
    fake_flowapi.trickle_interval_s = 0.2  # the ~90-byte body would take ~18 s
    source = FlowApiSource(make_config(timeout="1s"), lambda facts: None)
    fake_flowapi.set_mode("trickle")

    started = time.monotonic()
    outcome = source.poll_once()
    blocked = time.monotonic() - started
    again = source.poll_once()

    assert outcome.failure == "timeout" and blocked < 1 + 2
    assert again.failure == "timeout" and "still not returned" in again.message
    assert len(fake_flowapi.seen()) == 1  # no pile-up of abandoned requests


def test_unauthorized_is_said_plainly_once_and_again_when_it_changes(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, captured: Captured, token_file: Path
) -> None:
    source = FlowApiSource(make_config(), lambda facts: None)
    fake_flowapi.set_mode("unauthorized")

    outcomes = [source.poll_once() for _ in range(3)]
    fake_flowapi.set_mode("ok")
    source.poll_once()
    fake_flowapi.set_mode("unauthorized")
    source.poll_once()

    assert {o.failure for o in outcomes} == {"unauthorized"}
    assert kinds(captured, "error") == ["unauthorized", "unauthorized"]  # first time, and after recovering
    assert kinds(captured, "debug") == ["unauthorized", "unauthorized"]  # the repeats
    assert "HTTP 401: Token has expired" in outcomes[0].message and str(token_file) in outcomes[0].message
    assert len(captured.named("flowapi.poll.recovered")) == 1


def test_a_lasting_failure_is_reminded_not_repeated(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, captured: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = FlowApiSource(make_config(), lambda facts: None)
    fake_flowapi.set_mode("server_error")
    source.poll_once()
    monkeypatch.setattr(outage, "REMIND_EVERY_S", 0.0)  # as if an hour had passed

    source.poll_once()

    first, reminder = captured.named("flowapi.poll.failed")
    assert "still_failing_s" not in first and reminder["log_level"] == "warning" and "still_failing_s" in reminder


def test_expired_token_says_when_it_expired(fake_flowapi: FakeFlowApi, make_config: MakeConfig) -> None:
    expired = fake_flowapi.make_token(exp=int(time.time()) - 3600)
    source = FlowApiSource(make_config(token=expired), lambda facts: None)

    outcome = source.poll_once()

    assert outcome.failure == "unauthorized"
    assert "expired at" in outcome.message and "no restart needed" in outcome.message


def test_forbidden_is_reported_as_forbidden(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, captured: Captured
) -> None:
    source = FlowApiSource(make_config(), lambda facts: None)
    fake_flowapi.set_mode("forbidden")

    outcome = source.poll_once()

    assert outcome.failure == "forbidden" and "HTTP 403" in outcome.message
    assert kinds(captured, "error") == ["forbidden"]


def test_bad_json_and_unexpected_statuses_are_bad_responses(fake_flowapi: FakeFlowApi, make_config: MakeConfig) -> None:
    source = FlowApiSource(make_config(), lambda facts: None)
    results = {}
    for mode in ("malformed", "not_json"):
        fake_flowapi.set_mode(mode)
        results[mode] = source.poll_once().failure
    for status in (302, 404, 418):
        fake_flowapi.set_raw(status, b"{}")
        results[str(status)] = source.poll_once().failure
    fake_flowapi.set_raw(503, b"<html>busy</html>")
    results["503"] = source.poll_once().failure

    assert results == {
        "malformed": "bad_response",
        "not_json": "bad_response",
        "302": "bad_response",
        "404": "bad_response",
        "418": "bad_response",
        "503": "server_error",
    }


def test_error_bodies_are_read_only_in_part_and_only_their_msg_is_kept(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig
) -> None:
    source = FlowApiSource(make_config(), lambda facts: None)
    fake_flowapi.set_raw(500, json.dumps({"msg": "x" * 100_000}))
    huge = source.poll_once()
    fake_flowapi.set_raw(502, json.dumps({"msg": "upstream\nflowdb down", "trace": "secret internals"}))
    small = source.poll_once()

    assert (huge.failure, huge.message) == ("server_error", "FlowAPI failed (HTTP 500)")
    assert (small.failure, small.message) == ("server_error", "FlowAPI failed (HTTP 502: upstream flowdb down)")


def test_refused_connection_is_reported_as_refused(make_config: MakeConfig) -> None:
    with socket.socket() as probe:  # bound, not listening: refused, and no other test can take the port meanwhile
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        source = FlowApiSource(make_config(url=f"http://127.0.0.1:{port}"), lambda facts: None)

        outcome = source.poll_once()

    assert outcome.failure == "refused" and "Connection refused" in outcome.message


def test_failing_store_is_reported_and_does_not_raise(fake_flowapi: FakeFlowApi, make_config: MakeConfig) -> None:
    def broken(facts: list[Fact]) -> None:
        raise RuntimeError("database is locked")

    outcome = FlowApiSource(make_config(), broken).poll_once()

    assert outcome.failure == "store_error" and "database is locked" in outcome.message


def test_backoff_doubles_from_small_and_is_capped_at_poll_interval(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig
) -> None:
    source = FlowApiSource(make_config(poll_interval="1m"), lambda facts: None)
    fake_flowapi.set_mode("server_error")

    delays = [source.poll_once().next_poll_s for _ in range(6)]
    fake_flowapi.set_mode("ok")
    healthy_delay = source.poll_once().next_poll_s
    fake_flowapi.set_mode("server_error")
    restarted = source.poll_once().next_poll_s

    assert delays == [5, 10, 20, 40, 60, 60]
    assert (healthy_delay, restarted) == (60, 5)


def test_run_polls_backs_off_and_stops_promptly(fake_flowapi: FakeFlowApi, make_config: MakeConfig) -> None:
    source = FlowApiSource(make_config(poll_interval="0.4s"), lambda facts: None, retry_start_s=0.1)
    fake_flowapi.set_mode("server_error")
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,))

    thread.start()
    time.sleep(1.5)
    stop.set()
    started = time.monotonic()
    thread.join(timeout=5)

    assert not thread.is_alive() and time.monotonic() - started < 0.5
    times = [r.at for r in fake_flowapi.seen()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 4
    for gap, expected in zip(gaps, [0.1, 0.2, 0.4, 0.4], strict=False):  # 0.1 s, doubled, capped at poll_interval
        assert expected <= gap < expected + 0.3  # the slack is for a busy 2-core CI machine


def test_stop_during_a_hang_returns_at_once(fake_flowapi: FakeFlowApi, make_config: MakeConfig) -> None:
    source = FlowApiSource(make_config(timeout="5s"), lambda facts: None)
    fake_flowapi.set_mode("hang")
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,))

    thread.start()
    time.sleep(0.3)
    stop.set()
    started = time.monotonic()
    thread.join(timeout=5)

    assert not thread.is_alive() and time.monotonic() - started < 0.5


def test_healthy_is_false_only_when_the_loop_is_stuck(fake_flowapi: FakeFlowApi, make_config: MakeConfig) -> None:
    release = threading.Event()
    stuck = threading.Event()

    def record(facts: list[Fact]) -> None:
        if stuck.is_set():
            release.wait(10)

    config = make_config(poll_interval="0.1s", timeout="0.1s")
    source = FlowApiSource(config, record, health_margin_s=0.3)
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,))
    assert source.healthy()  # not started: nothing is stuck
    fake_flowapi.set_mode("server_error")
    thread.start()
    try:
        time.sleep(0.8)
        failing_but_healthy = source.healthy()
        stuck.set()
        fake_flowapi.set_mode("ok")
        time.sleep(1.2)
        hung = source.healthy()
        release.set()
        time.sleep(0.3)
        back = source.healthy()
    finally:
        release.set()
        stop.set()
        thread.join(timeout=5)

    assert (failing_but_healthy, hung, back) == (True, False, True)


def test_plain_http_to_loopback_is_quiet_and_to_elsewhere_warns_once(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, captured: Captured
) -> None:
    FlowApiSource(make_config(), lambda facts: None).poll_once()
    FlowApiSource(make_config(url="http://flowapi.example.org"), lambda facts: None)
    FlowApiSource(make_config(url="https://flowapi.example.org"), lambda facts: None)

    assert [e["url"] for e in captured.named("flowapi.insecure_url")] == ["http://flowapi.example.org"]
    assert not [w for w in captured.warned if "NOT SECURE" in str(w.message)]


def _every_fault(source: FlowApiSource, server: FakeFlowApi) -> list[PollOutcome]:
    outcomes = []
    for mode in ("ok", "server_error", "unauthorized", "forbidden", "malformed", "not_json", "hang", "ok"):
        server.set_mode(mode)
        outcomes.append(source.poll_once())
    server.set_raw(500, b"oops")
    outcomes.append(source.poll_once())
    return outcomes


def test_token_never_appears_in_logs_warnings_output_or_outcomes(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, captured: Captured, token_file: Path
) -> None:
    token = fake_flowapi.make_token(sub="analyst@example.org")
    config = make_config(token=token, timeout="0.5s")
    source = FlowApiSource(config, lambda facts: None)

    outcomes = _every_fault(source, fake_flowapi)
    broken = token.replace(".", "", 1)
    token_file.write_text(broken)  # now not a JWT: its error must not echo it either
    outcomes.append(source.poll_once())
    token_file.write_text(fake_flowapi.make_token(sub=None))
    outcomes.append(source.poll_once())

    assert [o.failure for o in outcomes[-2:]] == ["token", "token"]
    assert all(r.bearer == token for r in fake_flowapi.seen())  # it was really used...
    text = captured.everything() + repr(outcomes)
    assert len(captured.events) > 10 and len(captured.records) > 10  # ...and there was output to search
    assert token not in text and broken not in text
    assert token.split(".")[2] not in text  # not even its signature
    assert "Bearer ey" not in text


def test_missing_token_is_a_token_error_and_sends_nothing(fake_flowapi: FakeFlowApi) -> None:
    config = FlowApiConfig(url=fake_flowapi.url, token_env="NO_SUCH_VARIABLE_FOR_TEST")
    source = FlowApiSource(config, lambda facts: None)

    outcome = source.poll_once()

    assert outcome.failure == "token" and "NO_SUCH_VARIABLE_FOR_TEST" in outcome.message
    assert fake_flowapi.seen() == []  # no request without a token


def test_an_endless_answer_without_content_length_is_cut_at_16_mib_and_the_source_recovers(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig
) -> None:
    """Issue 19, item 9: the size is counted as the body is read, never taken from Content-Length."""
    source = FlowApiSource(make_config(timeout="60s"), lambda facts: None)
    fake_flowapi.set_mode("endless")
    endless = source.poll_once()
    assert endless.failure == "bad_response" and f"over the {16 * 1024 * 1024} byte limit" in endless.message
    assert fake_flowapi.endless_sent < 32 * 1024 * 1024, "the client stopped reading soon after the limit"
    fake_flowapi.set_mode("ok")
    assert source.poll_once().ok
