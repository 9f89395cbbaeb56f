"""Kernels in milliseconds: per kernelspec interpreter, a template process that forks each kernel.

The template (``autoflow_watch/sandbox/template.py``, run by path under the kernelspec's own
interpreter) has imported ipykernel and the ``preload`` modules once; a kernel is a ``fork()`` of
it, sealed and set up in the child exactly as a spawned one (see that script). The template is
the worker's child: it dies with the worker's main thread (``PR_SET_PDEATHSIG``) and is
restarted when it has died. Its only channel is a pair of pipes that only the worker holds.

The worker still owns each kernel: :class:`ForkedProcess` waits for, polls and signals it through
a pidfd (no pid-reuse race), and learns its exit code from the template that reaps it. A
template that cannot fork safely (no ``fork``, not an ipykernel, a preload that started a Python
thread) is reported once, in one line, and that worker spawns kernels as in release 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from autoflow_watch import processes
from autoflow_watch.logs import get_logger

log = get_logger("autoflow_watch.worker")
TEMPLATE_SCRIPT = Path(__file__).resolve().parent.parent / "sandbox" / "template.py"
READY_TIMEOUT_S = 120.0  # importing ipykernel and a big preload on a loaded machine
TAKE_WAIT_S = 15.0  # how long one kernel waits for its template's imports before it is spawned instead


class TemplateUnusable(Exception):
    """This template cannot give kernels (any more): spawn instead."""


class KernelTemplate:
    """One template process: imports done, forking kernels on request."""

    def __init__(self, python: str, preload: list[str], env: dict[str, str], folder: Path) -> None:
        self.python = python
        self.folder = Path(tempfile.mkdtemp(prefix="afw-t-", dir=folder))
        template_env = {**env, "MPLCONFIGDIR": str(self.folder), "TMPDIR": str(self.folder)}
        self.log_path = self.folder / "template.log"
        with self.log_path.open("ab") as errors:
            self.process = subprocess.Popen(
                [python, str(TEMPLATE_SCRIPT), json.dumps(preload)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=template_env,
                cwd=str(self.folder),
                preexec_fn=processes.die_with_parent,
                close_fds=True,
            )
        assert self.process.stdout is not None and self.process.stdin is not None
        self._out = self.process.stdout.fileno()
        self._pending = b""
        self.exits: dict[int, int] = {}
        self.watching: set[int] = set()  # kernels whose exit code someone will ask for
        self.ready: bool | None = None
        self.cause = ""
        self.passed_over = False  # its first kernel was spawned rather than wait for its imports
        self.slow = False  # a kernel waited TAKE_WAIT_S for its imports in vain: later ones do not wait
        self.started = time.monotonic()
        self.lock = threading.RLock()  # a Dask worker forks for several tasks at once, one pipe

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Block until the template has imported everything; raise :class:`TemplateUnusable` if it cannot fork."""
        with self.lock:
            self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.ready is None:
            message = self._next(deadline - time.monotonic())
            if message is None:
                self._unusable(f"kernel template ({self.python}) ended or did not answer: {self._log_tail()}")
            self._readiness(message)

    def _readiness(self, message: dict[str, Any]) -> None:
        if "unsafe" in message:
            self._unusable(str(message["unsafe"]))
        elif message.get("ready"):
            self.ready = True

    def poll_ready(self) -> bool:
        """Whether the template has imported everything, not waiting; raises TemplateUnusable if it cannot fork."""
        if self.ready is None and self.lock.acquire(blocking=False):  # another thread waiting: not ready yet
            try:
                self._await_imports(0)
            finally:
                self.lock.release()
        return bool(self.ready)

    def ready_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the imports: False if still importing; TemplateUnusable if it cannot fork."""
        with self.lock:
            return self._await_imports(seconds)

    def _await_imports(self, seconds: float) -> bool:
        """Read what the template says for up to ``seconds`` (the lock held); whether it is ready."""
        deadline = min(time.monotonic() + seconds, self.started + READY_TIMEOUT_S)
        while self.ready is None and (message := self._next(deadline - time.monotonic())) is not None:
            self._readiness(message)
        if self.ready is None and not self.alive():
            self._wait_ready(0)  # what it said before it ended, or that it ended
        self._check_import_time()
        return bool(self.ready)

    def _check_import_time(self) -> None:
        """A template importing for longer than READY_TIMEOUT_S will not be waited for again: unusable."""
        if self.ready is None and time.monotonic() >= self.started + READY_TIMEOUT_S:
            self._unusable(
                f"kernel template ({self.python}) still importing after {READY_TIMEOUT_S:.0f} s"
                f" (a preload module that waits at import?): {self._log_tail()}"
            )

    def fork(self, request: dict[str, Any]) -> ForkedProcess:
        """A kernel forked from this template as ``request`` says."""
        with self.lock:
            return self._fork(request)

    def _fork(self, request: dict[str, Any]) -> ForkedProcess:
        self._wait_ready(READY_TIMEOUT_S)
        assert self.process.stdin is not None
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except OSError:
            self._unusable(f"kernel template ({self.python}) is gone")
        deadline = time.monotonic() + 30
        while True:
            message = self._next(deadline - time.monotonic())
            if message is None:
                self._unusable(f"kernel template ({self.python}) did not fork: {self._log_tail()}")
            elif "unsafe" in message:
                self._unusable(str(message["unsafe"]))
            elif "pid" in message:
                return ForkedProcess(int(message["pid"]), self)

    def alive(self) -> bool:
        return self.process.poll() is None

    def pump(self) -> None:
        """Read what the template has said without waiting (exit codes of kernels)."""
        with self.lock:
            while self._next(0) is not None:
                pass

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.process.stdin is not None
            self.process.stdin.close()
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.wait(timeout=5)
        with contextlib.suppress(Exception):
            assert self.process.stdout is not None
            self.process.stdout.close()
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)

    # -- inside ---------------------------------------------------------------------------------
    def _unusable(self, cause: str) -> NoReturn:
        self.ready = False
        self.cause = cause
        raise TemplateUnusable(cause)

    def _next(self, timeout: float) -> dict[str, Any] | None:
        """The next message that is not an exit notice (those are recorded), or None after ``timeout``."""
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            while b"\n" in self._pending:
                line, self._pending = self._pending.split(b"\n", 1)
                message = json.loads(line)
                if "exit" in message:
                    if int(message["exit"]) in self.watching:
                        self.exits[int(message["exit"])] = int(message["code"])
                    continue
                return dict(message)
            left = deadline - time.monotonic()
            readable, _, _ = select.select([self._out], [], [], max(left, 0))
            if not readable:
                return None
            chunk = os.read(self._out, 1 << 16)
            if not chunk:
                return None
            self._pending += chunk

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
            return lines[-1][:300] if lines else "no output"
        return "no output"


class ForkedProcess:
    """A forked kernel as jupyter_client's provisioner sees a ``Popen``: poll, wait, signal (through a pidfd)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, template: KernelTemplate) -> None:
        self.pid = pid
        self.template = template
        self.returncode: int | None = None
        template.watching.add(pid)
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except OSError:  # already gone and reaped
            self._pidfd = None

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        self.template.pump()
        if self.pid in self.template.exits:
            return self._done(self.template.exits.pop(self.pid))
        if self._pidfd is None or select.select([self._pidfd], [], [], 0)[0]:
            if not self.template.alive():  # its template died: so did it (PR_SET_PDEATHSIG)
                return self._done(-signal.SIGKILL)
            self.template.pump()  # exited, not yet reported: the template reaps at once
            return self._done(self.template.exits.pop(self.pid, -signal.SIGKILL))
        return None

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            if self._pidfd is not None:
                select.select([self._pidfd], [], [], 0.05)
        return code

    def send_signal(self, signum: int) -> None:
        if self.returncode is None and self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def _done(self, code: int) -> int:
        self.returncode = code
        self.template.watching.discard(self.pid)
        self.template.exits.pop(self.pid, None)
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        return code


