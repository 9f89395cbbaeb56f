"""The local executor: one worker process per run, supervised by one thread each.

The supervising thread enforces ``run_timeout``, forwards the worker's progress events,
and on timeout, shutdown or a lost lease kills the worker and every kernel it reported,
by process group. The thread that starts a worker lives exactly as long as it, which is
what ``PR_SET_PDEATHSIG`` needs to kill workers when the daemon is killed with -9.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from autoflow_watch.executor import kernels
from autoflow_watch.executor.job import RunJob, WorkerResult
from autoflow_watch.executor.worker import PARENT_PID_ENV
from autoflow_watch.logs import get_logger
from autoflow_watch.store.records import AttemptResult, Claim

log = get_logger("autoflow_watch.executor")


@dataclass
class Execution:
    """A finished attempt as the daemon receives it."""

    claim: Claim
    job: RunJob
    attempt: AttemptResult
    result: WorkerResult | None
    kernel_pids: list[int]
    finished_at: float


@dataclass
class _Running:
    claim: Claim
    job: RunJob
    process: subprocess.Popen[bytes] | None = None
    kernel_pids: list[int] = field(default_factory=list)
    stop_reason: str | None = None  # run_timeout | interrupted | lease_lost
    lock: threading.Lock = field(default_factory=threading.Lock)


class LocalExecutor:
    def __init__(
        self, on_event: Callable[[RunJob, dict[str, Any]], None], on_done: Callable[[Execution], None]
    ) -> None:
        self._on_event = on_event
        self._on_done = on_done
        self._running: dict[str, _Running] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    # -- the daemon's view ---------------------------------------------------------------------------
    def submit(self, claim: Claim, job: RunJob, env: dict[str, str]) -> None:
        entry = _Running(claim, job)
        thread = threading.Thread(target=self._supervise, args=(entry, env), name=f"run-{job.run_id}", daemon=True)
        with self._lock:
            self._running[job.run_id] = entry
            self._threads[job.run_id] = thread
        thread.start()

    def active(self) -> int:
        with self._lock:
            return len(self._running)

    def active_run_ids(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def stop(self, run_id: str, reason: str) -> None:
        """Kill one run now (its lease was lost, or its time is up)."""
        with self._lock:
            entry = self._running.get(run_id)
        if entry is not None:
            self._kill(entry, reason)

    def shutdown(self, grace: float) -> None:
        """Let running notebooks finish within ``grace`` seconds, then kill the rest as interrupted."""
        deadline = time.monotonic() + grace
        while self.active() and time.monotonic() < deadline:
            time.sleep(0.1)
        with self._lock:
            leftovers = list(self._running.values())
        for entry in leftovers:
            self._kill(entry, "interrupted")
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout=15)

    # -- one run ----------------------------------------------------------------------------------------
    def _supervise(self, entry: _Running, env: dict[str, str]) -> None:
        job = entry.job
        Path(job.work_dir).mkdir(parents=True, exist_ok=True)
        timer = threading.Timer(job.run_timeout_s, self._kill, args=(entry, "run_timeout"))
        timer.daemon = True
        try:
            with entry.lock:
                entry.process = subprocess.Popen(
                    [sys.executable, "-m", "autoflow_watch.executor.worker"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=None,
                    cwd=job.work_dir,
                    env={**env, PARENT_PID_ENV: str(os.getpid())},
                    start_new_session=True,
                )
            timer.start()
            assert entry.process.stdin is not None and entry.process.stdout is not None
            entry.process.stdin.write(job.to_json().encode())
            entry.process.stdin.close()
            self._read_events(entry, entry.process.stdout)
            code = entry.process.wait()
            execution = self._conclude(entry, code)
        except Exception as error:  # never let one run's trouble escape its thread
            log.exception("run.supervisor.error", run_id=job.run_id)
            execution = Execution(
                entry.claim,
                job,
                AttemptResult("failed", type(error).__name__, str(error)),
                None,
                entry.kernel_pids,
                time.time(),
            )
        finally:
            timer.cancel()
            self._kill_kernels(entry)
            with self._lock:
                self._running.pop(job.run_id, None)
                self._threads.pop(job.run_id, None)
        self._on_done(execution)

    def _read_events(self, entry: _Running, stream: IO[bytes]) -> None:
        for raw in stream:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if event.get("event") == "kernel":
                entry.kernel_pids.append(int(event["pid"]))
                if entry.stop_reason is not None:  # a kernel started while we were killing: kill it too
                    kernels.kill_groups([int(event["pid"])])
            try:
                self._on_event(entry.job, event)
            except Exception:
                log.exception("run.event.error", run_id=entry.job.run_id)

    def _conclude(self, entry: _Running, code: int) -> Execution:
        job = entry.job
        now = time.time()
        if entry.stop_reason == "interrupted":
            attempt = AttemptResult("interrupted", "Interrupted", "stopped by SIGTERM before the run finished")
            return Execution(entry.claim, job, attempt, None, entry.kernel_pids, now)
        if entry.stop_reason == "run_timeout":
            message = f"run exceeded run_timeout of {job.run_timeout_s:g}s; kernels killed"
            return Execution(
                entry.claim,
                job,
                AttemptResult("failed", "RunTimeout", message, _current_step(job)),
                None,
                entry.kernel_pids,
                now,
            )
        if entry.stop_reason == "lease_lost":
            attempt = AttemptResult(
                "failed", "LeaseLost", "this daemon lost the run's lease; killed to avoid a duplicate"
            )
            return Execution(entry.claim, job, attempt, None, entry.kernel_pids, now)
        result_path = Path(job.work_dir) / "result.json"
        if not result_path.exists():
            message = f"worker process exited with code {code} before finishing (killed, out of memory or crashed)"
            return Execution(
                entry.claim,
                job,
                AttemptResult("failed", "WorkerDied", message, _current_step(job)),
                None,
                entry.kernel_pids,
                now,
            )
        result = WorkerResult.from_json(result_path.read_text(encoding="utf-8"))
        attempt = AttemptResult(
            result.outcome, result.error_type, result.error, result.failing_notebook, result.failing_cell
        )
        return Execution(entry.claim, job, attempt, result, entry.kernel_pids, now)

    def _kill(self, entry: _Running, reason: str) -> None:
        with entry.lock:
            if entry.stop_reason is None:
                entry.stop_reason = reason
            process = entry.process
        log.warning(
            "run.killing",
            workflow=entry.job.workflow,
            reference_date=entry.job.reference_date,
            run_id=entry.job.run_id,
            reason=reason,
        )
        if process is not None and process.poll() is None:
            kernels.kill_groups([process.pid], signal.SIGKILL)
        self._kill_kernels(entry)

    def _kill_kernels(self, entry: _Running) -> None:
        if entry.kernel_pids:
            kernels.kill_groups(entry.kernel_pids, signal.SIGKILL)
            kernels.wait_gone(entry.kernel_pids, timeout=5)


def _current_step(job: RunJob) -> str | None:
    """The notebook a killed run was in: the first one without an executed output yet completed."""
    work = Path(job.work_dir)
    last = None
    for notebook in job.notebooks:
        if (work / f"{notebook.name}.ipynb").exists():
            last = notebook.name
    return last
