"""``[flowapi] schedule``: cron times instead of ``poll_interval``, validated, announced, never fired twice."""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from pathlib import Path

import pytest
import structlog
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flowapi"))

from fake_flowapi import FakeFlowApi

from autoflow_watch.config.model import FlowApiConfig
from autoflow_watch.sources.flowapi.schedule import PollSchedule, next_scheduled_check
from autoflow_watch.sources.flowapi.source import FlowApiSource


def local(*args: int) -> float:
    return dt.datetime(*args).timestamp()  # naive: the host's time zone, as cron reads it


def test_a_cron_schedule_waits_until_its_next_time_and_never_fires_one_twice() -> None:
    now = [local(2026, 11, 24, 23, 59, 0)]
    schedule = PollSchedule(FlowApiConfig(url="http://x", schedule="0 0 * * *"), clock=lambda: now[0])
    assert schedule.first_delay_s() == pytest.approx(60.0)
    now[0] = local(2026, 11, 24, 23, 59, 59, 900000)  # woke a hair early: the same midnight is not due twice
    assert schedule.regular_delay_s() == pytest.approx(24 * 3600 + 0.1)


def test_with_poll_interval_the_first_check_is_at_once() -> None:
    schedule = PollSchedule(FlowApiConfig(url="http://x", poll_interval="2m"))
    assert (schedule.first_delay_s(), schedule.regular_delay_s()) == (0.0, 120.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"schedule": "0 0 * *"}, "not a cron expression of five fields"),
        ({"schedule": "99 0 * * *"}, "has a field out of range"),
        ({"schedule": "0 0 30 2 *"}, "never fires"),
        ({"schedule": "0 0 * * *", "poll_interval": "5m"}, "set poll_interval or schedule, not both"),
    ],
)
def test_a_bad_schedule_is_refused(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FlowApiConfig(url="http://x", **values)


def test_status_line_gives_the_next_cron_time_in_local_time() -> None:
    config = FlowApiConfig(url="http://x", schedule="30 6 * * 1-5")
    shown = next_scheduled_check(config, now=local(2026, 11, 27, 7, 0))  # a Friday, after 06:30
    assert shown is not None and shown.startswith("2026-11-30T06:30:00")  # the next Monday
    assert next_scheduled_check(FlowApiConfig(url="http://x")) is None


@pytest.mark.server  # a FlowAPI on 127.0.0.1
def test_a_scheduled_source_announces_its_next_check_and_does_not_poll_before(tmp_path: Path) -> None:
    with FakeFlowApi({"calls": ["2026-11-24"]}) as server:
        token_file = tmp_path / "token"
        token_file.write_text(server.make_token())
        config = FlowApiConfig(url=server.url, token_file=token_file, schedule="0 0 1 1 *", timeout="30s")
        recorded: list[object] = []
        source = FlowApiSource(config, lambda facts: recorded.extend(facts) or None)
        stop = threading.Event()
        with structlog.testing.capture_logs() as events:
            thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
            thread.start()
            time.sleep(1.0)
            assert source.healthy()  # waiting months for its time is not being stuck
            stop.set()
            thread.join(timeout=10)
        assert server.seen() == [] and recorded == []
        announced = [e for e in events if e["event"] == "flowapi.next_check"]
        assert len(announced) == 1 and announced[0]["schedule"] == "0 0 1 1 *"
        assert announced[0]["next_check"].startswith(f"{dt.date.today().year + 1}-01-01T00:00:00")
        assert source.poll_once().ok  # run --once checks at once whatever the schedule
        assert len(server.seen()) == 1 and len(recorded) == 1


def test_cron_nicknames_are_taken_as_their_five_fields() -> None:
    assert FlowApiConfig(url="http://x", schedule="@daily").schedule == "0 0 * * *"
    assert FlowApiConfig(url="http://x", schedule="@hourly").schedule == "0 * * * *"
