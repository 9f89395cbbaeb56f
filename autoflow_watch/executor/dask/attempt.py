"""One attempt on a Dask cluster, driven from the daemon: a task per notebook in DAG order, then the reports here.

Each notebook goes to the cluster as a :class:`~autoflow_watch.executor.dask.task.NotebookTask`
(its bytes, its parameters, the executed copies of its upstream notebooks, and the token only
for ``flowapi_token`` workflows). What comes back — the executed notebook and the kernel's
output — is written into the attempt's run folder on the daemon's host, exactly where the local
executor would have put them, so rendering, failure filing and publishing are the local ones.

Reports are rendered in this thread of the daemon, one attempt at a time (``RENDER_LOCK``):
the daemon host has the outbox and nbconvert/WeasyPrint anyway, a report is rendered once per
run rather than once per notebook, and rendering one at a time bounds the daemon's memory.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autoflow_watch.executor.attempt import drive, notebook_logger
from autoflow_watch.executor.base import Execution, OnDone, OnEvent, cut_short
from autoflow_watch.executor.dask.task import (
    UPSTREAM_FOLDER,
    NotebookReturn,
    NotebookTask,
    SealedToken,
    WorkerLost,
    forget_first_execution,
)
from autoflow_watch.executor.dask.wire import BadReturn, RefusedPickle, from_wire
from autoflow_watch.executor.events import Message, RunEvent, StepChanged, StopReason
from autoflow_watch.executor.job import NotebookJob, RunJob, WorkerResult, kernel_log_path
from autoflow_watch.executor.notebook_run import NotebookFailure
from autoflow_watch.executor.params import notebook_parameters
from autoflow_watch.executor.reports import render_reports
from autoflow_watch.logs import bind_run, get_logger
from autoflow_watch.vocabulary import AttemptOutcome, AttemptResult, Claim, StepState

log = get_logger("autoflow_watch.executor")
RENDER_LOCK = threading.Lock()
ClientSource = Callable[[], Any]  # the connected distributed.Client, or None while the scheduler is away


class _Stopped(Exception):
    """The daemon stopped the attempt while it ran (its reason is the attempt's ``stop_reason``)."""


class SchedulerLost(Exception):
    """The connection to the scheduler broke while a task of this attempt was on the cluster."""


class DaskAttempt:
    """Runs one attempt's notebooks as Dask tasks, one after the other, and reports its end once."""

    def __init__(
        self,
        client: ClientSource,
        claim: Claim,
        job: RunJob,
        token: str | None,
        on_event: OnEvent,
        on_done: OnDone,
    ) -> None:
        self.claim, self.job = claim, job
        self._client = client
        self._token = SealedToken(token) if token and job.flowapi_token else None
        self._on_event, self._on_done = on_event, on_done
        self._lock = threading.Lock()
        self._future: Any = None
        self._current: NotebookJob | None = None  # the notebook on the cluster now
        self._wake = threading.Event()
        self.stop_reason: StopReason | None = None
        self._timer = threading.Timer(job.run_timeout_s, self.stop, args=(StopReason.RUN_TIMEOUT,))
        self._timer.daemon = True
        self.thread = threading.Thread(target=self._life, name=f"dask-{job.run_id}", daemon=True)

    def start(self) -> DaskAttempt:
        self._timer.start()
        self.thread.start()
        return self

    def stop(self, reason: StopReason) -> None:
        """Cut the attempt short: cancel its task (the worker then kills the kernel) and kill the kernel now."""
        with self._lock:
            if self.stop_reason is not None:
                return
            self.stop_reason = reason
            future = self._future
        log.warning(
            "run.killing",
            workflow=self.job.workflow,
            reference_date=self.job.reference_date,
            run_id=self.job.run_id,
            reason=reason.value,
        )
        self._wake.set()
        if future is not None:
            _cancel_and_kill(self._client(), future)

    # -- the attempt, on its own thread -------------------------------------------------------------------------
    def _life(self) -> None:
        bind_run(workflow=self.job.workflow, reference_date=self.job.reference_date, run_id=self.job.run_id)
        try:
            execution = self._run()
        except Exception as error:  # a bug of ours: the attempt fails with the reason, the daemon lives on
            log.exception("run.dask.error", run_id=self.job.run_id)
            attempt = AttemptResult(AttemptOutcome.FAILED, type(error).__name__, str(error))
            execution = Execution(self.claim, self.job, attempt, None, [], time.time())
        self._timer.cancel()
        self._on_done(execution)

    def _run(self) -> Execution:
        try:
            result = drive(self.job, self, self._emit)
        except SchedulerLost as error:
            return self._given_back(str(error))
        except WorkerLost as error:
            assert self._current is not None
            return self._worker_lost(self._current, error.message)
        except _Stopped:
            return cut_short(self.claim, self.job, self.stop_reason, [], time.time())
        return self._execution(result)

    # -- the driver's questions (:class:`~autoflow_watch.executor.attempt.NotebookPlace`) -----------------------
    def run_notebook(self, index: int, notebook: NotebookJob, output: Path) -> float:
        """The notebook's task on the cluster; its executed copy and kernel output written here."""
        self._current = notebook
        returned = self._run_on_cluster(notebook)
        if returned is None:  # stopped by the daemon
            raise _Stopped
        if returned.executed is not None:
            output.write_bytes(returned.executed)
        kernel_log_path(self.job.work_dir, notebook.name).write_bytes(returned.kernel_log)
        notebook_logger(notebook).info("notebook.ran_on", worker=returned.worker, kernel_pid=returned.kernel_pid)
        if returned.failure is not None:
            raise NotebookFailure(**returned.failure)
        return returned.duration_s

    def reused(self, notebook: NotebookJob, output: Path) -> None:
        """Nothing to do here: its copy is in the run folder, whence a downstream task takes it to its worker."""

    def failed(self, failure: NotebookFailure) -> None:
        """Nothing to do here: the worker's kernel is gone with its task."""

    def render(self, result: WorkerResult) -> WorkerResult:
        """In the daemon, one attempt at a time (see the module's docstring)."""
        with RENDER_LOCK:
            if self.stop_reason is not None:
                raise _Stopped
            return render_reports(self.job, result, self._emit_message)

    def _run_on_cluster(self, notebook: NotebookJob) -> NotebookReturn | None:
        """Submit the notebook's task and wait for it; None when the daemon stopped the attempt meanwhile."""
        from autoflow_watch.executor.dask.task import run_notebook

        client = self._client()
        if client is None:
            raise SchedulerLost("the Dask scheduler was not reachable when the notebook was due")
        task = self._task(notebook)
        key = f"autoflow-watch-{self.job.workflow}-{notebook.name}-{self.job.run_id}-{uuid.uuid4().hex[:8]}"
        with self._lock:
            if self.stop_reason is not None:
                return None
            self._future = client.submit(run_notebook, task, key=key, pure=False, retries=0)
            future = self._future
        future.add_done_callback(lambda _f: self._wake.set())
        try:
            while not future.done() and self.stop_reason is None:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
            if self.stop_reason is not None:
                return None
            return _outcome(future, notebook)
        finally:
            with self._lock:
                self._future = None
            with contextlib.suppress(Exception):  # the scheduler is gone, and the marker with it
                forget_first_execution(client, key)

    def _task(self, notebook: NotebookJob) -> NotebookTask:
        """The notebook as bytes with its parameters; its upstream notebooks' executed copies travel with it."""
        work = Path(self.job.work_dir)
        remote = {name: Path(UPSTREAM_FOLDER) / f"{name}.ipynb" for name in notebook.upstream}
        upstream = {name: (work / f"{name}.ipynb").read_bytes() for name in notebook.upstream}
        return NotebookTask(
            job=self.job,
            notebook=notebook,
            parameters=notebook_parameters(self.job, notebook, remote),
            source=Path(notebook.path).read_bytes(),
            upstream=upstream,
            token=self._token,
        )

    # -- how it ends ------------------------------------------------------------------------------------------------
    def _execution(self, result: WorkerResult) -> Execution:
        attempt = AttemptResult(
            result.outcome, result.error_type, result.error, result.failing_notebook, result.failing_cell
        )
        return Execution(self.claim, self.job, attempt, result, [], time.time())

    def _worker_lost(self, notebook: NotebookJob, message: str) -> Execution:
        log.warning("run.worker_lost", notebook=notebook.name, error=message)
        self._emit(StepChanged(notebook.name, StepState.FAILED, error=f"WorkerLost: {message}"))
        result = WorkerResult(AttemptOutcome.FAILED, error_type="WorkerLost", error=message)
        result.failing_notebook = notebook.name
        return self._execution(result)

    def _given_back(self, why: str) -> Execution:
        """The scheduler went away with the task: the attempt does not count (as after SIGTERM)."""
        if self.stop_reason is not None:
            return cut_short(self.claim, self.job, self.stop_reason, [], time.time())
        log.warning("run.scheduler_lost", run_id=self.job.run_id, error=why)
        message = f"{why}; the run is given back and its attempt does not count"
        attempt = AttemptResult(AttemptOutcome.INTERRUPTED, "SchedulerLost", message)
        return Execution(self.claim, self.job, attempt, None, [], time.time())

    def _emit(self, event: RunEvent) -> None:
        try:
            self._on_event(self.job, event)
        except Exception:
            log.exception("run.event.error", run_id=self.job.run_id)

    def _emit_message(self, message: Message) -> None:
        if isinstance(message, StepChanged):
            self._emit(message)


def _outcome(future: Any, notebook: NotebookJob) -> NotebookReturn:
    """The task's return; WorkerLost for a lost worker, SchedulerLost for a lost scheduler."""
    from distributed import KilledWorker

    if future.status == "finished":
        try:
            returned = from_wire(future.result())
        except (BadReturn, TypeError) as bad:  # TypeError: not msgpack (Dask refuses other serializers here)
            raise WorkerLost(f"the task of notebook {notebook.name!r} returned no notebook result: {bad}") from None
        lost = returned.pop("lost")
        if lost is not None:  # the scheduler ran it again after a worker died: not a second time
            raise WorkerLost(lost)
        return NotebookReturn(**returned)
    if future.status == "error":
        error = future.exception()
        if isinstance(error, KilledWorker) or (isinstance(error, RefusedPickle) and "KilledWorker" in error.what):
            worker = getattr(getattr(error, "last_worker", None), "address", None)  # unknown: not unpickled
            which = f"Dask worker {worker}" if worker else "a Dask worker"
            raise WorkerLost(f"{which} was lost while it ran notebook {notebook.name!r}") from None
        raise WorkerLost(f"the task of notebook {notebook.name!r} failed on the cluster: {error!r}")
    raise SchedulerLost(f"the connection to the Dask scheduler was lost while notebook {notebook.name!r} ran")


def _cancel_and_kill(client: Any, future: Any) -> None:
    """Cancel the task (its worker then kills the kernel) and, to be sure and quick, kill its kernel now."""
    from autoflow_watch.executor.dask.task import kill_kernels

    if client is None:
        return  # no scheduler: its workers close themselves, and their kernels die with them
    try:
        future.cancel()
        client.run(kill_kernels, str(future.key), wait=True, on_error="ignore")
    except Exception as error:
        log.warning("run.dask.kill_failed", error=str(error)[:300])
