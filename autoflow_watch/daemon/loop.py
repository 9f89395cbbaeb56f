"""The daemon: start-up, the main loop, reload and shutdown.

One main thread owns every decision (plan, claim, conclude, lease renewal); sources and
run supervisors only record facts or report events and then wake it. That keeps the
store's state changes in one place and makes the loop's liveness a true health signal.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from types import FrameType
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from autoflow_watch.config import Config
from autoflow_watch.daemon import sandbox_gate
from autoflow_watch.daemon.completion import conclude
from autoflow_watch.daemon.context import Context
from autoflow_watch.daemon.executors import make_executor
from autoflow_watch.daemon.health import Health, WatchdogPinger
from autoflow_watch.daemon.jobs import build_job, kernel_hint, pool_settings, worker_environment
from autoflow_watch.daemon.lock import InstanceLock
from autoflow_watch.daemon.notify import Notifier
from autoflow_watch.daemon.outage import StoreOutage
from autoflow_watch.daemon.outbox_index import refresh_index, retain
from autoflow_watch.daemon.planning import plan_and_apply
from autoflow_watch.daemon.publishing import finish_staged
from autoflow_watch.daemon.recovery import recover_expired
from autoflow_watch.daemon.reload import reread
from autoflow_watch.daemon.reporting import Reporting
from autoflow_watch.daemon.reuse import kept_for
from autoflow_watch.daemon.sources import Sources
from autoflow_watch.daemon.status import progress_bar, status_line
from autoflow_watch.daemon.tick_guard import TickGuard
from autoflow_watch.executor.base import Execution, Executor, Hint
from autoflow_watch.executor.events import KernelAssigned, RunEvent, StepChanged, StopReason
from autoflow_watch.executor.job import RunJob
from autoflow_watch.executor.params import run_parameters
from autoflow_watch.logs import get_logger
from autoflow_watch.publish.outbox import clean_staging
from autoflow_watch.store import Store
from autoflow_watch.vocabulary import AttemptOutcome, RunState, StepState

log = get_logger("autoflow_watch.daemon")
PLAN_EVERY_S = 15.0
STATUS_EVERY_S = 30.0  # the STATUS= line is refreshed at least this often, and whenever a run starts or ends
MAIN_MAX_AGE_S = 120.0


class Daemon:
    """The daemon: start-up, the main loop (plan, claim, dispatch, conclude, leases), reload and shutdown."""

    def __init__(self, config: Config, *, once: bool = False, json_logs: bool = True) -> None:
        self.once = once
        self.json_logs = json_logs
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lock = InstanceLock.for_store(config.state_url)
        if self.lock is not None:
            self.lock.acquire()  # a second daemon is refused before it starts anything
        self._worker_config = config  # what workers are started with (the current config)
        self.executor: Executor = make_executor(
            config,
            lambda: worker_environment(self._worker_config, self.json_logs),
            self._on_run_event,
            self._on_run_done,
        )
        config.app.paths.work.mkdir(parents=True, exist_ok=True)
        self.executor.start(kernel_hint(config, None))  # workers import and boot kernels while the store opens
        try:
            self.ctx = Context(
                config=config, store=Store(config.state_url, config.app.paths.state_password_file), owner=owner
            )
        except BaseException:
            self.executor.shutdown(0)
            raise
        self.notifier = Notifier.from_environment()
        self.health = Health()
        self.reporting = Reporting(self.ctx, self.health)  # [notify] and [metrics]
        self.sources = Sources(self.ctx, self.reporting.rejected_marker, self.reporting.source_error)
        self._done: queue.Queue[Execution] = queue.Queue()
        self._stopping = threading.Event()
        self._reload = threading.Event()
        self._failed_this_session = 0
        self._concluded = False  # a run ended since the status line was last drawn
        self._finished_this_session = 0
        self._last_report = ""
        self._status = ""

    @property
    def config(self) -> Config:
        return self.ctx.config

    # -- start-up --------------------------------------------------------------------------------
    def run(self) -> int:
        """Run until SIGTERM (or, with ``once``, until nothing is due); return the exit code."""
        try:
            self._install_signals()
            self._start_up()
            self._main_loop()
            self._shut_down()
        finally:
            self.ctx.store.close()
            if self.lock is not None:
                self.lock.release()
        return 1 if self.once and self._failed_this_session else 0

    def _start_up(self) -> None:
        paths = self.config.app.paths
        sandbox_gate.log_at_start(self.config)
        for folder in (paths.inbox, paths.outbox, paths.work):
            folder.mkdir(parents=True, exist_ok=True)
        self.executor.reconfigure(pool_settings(self.config), self._kernel_hint())  # now with the token
        removed = clean_staging(paths.outbox)
        if removed:
            log.info("outbox.staging_cleaned", removed=removed)
        self.reporting.start()
        recover_expired(
            self.ctx.store,
            paths.outbox,
            self._backoffs(),
            all_running=self.lock is not None,
            on_finished=self.reporting.attempt_ended,
        )
        grace = 0.0 if self.lock is not None else self.config.app.execution.lease_timeout.total_seconds()
        finish_staged(self.ctx.store, paths.outbox, grace)  # swaps a crash cut short after recording the success
        self.sources.start(once=self.once)
        # the main loop may be stuck for at most one watchdog period (WatchdogSec) before pings stop
        interval = self.notifier.watchdog_interval
        self.health.register_heartbeat("main", max(2 * interval, 2.0) if interval else MAIN_MAX_AGE_S)
        self.health.beat("main")
        for name, check in self.sources.health_checks().items():
            self.health.register(name, check)
        plan_and_apply(self.config, self.ctx.store)
        refresh_index(self.config, self.ctx.store)
        self.notifier.ready(self._status_line())
        if self.notifier.watchdog_interval:
            self.pinger = WatchdogPinger(self.notifier, self.health)
            self.pinger.start()
        log.info(
            "daemon.ready",
            inbox=str(paths.inbox),
            outbox=str(paths.outbox),
            workflows=sorted(self.config.workflows),
            once=self.once,
        )

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping.set()
        self.ctx.wake.set()

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self._reload.set()
        self.ctx.wake.set()

    # -- the loop ------------------------------------------------------------------------------------
    def _main_loop(self) -> None:
        due = _Schedule.starting_now(self.config)
        outage, guard = StoreOutage(), TickGuard(once=self.once)
        while not self._stopping.is_set():
            self.health.beat("main")
            try:
                claimed = self._tick(due)
            except SQLAlchemyError as error:
                if self.once:
                    raise
                self.ctx.wake.wait(timeout=outage.failed(error))
                self.ctx.wake.clear()
                continue
            except Exception as error:  # nothing from outside stops the loop: said once, tried again
                self.ctx.wake.wait(timeout=guard.failed(error))
                self.ctx.wake.clear()
                continue
            outage.answered()
            guard.passed()
            idle = not claimed and self.executor.active() == 0 and self._done.empty()
            if self.once and idle and self.executor.accepting():  # a Dask scheduler not yet reached is waited for
                break
            self.ctx.wake.wait(timeout=1.0)
            self.ctx.wake.clear()

    def _tick(self, due: _Schedule) -> int:
        """One round of decisions; return how many runs were started."""
        if self._reload.is_set():
            self._reload.clear()
            self._reload_config()
        self._conclude_finished()  # first: a finished report is staged even while the store is away
        now = time.monotonic()
        if self.ctx.plan_requested.is_set() or now >= due.plan:
            self.ctx.plan_requested.clear()
            if plan_and_apply(self.config, self.ctx.store):
                due.status = now
            due.plan = now + PLAN_EVERY_S
        if now >= due.leases:
            self._keep_leases()
            due.leases = now + self.config.app.execution.lease_renew_interval.total_seconds()
        if now >= due.retention and self.config.app.outbox.keep_days:
            due.retention = now + 3600  # first: a retention that fails is not retried at every tick
            retain(self.config, self.ctx.store)
        claimed = self._dispatch()
        if claimed or self._concluded or now >= due.status:  # counting every run each second costs
            self._concluded = False
            self._update_status()
            due.status = now + STATUS_EVERY_S
        return claimed

    def _dispatch(self) -> int:
        """Claim due runs while there is room; return how many were started."""
        started = 0
        limit = self.config.app.execution.max_parallel_runs
        attempts = {name: wf.max_attempts for name, wf in self.config.workflows.items()}
        ttl = self.config.app.execution.lease_timeout
        while self.executor.active() < limit and self.executor.accepting() and not self._stopping.is_set():
            claim = self.ctx.store.runs.claim_next(self.ctx.owner, attempts, ttl)
            if claim is None:
                break
            workflow = self.config.workflows[claim.workflow]
            job = build_job(self.config, workflow, claim, kept_for(self.ctx.store, workflow, claim))
            self.ctx.store.runs.set_attempt_details(claim.run_id, parameters=run_parameters(job), work_dir=job.work_dir)
            token = self.sources.token() if workflow.flowapi_token else None
            log.info(
                "run.started",
                workflow=claim.workflow,
                reference_date=claim.reference_date.isoformat(),
                run_id=claim.run_id,
                attempt=claim.attempt,
            )
            self.executor.submit(claim, job, token)
            started += 1
        return started

    def _on_run_event(self, job: RunJob, event: RunEvent) -> None:
        """Called from an executor's thread: record progress, nothing else."""
        runs = self.ctx.store.runs
        if isinstance(event, KernelAssigned):
            runs.add_kernel_pid(job.run_id, event.pid)
        elif isinstance(event, StepChanged):
            now = time.time()
            running = event.state is StepState.RUNNING
            runs.record_step(
                job.run_id,
                event.notebook,
                event.state,
                started_at=now if running or event.state is StepState.REUSED else None,  # steps list in order
                finished_at=None if running else now,
                duration_s=event.duration_s,
                error=event.error,
            )

    def _on_run_done(self, execution: Execution) -> None:
        self._done.put(execution)
        self.ctx.wake.set()

    def _conclude_finished(self) -> None:
        changed: set[str] = set()
        while True:
            try:
                execution = self._done.get_nowait()
            except queue.Empty:
                break
            workflow = self.config.workflows.get(execution.job.workflow)
            backoff = workflow.retry_backoff if workflow else self.config.app.execution.retry_backoff
            try:
                state = conclude(self.ctx.store, self.config.app.paths.outbox, execution, backoff, self.ctx.owner)
            except SQLAlchemyError:
                self._done.put(execution)  # concluded again once the store answers; its report waits staged
                raise
            if state is None:  # the run was taken over meanwhile: its report was discarded, nothing to count
                changed.add(execution.job.workflow)
                continue
            self.reporting.attempt_ended(execution.claim, state)
            self._finished_this_session += 1
            if (
                state in (RunState.FAILED, RunState.DEAD)
                and execution.attempt.outcome is not AttemptOutcome.INTERRUPTED
            ):
                self._failed_this_session += 1
            if state is RunState.SUCCEEDED:
                self._last_report = f"{execution.job.workflow}/{execution.job.reference_date}"
            changed.add(execution.job.workflow)
        if changed:
            self._concluded = True
            refresh_index(self.config, self.ctx.store, changed)  # those workflows' pages and the overview

    def _keep_leases(self) -> None:
        execution = self.config.app.execution
        active = self.executor.active_run_ids()
        with self._done.mutex:  # run supervisors put into the queue meanwhile
            awaiting = [e.job.run_id for e in self._done.queue]  # finished, not yet recorded
        lost = self.ctx.store.runs.renew(self.ctx.owner, [*active, *awaiting], execution.lease_timeout)
        for run_id in lost - set(awaiting):  # a finished one says so once, when its report is discarded
            log.error("run.lease_lost", run_id=run_id)
            self.executor.stop(run_id, StopReason.LEASE_LOST)
        own = {*self.executor.active_run_ids(), *awaiting}
        if recover_expired(
            self.ctx.store,
            self.config.app.paths.outbox,
            self._backoffs(),
            all_running=False,
            own_runs=own,
            on_finished=self.reporting.attempt_ended,
        ):
            refresh_index(self.config, self.ctx.store)
        if finish_staged(self.ctx.store, self.config.app.paths.outbox, execution.lease_timeout.total_seconds()):
            refresh_index(self.config, self.ctx.store)

    def _kernel_hint(self) -> Hint:
        try:
            token = self.sources.token()
        except Exception:  # an unreadable token is the FlowAPI source's to report
            token = None
        return kernel_hint(self.config, token)

    def _backoffs(self) -> dict[str, Any]:
        return {name: wf.retry_backoff for name, wf in self.config.workflows.items()}

    # -- status, reload, shutdown -------------------------------------------------------------------------
    def _status_line(self, counts: dict[str, int] | None = None) -> str:
        return status_line(counts or self.ctx.store.runs.counts(), self._last_report)

    def _update_status(self) -> None:
        counts = self.ctx.store.runs.counts()
        line = self._status_line(counts)
        if line != self._status:
            self._status = line
            self.notifier.status(line)
            done = self._finished_this_session
            total = done + counts["running"] + counts["pending"]
            if self.once and total and sys.stderr.isatty():  # nothing to do: no bar at all
                sys.stderr.write("\r" + progress_bar(done, total) + "  ")
                sys.stderr.flush()

    def _reload_config(self) -> None:
        self.notifier.reloading()
        new = reread(self.config)
        if new is None:
            self.notifier.ready(self._status_line())
            return
        self.ctx.config = new
        self._worker_config = new
        self.sources.reconfigure()
        self.executor.reconfigure(pool_settings(new), self._kernel_hint())
        self.reporting.workflows_changed()
        self.ctx.prompt_planning()
        log.info("config.reloaded", workflows=sorted(new.workflows))
        self.notifier.ready(self._status_line())

    def _shut_down(self) -> None:
        grace = self.config.app.execution.shutdown_grace.total_seconds()
        if not self.once:
            self.notifier.stopping()
            log.info("daemon.stopping", running=self.executor.active(), grace_s=grace)
        self.sources.stop()
        self.executor.shutdown(grace if self._stopping.is_set() else float("inf"))
        if hasattr(self, "pinger"):
            self.pinger.stop()
        try:
            self._conclude_finished()
        except SQLAlchemyError as error:  # the next start recovers them from their leases and the outbox
            log.error("store.unavailable_at_shutdown", unrecorded=self._done.qsize(), error=str(error)[:300])
        refresh_index(self.config, self.ctx.store)
        self.reporting.stop()
        if self.once and sys.stderr.isatty():
            sys.stderr.write("\n")
        log.info("daemon.stopped", finished=self._finished_this_session, failed=self._failed_this_session)


@dataclass
class _Schedule:
    """When the main loop next plans, renews leases and applies retention (monotonic seconds)."""

    plan: float
    leases: float
    retention: float
    status: float

    @classmethod
    def starting_now(cls, config: Config) -> _Schedule:
        now = time.monotonic()
        return cls(now + PLAN_EVERY_S, now + config.app.execution.lease_renew_interval.total_seconds(), now, now)
