"""The daemon's side of one long-lived worker process.

Each worker is started by a thread of its own that lives exactly as long as the process:
``PR_SET_PDEATHSIG`` fires when the *thread* that started a child ends, so a worker dies
with the daemon (kill -9 included), and its kernels, started by the worker's main thread
with the same flag, die with the worker. The thread reads the worker's events, forwards
those about the running attempt, and, when the process ends for any reason, kills every
kernel it reported and reports the attempt it was running as cut short.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autoflow_watch import processes
from autoflow_watch.executor.base import Execution, Hint, OnDone, OnEvent, PoolSettings, cut_short
from autoflow_watch.executor.events import (
    KernelAssigned,
    KernelGone,
    KernelHint,
    KernelStarted,
    Message,
    ProtocolError,
    Rendering,
    Retire,
    RunCommand,
    RunFinished,
    StepChanged,
    StopReason,
    WorkerReady,
    decode,
)
from autoflow_watch.executor.job import RunJob
from autoflow_watch.logs import get_logger
from autoflow_watch.vocabulary import AttemptResult, Claim

log = get_logger("autoflow_watch.executor")


@dataclass
class _Attempt:
    """The attempt a worker is running, and how the daemon may have cut it short."""

    claim: Claim
    job: RunJob
    timer: threading.Timer
    kernel_pids: list[int] = field(default_factory=list)
    stop_reason: StopReason | None = None


class WorkerHandle:
    """One worker process: start it, give it attempts one at a time, kill it, notice its end."""

    def __init__(
        self,
        name: str,
        settings: PoolSettings,
        env: dict[str, str],
        folder: Path,
        hint: Hint,
        on_event: OnEvent,
        on_done: OnDone,
        on_exit: Callable[[WorkerHandle], None],
    ) -> None:
        self.name = name
        self._settings = settings
        self._env = env
        self._folder = folder
        self._hint = hint
        self._on_event, self._on_done, self._on_exit = on_event, on_done, on_exit
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._kernels: set[int] = set()
        self._pending: list[Message] = []
        self._attempt: _Attempt | None = None
        self._killed = False
        self.retiring = False
        self.runs_served = 0
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._life, name=f"worker-{name}", daemon=True)

    # -- the pool's view ----------------------------------------------------------------------------
    def start(self) -> WorkerHandle:
        self.thread.start()
        return self

    @property
    def busy(self) -> bool:
        return self._attempt is not None

    @property
    def available(self) -> bool:
        """Free for the next attempt: alive, not running one, not on its way out."""
        return self._attempt is None and not self.retiring and not self._killed

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def run_id(self) -> str | None:
        attempt = self._attempt
        return attempt.job.run_id if attempt else None

    def assign(self, claim: Claim, job: RunJob, token: str | None) -> None:
        """Hand the worker an attempt; its run_timeout counts from when the worker can start it."""
        timer = threading.Timer(job.run_timeout_s, self.stop_run, args=(job.run_id, StopReason.RUN_TIMEOUT))
        timer.daemon = True
        with self._lock:
            self._attempt = _Attempt(claim, job, timer)
            if self.ready.is_set():
                timer.start()
        self._send(RunCommand(job, token if job.flowapi_token else None))

    def send_hint(self, hint: Hint) -> None:
        if hint != self._hint:
            self._hint = hint
            self._send(KernelHint(hint.profiles, hint.token))

    def retire(self) -> None:
        """Finish the attempt in hand (if any), then exit; the pool starts a replacement."""
        self.retiring = True
        self._send(Retire())

    def stop_run(self, run_id: str, reason: StopReason) -> None:
        """Cut the attempt ``run_id`` short: the worker and all its kernels are killed, and replaced."""
        with self._lock:
            attempt = self._attempt
            if attempt is None or attempt.job.run_id != run_id:
                return
            if attempt.stop_reason is None:
                attempt.stop_reason = reason
        log.warning(
            "run.killing",
            workflow=attempt.job.workflow,
            reference_date=attempt.job.reference_date,
            run_id=run_id,
            reason=reason.value,
        )
        self.kill()

    def kill(self) -> None:
        """SIGKILL the worker's process group and every kernel it reported."""
        with self._lock:
            self._killed = True
            process, pids = self._process, list(self._kernels)
        if process is not None and process.poll() is None:
            processes.kill_groups([process.pid], signal.SIGKILL)
        processes.kill_groups(pids, signal.SIGKILL)

    # -- the worker's life, on its own thread ------------------------------------------------------------
    def _life(self) -> None:
        try:
            self._spawn()
            assert self._process is not None and self._process.stdout is not None
            for raw in self._process.stdout:
                self._receive(raw)
            self._process.wait()
        except Exception:
            log.exception("worker.supervisor.error", worker=self.name)
            self.kill()
        finally:
            self._ended()

    def _spawn(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "autoflow_watch.executor.local.worker", str(self._settings.warm_kernels)]
        command += [str(self._folder), *(["--render"] if self._settings.renders else [])]
        command += [f"--fork={json.dumps(list(self._settings.preload))}"] if self._settings.fork else []
        with self._lock:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,
                cwd=str(self._folder),
                env={**self._env, processes.PARENT_PID_ENV: str(os.getpid())},
                start_new_session=True,
            )
            self._process = process
            self._write(process, KernelHint(self._hint.profiles, self._hint.token))  # first: its kernels boot at once
            for message in self._pending:  # an attempt assigned before the process existed
                self._write(process, message)
            self._pending.clear()

    def _send(self, message: Message) -> None:
        """Write a command to the worker; before its process exists, keep it for when it does."""
        with self._lock:
            process = self._process
            if process is None:
                self._pending.append(message)
                return
            self._write(process, message)

    def _write(self, process: subprocess.Popen[bytes], message: Message) -> None:
        """One command down the pipe (called with the lock held)."""
        try:
            assert process.stdin is not None
            process.stdin.write(message.to_line().encode())
            process.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass  # the worker is gone; its thread reports that

    def _receive(self, raw: bytes) -> None:
        try:
            event = decode(raw)
        except ProtocolError:
            return
        if isinstance(event, WorkerReady):
            with self._lock:
                self.ready.set()
                waiting = self._attempt
                if waiting is not None and not waiting.timer.is_alive():
                    waiting.timer.start()  # an attempt assigned while the worker was starting
        elif isinstance(event, KernelStarted):
            with self._lock:
                self._kernels.add(event.pid)
                killed = self._killed
            if killed:  # a kernel started while we were killing: kill it too
                processes.kill_groups([event.pid], signal.SIGKILL)
        elif isinstance(event, KernelGone):
            with self._lock:
                self._kernels.discard(event.pid)
        elif isinstance(event, KernelAssigned | StepChanged | Rendering):
            self._forward(event)
        elif isinstance(event, RunFinished):
            self._finished(event)

    def _forward(self, event: KernelAssigned | StepChanged | Rendering) -> None:
        attempt = self._attempt
        if attempt is None:
            return
        if isinstance(event, KernelAssigned):
            attempt.kernel_pids.append(event.pid)
        try:
            self._on_event(attempt.job, event)
        except Exception:
            log.exception("run.event.error", run_id=attempt.job.run_id)

    def _finished(self, event: RunFinished) -> None:
        with self._lock:
            attempt = self._attempt
            if attempt is None or attempt.stop_reason is not None:
                return  # being killed: the attempt is reported cut short when the process has gone
        attempt.timer.cancel()
        result = event.result
        outcome = AttemptResult(
            result.outcome, result.error_type, result.error, result.failing_notebook, result.failing_cell
        )
        self.runs_served += 1
        if event.retire or self.runs_served >= self._settings.worker_max_runs:  # before it looks free to the pool
            log.info("worker.retiring", worker=self.name, runs=self.runs_served, lost_kernel=event.retire)
            self.retire()
        self._report(Execution(attempt.claim, attempt.job, outcome, result, attempt.kernel_pids, time.time()))

    def _report(self, execution: Execution) -> None:
        """Hand the attempt's end to the daemon, then free this worker (in that order: no gap in the leases)."""
        try:
            self._on_done(execution)
        finally:
            with self._lock:
                self._attempt = None

    def _ended(self) -> None:
        with self._lock:
            pids = list(self._kernels)
            attempt = self._attempt
            self._killed = True
        processes.kill_groups(pids, signal.SIGKILL)
        processes.wait_gone(pids, timeout=5)
        if attempt is not None:
            attempt.timer.cancel()
            if attempt.stop_reason is None:
                log.warning("worker.died", worker=self.name, run_id=attempt.job.run_id)
            self._report(cut_short(attempt.claim, attempt.job, attempt.stop_reason, attempt.kernel_pids, time.time()))
        shutil.rmtree(self._folder, ignore_errors=True)
        self._on_exit(self)
