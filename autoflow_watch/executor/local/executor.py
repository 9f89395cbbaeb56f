"""The local executor: a pool of long-lived worker processes on this machine.

``workers`` processes (``max_parallel_runs``), each serving one attempt at a time for up to
``worker_max_runs`` attempts, each keeping ``warm_kernels`` kernels pre-started. A worker
that dies, or that was killed because its run timed out or lost its lease, is replaced at
once; so is one that lost a kernel. The pool starts with the daemon, before its start-up
scan, so the workers' imports and first kernels overlap the daemon's own start.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from autoflow_watch.executor.base import ExecutorSetup, Hint, OnDone, OnEvent, PoolSettings
from autoflow_watch.executor.events import StopReason
from autoflow_watch.executor.job import RunJob
from autoflow_watch.executor.local.worker_handle import WorkerHandle
from autoflow_watch.logs import get_logger
from autoflow_watch.processes import alive
from autoflow_watch.vocabulary import Claim

log = get_logger("autoflow_watch.executor")
WORKERS_FOLDER = ".workers"  # inside [paths] work: each worker's private folder (kernel logs before use)


class LocalExecutor:
    """Runs attempts in a pool of worker processes; the daemon's side of :mod:`autoflow_watch.executor.local.worker`."""

    def __init__(
        self,
        settings: PoolSettings,
        work: Path,
        environment: Callable[[], dict[str, str]],
        on_event: OnEvent,
        on_done: OnDone,
    ) -> None:
        self._settings = settings
        # one folder per daemon: several daemons may share a [paths] work folder (one config, one host)
        self._root = work / WORKERS_FOLDER
        self._folder = self._root / f"{socket.gethostname()}-p{os.getpid()}"
        self._environment = environment
        self._on_event, self._on_done = on_event, on_done
        self._hint = Hint([])
        self._workers: list[WorkerHandle] = []
        self._lock = threading.Lock()
        self._closing = False

    # -- the daemon's view ---------------------------------------------------------------------------
    def start(self, hint: Hint) -> None:
        _remove_leftovers(self._root)  # what workers of a killed daemon left, never a live one's
        self._hint = hint
        with self._lock:
            while len(self._workers) < self._settings.workers:
                self._spawn()

    def accepting(self) -> bool:
        return True  # a worker that is not ready yet is waited for

    def submit(self, claim: Claim, job: RunJob, token: str | None) -> None:
        with self._lock:
            worker = next((w for w in self._workers if w.available and w.ready.is_set()), None)
            worker = worker or next((w for w in self._workers if w.available), None) or self._spawn()
            worker.assign(claim, job, token)

    def active(self) -> int:
        with self._lock:
            return sum(1 for w in self._workers if w.busy)

    def active_run_ids(self) -> list[str]:
        with self._lock:
            return [run_id for w in self._workers if (run_id := w.run_id) is not None]

    def stop(self, run_id: str, reason: StopReason) -> None:
        with self._lock:
            workers = [w for w in self._workers if w.run_id == run_id]
        for worker in workers:
            worker.stop_run(run_id, reason)

    def reconfigure(self, settings: PoolSettings, hint: Hint) -> None:
        with self._lock:
            changed = (settings.warm_kernels, settings.worker_max_runs, settings.renders) != (
                self._settings.warm_kernels,
                self._settings.worker_max_runs,
                self._settings.renders,
            )
            self._settings, self._hint = settings, hint
            current = [w for w in self._workers if not w.retiring]
            surplus = len(current) - settings.workers
            for worker in current:
                if changed or (surplus > 0 and not worker.busy):
                    worker.retire()  # replaced with the new settings once it is gone (surplus: not replaced)
                    surplus -= 1
                else:
                    worker.send_hint(hint)
            while sum(1 for w in self._workers if not w.retiring) < settings.workers:
                self._spawn()

    def shutdown(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        while self.active() and time.monotonic() < deadline:
            time.sleep(0.1)
        with self._lock:
            self._closing = True
            workers = list(self._workers)
        for worker in workers:
            if worker.busy and worker.run_id is not None:
                worker.stop_run(worker.run_id, StopReason.INTERRUPTED)
            else:
                worker.retire()
        for worker in workers:
            worker.thread.join(timeout=10)
            if worker.thread.is_alive():  # did not retire in time: no process of ours outlives the daemon
                worker.kill()
                worker.thread.join(timeout=10)
        shutil.rmtree(self._folder, ignore_errors=True)  # this daemon's workers' folders, now empty

    def worker_pids(self) -> list[int]:
        """The pids of the live workers (for tests and the benchmarks)."""
        with self._lock:
            return [pid for w in self._workers if (pid := w.pid) is not None]

    # -- the pool ------------------------------------------------------------------------------------------
    def _spawn(self) -> WorkerHandle:
        """A new worker (called with the lock held)."""
        name = uuid.uuid4().hex[:8]
        worker = WorkerHandle(
            name,
            self._settings,
            self._environment(),
            self._folder / name,
            self._hint,
            self._on_event,
            self._on_done,
            self._on_exit,
        )
        self._workers.append(worker)
        return worker.start()

    def _on_exit(self, worker: WorkerHandle) -> None:
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
            if self._closing:
                return
            if sum(1 for w in self._workers if not w.retiring) < self._settings.workers:
                log.info("worker.replaced", worker=worker.name, runs=worker.runs_served)
                self._spawn()


def _remove_leftovers(root: Path) -> None:
    """Remove the worker folders of daemons on this host that are gone (and of older versions)."""
    try:
        entries = list(root.iterdir())
    except OSError:  # missing, or a file where the folder was expected: nothing of ours to remove
        return
    host = socket.gethostname()
    for entry in entries:
        match = re.fullmatch(r"(?P<host>.+)-p(?P<pid>\d+)", entry.name)
        if match is not None and (match["host"] != host or alive(int(match["pid"]))):
            continue  # another host's daemon, or a live one here: its workers are using it
        shutil.rmtree(entry, ignore_errors=True)


def build(setup: ExecutorSetup) -> LocalExecutor:
    """``backend = "local"``: a pool of worker processes on this host."""
    return LocalExecutor(setup.settings, setup.config.app.paths.work, setup.environment, setup.on_event, setup.on_done)
