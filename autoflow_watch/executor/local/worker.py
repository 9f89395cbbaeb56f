"""A long-lived worker process: ``python -m autoflow_watch.executor.local.worker WARM_KERNELS FOLDER [--render]``.

It serves one attempt at a time, for many attempts: commands come as JSON lines on stdin
(:mod:`autoflow_watch.executor.events`), events go back as JSON lines on a private copy of
stdout; anything else printed goes to stderr. A crashing, hanging or memory-hungry notebook
takes down at most this process, never the daemon.

It starts the kernels it was hinted before it imports papermill, nbconvert and WeasyPrint,
so both happen at once; it imports them once, for every run it will serve.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from jupyter_core.utils import ensure_event_loop

from autoflow_watch import processes
from autoflow_watch.executor.events import (
    KernelGone,
    KernelHint,
    KernelStarted,
    Message,
    ProtocolError,
    Retire,
    RunCommand,
    RunFinished,
    WorkerReady,
    decode,
)
from autoflow_watch.executor.job import KernelProfile, WorkerResult
from autoflow_watch.executor.kernel_template import kernel_templates
from autoflow_watch.executor.warm_kernels import WarmKernels
from autoflow_watch.logs import bind_run, configure, get_logger
from autoflow_watch.secrets import TOKEN_ENV, register_secret
from autoflow_watch.vocabulary import AttemptOutcome

log = get_logger("autoflow_watch.worker")


class Channel:
    """The worker's end of the pipe: one message per line, flushed at once."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def emit(self, message: Message) -> None:
        self._stream.write(message.to_line())
        self._stream.flush()


class Worker:
    """Serves commands until told to retire or until its stdin closes (the daemon is gone)."""

    def __init__(self, channel: Channel, kernels: WarmKernels) -> None:
        self.channel = channel
        self.kernels = kernels
        self.hint: list[KernelProfile] = []
        self.hint_token: str | None = None

    def serve(self, commands: Iterable[str]) -> None:
        for line in commands:
            try:
                command = decode(line)
            except ProtocolError as error:
                log.error("worker.bad_command", error=str(error))
                continue
            if isinstance(command, Retire):
                return
            if isinstance(command, KernelHint):
                self.take_hint(command)
            elif isinstance(command, RunCommand) and not self.run(command):
                return

    def take_hint(self, hint: KernelHint) -> None:
        register_secret(hint.token)
        self.hint, self.hint_token = list(hint.profiles), hint.token
        self.kernels.fill(self.hint, self.hint_token)

    def run(self, command: RunCommand) -> bool:
        """Serve one attempt; False when this worker should not serve another."""
        register_secret(command.token)  # never in a log line or a published file
        if command.job.flowapi_token and command.token:
            self.hint_token = command.token
        from autoflow_watch.executor.local.run_steps import AttemptRunner  # imported before WorkerReady

        runner = AttemptRunner(command.job, command.token, self.kernels, self.channel.emit)
        try:
            result = runner.run(self.expected_next(command))
        except Exception as error:  # a bug of ours: the run fails with the reason, the daemon lives on
            result = WorkerResult(
                outcome=AttemptOutcome.FAILED,
                error_type=type(error).__name__,
                error=str(error),
                traceback=traceback.format_exc(),
            )
        bind_run(workflow=None, reference_date=None, run_id=None, notebook=None)
        self.channel.emit(RunFinished(result, retire=runner.lost_kernel))
        if runner.lost_kernel:
            return False
        self.kernels.fill(self.expected_next(command), self.hint_token)
        return True

    def expected_next(self, command: RunCommand) -> list[KernelProfile]:
        """The kernels wanted after this run: another run of its workflow first (a backfill, the next
        day), then the daemon's hint."""
        first = command.job.kernel_profiles()[:1]
        return first + [profile for profile in self.hint if profile not in first]


def command_lines(fd: int) -> Iterator[str]:
    """The daemon's commands, one line each; while none has come, this thread's event loop runs.

    Kernels pre-started for the next notebooks get their clients ready on that loop (see
    :mod:`autoflow_watch.executor.warm_kernels`), so an idle worker finishes that work while
    it waits rather than when the next notebook asks for a kernel.
    """
    loop = ensure_event_loop()
    buffer = b""
    while True:
        while b"\n" not in buffer:
            chunk = loop.run_until_complete(_read_when_ready(loop, fd))
            if not chunk:
                if buffer:
                    yield buffer.decode()
                return
            buffer += chunk
        line, buffer = buffer.split(b"\n", 1)
        yield line.decode() + "\n"


async def _read_when_ready(loop: asyncio.AbstractEventLoop, fd: int) -> bytes:
    readable: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await readable
    finally:
        loop.remove_reader(fd)
    return os.read(fd, 1 << 16)


def _warm_imports(renders: bool) -> None:
    """What every run needs, imported once per worker rather than once per run.

    The renderers (nbconvert, WeasyPrint) only when some workflow publishes a report; a
    config without one imports them if it ever gets one (after a reload).
    """
    import autoflow_watch.executor.local.run_steps

    if renders:
        import weasyprint  # noqa: F401

        import autoflow_watch.render.formats  # noqa: F401  (nbconvert, the built-in formats)


def main(argv: list[str]) -> int:
    channel = Channel(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)  # anything else printed (papermill, kernels' chatter) goes to stderr
    processes.die_with_parent()
    expected_parent = os.environ.get(processes.PARENT_PID_ENV)
    if expected_parent and os.getppid() != int(expected_parent):
        return 3  # the daemon died before we could tie our life to it
    configure(
        os.environ.get("AUTOFLOW_WATCH_LOG_LEVEL", "info"), json_lines=os.environ.get("AUTOFLOW_WATCH_LOG_JSON") == "1"
    )
    warm, folder, renders = int(argv[0]), Path(argv[1]), "--render" in argv[2:]
    folder.mkdir(parents=True, exist_ok=True)
    base_env = {k: v for k, v in os.environ.items() if k not in (processes.PARENT_PID_ENV, TOKEN_ENV)}
    kernels = WarmKernels(
        warm,
        base_env,
        folder,
        on_started=lambda pid: channel.emit(KernelStarted(pid)),
        on_gone=lambda pid: channel.emit(KernelGone(pid)),
        reaps_orphans=processes.become_subreaper(),
        templates=kernel_templates(argv[2:], base_env, folder),
    )
    worker = Worker(channel, kernels)
    commands = command_lines(sys.stdin.fileno())
    first = next(commands, "")  # the daemon's hint comes first: its kernels boot while we import
    if kernels.templates is not None:
        kernels.templates.hold()  # two interpreters importing at once are enough on the critical path
    try:
        if first.startswith('{"type": "hint"'):
            worker.take_hint(KernelHint.from_fields(json.loads(first)))
            first = ""
        _warm_imports(renders)
        channel.emit(WorkerReady(os.getpid()))
        if kernels.templates is not None:
            kernels.templates.release()  # while the first notebook runs in its spawned kernel
        worker.serve(itertools.chain([first] if first else [], commands))
    finally:
        kernels.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