def kernel_python(kernel_spec: Any) -> str | None:
    """The interpreter of an ipykernel kernelspec (``python -m ipykernel_launcher …``), or None if it is not one."""
    argv = list(getattr(kernel_spec, "argv", None) or [])
    if len(argv) < 3 or argv[1:3] != ["-m", "ipykernel_launcher"]:
        return None
    python = argv[0]
    if python in ("python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])):
        return sys.executable  # as jupyter_client resolves it
    return python


class KernelTemplates:
    """A worker's templates, one per kernelspec interpreter; reports each unusable one once."""

    def __init__(
        self, preload: list[str], env: dict[str, str], folder: Path, starter: Callable[..., Any] | None = None
    ) -> None:
        self.starter = starter  # runs a template's start on a thread that lives as long as the process
        self.lock = threading.Lock()
        self.preload = list(preload)
        self.env = dict(env)
        self.folder = folder
        self.templates: dict[str, KernelTemplate] = {}
        self.refused: dict[str, str] = {}
        self.pythons: dict[str, str] = {}  # kernelspec name -> its interpreter
        self.held: dict[str, Any] | None = None  # while held: kernelspecs asked for, their templates started later

    def hold(self) -> None:
        """Start no template until :meth:`release` (a worker's own imports come first); kernels are spawned."""
        self.held = {}

    def release(self) -> None:
        """Start the templates of the kernelspecs asked for while held; their first kernel was spawned already."""
        held, self.held = self.held or {}, None
        for kernel_name, kernel_spec in held.items():
            template = self.for_spec(kernel_name, kernel_spec)
            if template is not None:
                template.passed_over = True

    def importing(self, kernel_name: str) -> bool:
        """This kernelspec's template has been passed over once and is still importing: a kernel would wait."""
        with self.lock:
            template = self.templates.get(self.pythons.get(kernel_name, ""))
        if template is None or not template.passed_over or not template.alive():
            return False
        try:
            return not template.poll_ready()
        except TemplateUnusable as error:
            self.failed(template, str(error))
            return False

    def for_spec(self, kernel_name: str, kernel_spec: Any) -> KernelTemplate | None:
        """The running template for this kernelspec (started or restarted now), or None: spawn."""
        python = kernel_python(kernel_spec)
        if python is None:
            self._refuse(kernel_name, f"kernelspec {kernel_name!r} is not an ipykernel (python -m ipykernel_launcher)")
            return None
        self.pythons[kernel_name] = python
        if self.held is not None:
            self.held.setdefault(kernel_name, kernel_spec)
            return None
        template = self._running(python)
        if isinstance(template, str):  # it ended saying why it cannot fork: do not start it again
            self._refuse(python, template)
            return None
        with self.lock:
            if python in self.refused:
                return None
            template = self.templates.get(python)
            if template is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                start = lambda: KernelTemplate(python, self.preload, self.env, self.folder)  # noqa: E731
                template = self.templates[python] = self.starter(start) if self.starter else start()
            return template

    def _running(self, python: str) -> KernelTemplate | str | None:
        """This interpreter's template if it is alive (a dead one is dropped), or why it ended unusable."""
        with self.lock:
            template = self.templates.get(python)
            if template is None or template.alive():
                return template
            del self.templates[python]
        try:
            template.poll_ready()  # a crash after "ready": start another; "unsafe" (or silence): refuse
            return None
        except TemplateUnusable as error:
            return str(error)
        finally:
            template.close()

    def failed(self, template: KernelTemplate, cause: str) -> None:
        """``template`` cannot fork: say so once, spawn from now on."""
        template.close()
        with self.lock:
            if self.templates.get(template.python) is template:
                del self.templates[template.python]
        self._refuse(template.python, cause)

    def pids(self) -> list[int]:
        return [t.process.pid for t in self.templates.values()]

    def close(self) -> None:
        for template in self.templates.values():
            template.close()
        self.templates.clear()

    def _refuse(self, key: str, cause: str) -> None:
        with self.lock:
            first = key not in self.refused
            self.refused.setdefault(key, cause)
        if first:
            log.warning("kernel.fork_unavailable", cause=cause, fallback="spawn")


FORK_FLAG = "--fork="


def kernel_templates(flags: list[str], env: dict[str, str], folder: Path) -> KernelTemplates | None:
    """The worker's templates when its command line says ``--fork=PRELOAD_JSON``; None: spawn every kernel."""
    for flag in flags:
        if flag.startswith(FORK_FLAG):
            return KernelTemplates(json.loads(flag[len(FORK_FLAG) :]), env, folder / "templates")
    return None
