"""The fast tier's guard: a test that starts a server or a process must say so with a marker.

A test using a fixture of :data:`FIXTURE_MARKERS` gets that fixture's marker. A test carrying none
of :data:`SERVER_MARKERS` then is marked ``fast`` at collection (``pytest -m fast``
is the fast tier). While a fast test sets up (its fixtures of every scope included) and runs, starting a process
(``subprocess``, ``os.fork``, ``os.posix_spawn``, multiprocessing), listening on a socket, or
using the suite's PostgreSQL server raises :class:`ServerInFastTest`, a message naming the test
and the markers to choose from; the test fails even if the code under test swallows the error.

Loaded by ``tests/conftest.py``; ``pytest -p server_guard`` loads it into a pytester run.
"""

from __future__ import annotations

import contextlib
import multiprocessing.util
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

SERVER_MARKERS = {
    "e2e": "starts the real daemon or real kernels (slower)",
    "postgres": "uses PostgreSQL: the server scripts/test.sh starts, or a private cluster of the test's own",
    "chromium": "starts Debian's chromium (and chromedriver)",
    "dask": "starts a real Dask scheduler and workers",
    "server": "listens on a socket: the fake FlowAPI, SMTP/HTTP receivers, the metrics endpoint, a proxy",
    "process": "starts a child process: the CLI, a tool (systemd-analyze, lint-imports, pdftotext), a helper script",
}
# fixtures that start a server: a test using one carries its marker without saying so again
FIXTURE_MARKERS = {
    "fake_flowapi": "server",
    "smtp": "server",
    "http_hook": "server",
    "executed": "e2e",  # tests/render: notebooks executed in real kernels, once per session
    "rendered": "e2e",
    "cluster": "dask",
    "flowdb": "postgres",
    "scram_server": "postgres",
    "scram_flowdb": "postgres",
}
FAST = "fast"
# what ctypes.util.find_library runs to find a shared library (WeasyPrint's first import does): not a server
LIBRARY_LOOKUP = {"ldconfig", "gcc", "cc", "ld", "objdump", "file"}  # file: platform.architecture() at import


class ServerInFastTest(RuntimeError):
    """A test without a server marker started a process or a server (see the module docstring)."""


class _Guard:
    """Which test is guarded now (None: nothing is), and what it tried; a stack for nested pytester runs."""

    def __init__(self) -> None:
        self.test: str | None = None
        self.violations: list[str] = []

    def refuse(self, what: str) -> None:
        if self.test is None:
            return
        message = (
            f"{self.test} {what}, but carries none of the markers "
            f"{', '.join('@pytest.mark.' + name for name in SERVER_MARKERS)}: mark it with the one that fits "
            "(pyproject.toml lists them), so that the fast tier (pytest -m fast) starts no server"
        )
        self.violations.append(message)
        raise ServerInFastTest(message)


GUARD = _Guard()


def check(what: str) -> None:
    """Fail the running test if it is a fast one: ``what`` (e.g. "uses PostgreSQL") needs a marker."""
    GUARD.refuse(what)


def _wrap(owner: Any, name: str, what: Callable[..., str | None]) -> None:
    original = getattr(owner, name, None)
    if original is None or getattr(original, "_server_guard", False):
        return

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if GUARD.test is not None:
            refused = what(*args, **kwargs)
            if refused is not None:
                GUARD.refuse(refused)
        return original(*args, **kwargs)

    guarded._server_guard = True  # type: ignore[attr-defined]
    guarded.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(owner, name, guarded)


def _command(popen: Any, args: Any, executable: Any, *rest: Any, **kwargs: Any) -> str | None:
    argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
    program = os.path.basename(os.fsdecode(executable or argv[0]).split()[0]) if argv else "?"
    if program in LIBRARY_LOOKUP:
        return None
    return f"started a process ({' '.join(os.fsdecode(a) for a in argv)[:120]})"


def install() -> None:
    """Put the checks in place (once per process; they only act while a fast test runs)."""
    _wrap(subprocess.Popen, "_execute_child", _command)
    _wrap(os, "fork", lambda *a, **k: "forked a process (os.fork)")
    _wrap(os, "forkpty", lambda *a, **k: "forked a process (os.forkpty)")
    _wrap(os, "posix_spawn", lambda path, *a, **k: f"started a process ({path})")
    _wrap(os, "posix_spawnp", lambda path, *a, **k: f"started a process ({path})")
    _wrap(multiprocessing.util, "spawnv_passfds", lambda path, *a, **k: f"started a process ({path})")
    _wrap(socket.socket, "listen", lambda sock, *a, **k: f"listened on a socket ({_address(sock)})")


def _address(sock: socket.socket) -> str:
    try:
        return str(sock.getsockname())
    except OSError:
        return "?"


def is_fast(item: pytest.Item) -> bool:
    return not any(item.get_closest_marker(name) for name in SERVER_MARKERS)


# -- pytest hooks ---------------------------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    known = "\n".join(config.getini("markers"))
    for name, why in {**SERVER_MARKERS, FAST: "starts no server or process (added to every unmarked test)"}.items():
        if f"{name}:" not in known:
            config.addinivalue_line("markers", f"{name}: {why}")
    install()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            if fixture in FIXTURE_MARKERS:
                item.add_marker(FIXTURE_MARKERS[fixture])
        if is_fast(item):
            item.add_marker(FAST)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    saved = GUARD.test, GUARD.violations
    GUARD.test, GUARD.violations = None, []
    try:
        yield
    finally:
        GUARD.test, GUARD.violations = saved


@contextlib.contextmanager
def _guarding(item: pytest.Item) -> Iterator[None]:
    """Guard a fast test's set-up (its fixtures, of any scope) and its call; not its teardown.

    At a teardown, pytest also ends the session and module fixtures the last test of a worker
    leaves behind: the PostgreSQL cluster a postgres test made may be stopped there, whatever
    that last test is.
    """
    GUARD.test = item.nodeid if is_fast(item) else None
    try:
        yield
    finally:
        GUARD.test = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _guarding(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _guarding(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if GUARD.violations and report.when in ("setup", "call") and not report.failed:
        report.outcome = "failed"
        report.longrepr = "\n".join(GUARD.violations)  # even when the code under test swallowed the error
