"""The fast tier's guard (tests/server_guard.py) bites: an unmarked test may start no process or server."""

from __future__ import annotations

import pytest

INNER = """
import socket
import subprocess
import sys

import pytest


def test_runs_a_process():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_listens():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()


def test_swallows_the_error():
    try:
        subprocess.run(["true"], check=True)
    except Exception:
        pass


def test_computes():
    assert sum(range(4)) == 6


@pytest.mark.process
def test_marked_runs_a_process():
    subprocess.run(["true"], check=True)


def test_uses_a_server_fixture(smtp):
    assert smtp.getsockname()[1] > 0
"""

SERVER_FIXTURE = """
import socket

import pytest


@pytest.fixture
def smtp():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(SERVER_FIXTURE)
    pytester.makepyfile(test_inner=INNER)
    return pytester


def test_an_unmarked_test_that_starts_a_process_or_listens_fails_naming_the_markers(inner: pytest.Pytester) -> None:
    result = inner.runpytest_inprocess("-p", "server_guard", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*test_inner.py::test_runs_a_process started a process (*-c pass), but carries none of the markers "
            "@pytest.mark.e2e, @pytest.mark.postgres, @pytest.mark.chromium, @pytest.mark.dask, @pytest.mark.server, "
            "@pytest.mark.process*",
            "*test_inner.py::test_listens listened on a socket (('127.0.0.1', *",
        ]
    )
    # the code under test swallowed the error: the test fails all the same
    result.stdout.fnmatch_lines(["FAILED *test_swallows_the_error*"])


def test_the_fast_tier_is_every_test_without_a_server_marker(inner: pytest.Pytester) -> None:
    result = inner.runpytest_inprocess("-p", "server_guard", "-p", "no:cacheprovider", "-m", "fast")
    result.assert_outcomes(passed=1, failed=3, deselected=2)  # the marked test and the smtp fixture's
    result = inner.runpytest_inprocess("-p", "server_guard", "-p", "no:cacheprovider", "-m", "not fast")
    result.assert_outcomes(passed=2, deselected=4)


def test_a_session_fixture_ended_after_a_fast_test_may_stop_its_server(pytester: pytest.Pytester) -> None:
    """pytest ends session fixtures at the last test's teardown, whichever test that is: not guarded."""
    pytester.makepyfile(
        test_order="""
import subprocess

import pytest


@pytest.fixture(scope="session")
def cluster():
    yield
    subprocess.run(["true"], check=True)  # pg_ctl stop, as tests/flowdb's scram_server does


@pytest.mark.postgres
def test_uses_the_cluster(cluster):
    pass


def test_computes_last():
    assert True
"""
    )
    result = pytester.runpytest_inprocess("-p", "server_guard", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
