"""What runs on a Dask worker: one notebook, in a kernel of that worker, in a private folder of that worker.

The task gets the notebook's bytes, its parameters and the executed copies of its upstream
notebooks; it writes them into a fresh folder under the worker's own ``local_directory``
(nothing is shared with the daemon's host), starts a kernel of the worker's kernelspec with
that folder as working folder, runs the notebook with papermill exactly as the local
executor does (:func:`~autoflow_watch.executor.notebook_run.execute`: ``cell_timeout`` is
enforced here), and returns the executed notebook and the kernel's own output as bytes.

Three guarantees live here:

- *no second execution inside one attempt*: the first thing the task does is to record, on
  the scheduler, that it began on this worker (a Dask ``Variable`` named after the task's
  key, which is unique to the attempt). When the worker dies, the scheduler reschedules the
  task on another one (up to ``distributed.scheduler.allowed-failures`` times); that second
  execution finds the record and refuses with :class:`WorkerLost`, naming the lost worker,
  before any cell runs;
- *a cancelled task kills its kernel*: a watcher thread sees the worker mark the task
  cancelled (the daemon cancelled its future: run_timeout, SIGTERM, a lost lease, or the
  daemon itself is gone) and kills the kernel's process group; :func:`kill_kernels` does the
  same at once when the daemon asks;
- *a kernel never outlives its worker*: kernels start with ``PR_SET_PDEATHSIG`` from the
  task's thread, so they die with the worker process, kill -9 included.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoflow_watch import processes
from autoflow_watch.executor.dask.wire import to_wire
from autoflow_watch.executor.job import KernelProfile, NotebookJob, RunJob, SandboxSpec, kernel_log_path
from autoflow_watch.secrets import TOKEN_ENV, register_secret

UPSTREAM_FOLDER = "upstream"  # inside the private folder: the upstream parameters point here
MARKER_PREFIX = "autoflow-watch-began-"
WATCH_EVERY_S = 0.2
_DONE_STATES = ("cancelled", "released", "forgotten")  # the worker no longer wants the result


class SealedToken:
    """The FlowAPI token inside a task's arguments: its ``repr`` and ``str`` never show it (the dashboard does)."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "SealedToken(<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (SealedToken, (self.value,))


@dataclass(frozen=True, repr=False)
class NotebookTask:
    """One notebook of one attempt as shipped to a worker: all it needs; the token only if its workflow asked."""

    job: RunJob
    notebook: NotebookJob
    parameters: dict[str, Any]  # upstream ones are relative to the private folder
    source: bytes
    upstream: dict[str, bytes] = field(default_factory=dict)  # upstream name -> its executed notebook
    token: SealedToken | None = None

    def __repr__(self) -> str:
        job = self.job
        return f"NotebookTask({job.workflow} {job.reference_date} run {job.run_id} notebook {self.notebook.name})"

    __str__ = __repr__


@dataclass(repr=False)
class NotebookReturn:
    """What a task hands back: the executed notebook, the kernel's output, and how it ended."""

    worker: str
    kernel_pid: int | None
    duration_s: float
    executed: bytes | None  # None when papermill wrote nothing (the kernel never started)
    kernel_log: bytes
    failure: dict[str, Any] | None = None  # the fields of a NotebookFailure

    def __repr__(self) -> str:
        state = "failed" if self.failure else "succeeded"
        return f"NotebookReturn({state} on {self.worker} in {self.duration_s:.1f}s)"


class WorkerLost(Exception):
    """The worker running this notebook died; the scheduler tried it again, and this attempt refuses."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (WorkerLost, (self.message,))


# kernels of the tasks running in this worker process, by task key (for kill_kernels)
_running: dict[str, list[int]] = {}
_running_lock = threading.Lock()


def run_notebook(task: NotebookTask) -> dict[str, Any]:
    """The Dask task: execute ``task``'s notebook on this worker; return it as plain data (``wire``)."""
    from distributed import get_worker
    from distributed.worker import thread_state

    worker = get_worker()
    key = str(thread_state.key)
    try:
        _claim_first_execution(key, worker.address, task.notebook.name)
    except WorkerLost as error:
        return to_wire(worker.address, None, 0.0, None, b"", lost=error.message)
    root = Path(worker.local_directory) / "autoflow-watch"
    root.mkdir(mode=0o700, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{task.notebook.name}-", dir=root))
    # the executed notebook and the kernel's log go where a sealed kernel cannot write: papermill must
    # never write through, nor this worker read back, a link the kernel planted in its own folder
    outputs = Path(tempfile.mkdtemp(prefix=f"{task.notebook.name}-out-", dir=root))
    try:
        return _execute_in(folder, outputs, key, worker, task)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(outputs, ignore_errors=True)


def kill_kernels(key: str, dask_worker: Any = None) -> list[int]:
    """Run on every worker by the daemon (``client.run``): kill the kernels of task ``key``, if any runs here."""
    with _running_lock:
        pids = list(_running.get(key, []))
    signalled = processes.kill_groups(pids)
    processes.wait_gone(signalled, timeout=2)
    return signalled


def kernel_names(names: list[str], dask_worker: Any = None) -> dict[str, list[str]]:
    """Run on every worker by ``validate``: which of ``names`` this worker lacks, and the kernels it has."""
    from jupyter_client.kernelspec import KernelSpecManager

    installed = sorted(KernelSpecManager().find_kernel_specs())
    return {"missing": [name for name in names if name not in installed], "installed": installed}


# -- inside the task ------------------------------------------------------------------------------------
def _claim_first_execution(key: str, address: str, notebook: str) -> None:
    """Record on the scheduler that the task began here; refuse when an earlier execution began elsewhere.

    An ``Event`` is the flag (asking for an unset one is no error on the scheduler); a
    ``Variable`` beside it keeps the address of the worker that began it, for the error.
    """
    from distributed import Event, Variable

    began, where = Event(MARKER_PREFIX + key), Variable(MARKER_PREFIX + key)
    if not began.is_set():
        where.set(address)
        began.set()
        return
    try:
        earlier = where.get(timeout=5)
    except TimeoutError:
        earlier = "(unknown)"
    raise WorkerLost(
        f"Dask worker {earlier} was lost while it ran notebook {notebook!r}; "
        "the scheduler rescheduled it, and it is not run a second time within one attempt"
    )


def forget_first_execution(client: Any, key: str) -> None:
    """The daemon's clean-up once a task has ended: the scheduler keeps no marker of it."""
    from distributed import Event, Variable

    Variable(MARKER_PREFIX + key, client=client).delete()
    Event(MARKER_PREFIX + key, client=client).clear()


def _execute_in(folder: Path, outputs: Path, key: str, worker: Any, task: NotebookTask) -> dict[str, Any]:
    from autoflow_watch.executor.kernel_start import adopt_log, with_start_retry
    from autoflow_watch.executor.notebook_run import NotebookFailure, execute
    from autoflow_watch.executor.warm_kernels import WarmKernels
    from autoflow_watch.logs import get_logger

    notebook, job, parameters = _lay_out(folder, task)
    job = dataclasses.replace(job, work_dir=str(outputs))
    token = task.token.value if task.token is not None and job.flowapi_token else None
    register_secret(token)  # never in a line this worker logs
    pids: list[int] = []
    with _running_lock:
        _running[key] = pids
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, "MPLBACKEND")}
    kernels = WarmKernels(0, env, outputs, pids.append, lambda pid: None, job.kernel_start_timeout_s)
    kernels.font_folder = folder.parent / "fonts"  # built once per worker, not per task
    kernels.templates = worker_templates(worker, env, folder.parent, job.preload)
    watch = _CancelWatch(worker, key, pids)
    profile = KernelProfile(job.kernel, str(folder), token is not None, worker_sandbox(job.sandbox, folder))
    output = outputs / f"{notebook.name}.ipynb"
    started = time.monotonic()
    failure: NotebookFailure | None = None

    def once() -> None:
        kernel, _ = kernels.take(profile, token)
        adopt_log(kernel, kernel_log_path(str(outputs), notebook.name))
        failed = True
        try:
            execute(job, notebook, parameters, output, kernel.manager)
            failed = False
        finally:
            kernels.discard(kernel, now=failed)

    try:
        try:  # a kernel that fails to start is tried once more, as locally; cell errors are not
            with_start_retry(once, get_logger("autoflow_watch.worker"))
        except NotebookFailure as error:
            failure = error
    finally:
        watch.stop()
        kernels.templates = None  # the worker's, kept for the next task
        kernels.close()
        with _running_lock:
            _running.pop(key, None)
    if watch.cancelled and failure is not None:
        failure.message = f"cancelled by the daemon; kernel killed ({failure.message})"
    log_path = kernel_log_path(str(outputs), notebook.name)
    return to_wire(
        worker=worker.address,
        kernel_pid=pids[-1] if pids else None,
        duration_s=round(time.monotonic() - started, 3),
        executed=output.read_bytes() if output.exists() else None,
        kernel_log=log_path.read_bytes() if log_path.exists() else b"",
        failure=dataclasses.asdict(failure) if failure is not None else None,
    )


def worker_sandbox(spec: SandboxSpec, folder: Path) -> SandboxSpec:
    """The workflow's seal with this worker's folders in place of the daemon's.

    The task's own folder (the notebook, its upstream copies) is the kernel's working and
    run folder, writable; every other task's folder, the worker's home, the credentials
    folder and libpq's password file are forbidden.
    """
    deny = (
        str(folder.parent),
        str(Path.home()),
        os.environ.get("CREDENTIALS_DIRECTORY") or "/run/credentials",
        os.environ.get("PGPASSFILE") or str(Path.home() / ".pgpass"),
    )
    return dataclasses.replace(spec, write=(*spec.write, str(folder)), deny=deny)


def _lay_out(folder: Path, task: NotebookTask) -> tuple[NotebookJob, RunJob, dict[str, Any]]:
    """Write the notebook and its upstream copies into ``folder``; the job and parameters as seen from here."""
    source = folder / "source" / f"{task.notebook.name}.ipynb"
    source.parent.mkdir()
    source.write_bytes(task.source)
    (folder / UPSTREAM_FOLDER).mkdir()
    for name, executed in task.upstream.items():
        (folder / UPSTREAM_FOLDER / f"{name}.ipynb").write_bytes(executed)
    parameters = {
        name: str(folder / value) if name in task.notebook.upstream else value
        for name, value in task.parameters.items()
    }
    notebook = dataclasses.replace(task.notebook, path=str(source))
    return notebook, dataclasses.replace(task.job, work_dir=str(folder)), parameters


class _CancelWatch:
    """Kills the task's kernels as soon as the worker marks the task cancelled (or forgets it)."""

    def __init__(self, worker: Any, key: str, pids: list[int]) -> None:
        self._worker, self._key, self._pids = worker, key, pids
        self._stopped = threading.Event()
        self.cancelled = False
        self._thread = threading.Thread(target=self._watch, name=f"afw-watch-{key[:40]}", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopped.wait(WATCH_EVERY_S):
            state = getattr(self._worker.state.tasks.get(self._key), "state", "forgotten")
            if state in _DONE_STATES:
                self.cancelled = True
                processes.kill_groups(list(self._pids))

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=2)


TEMPLATES_PLUGIN = "autoflow-watch-kernel-templates"


class KernelTemplatesPlugin:
    """A Dask worker plugin that keeps this worker's kernel templates (one per kernelspec and preload list).

    Installed by the first task that wants forked kernels; its templates are started on a thread
    that lives as long as the worker (``PR_SET_PDEATHSIG`` follows the thread that started a
    template, and Dask's task threads come and go), and closed when the worker closes.
    """

    name = TEMPLATES_PLUGIN

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.env, self.folder = env, folder
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="afw-templates")
        self.by_preload: dict[tuple[str, ...], Any] = {}
        self.lock = threading.Lock()

    def templates(self, preload: list[str]) -> Any:
        from autoflow_watch.executor.kernel_template import KernelTemplates

        with self.lock:
            key = tuple(preload)
            if key not in self.by_preload:
                folder = self.folder / f"templates-{len(self.by_preload)}"
                start = lambda make: self._starter.submit(make).result()  # noqa: E731
                self.by_preload[key] = KernelTemplates(list(preload), self.env, folder, starter=start)
            return self.by_preload[key]

    def setup(self, worker: Any) -> None:
        """Nothing to start until a task asks (the kernelspec is known only then)."""

    def teardown(self, worker: Any) -> None:
        with self.lock:
            for templates in self.by_preload.values():
                templates.close()
            self.by_preload.clear()
        self._starter.shutdown(wait=False)


def worker_templates(worker: Any, env: dict[str, str], folder: Path, preload: list[str] | None) -> Any:
    """This worker's templates for ``preload``; None when the daemon asked for spawned kernels."""
    if preload is None:
        return None
    with _running_lock:
        plugin = worker.plugins.get(TEMPLATES_PLUGIN)
        if plugin is None:
            plugin = worker.plugins[TEMPLATES_PLUGIN] = KernelTemplatesPlugin(env, folder)
    return plugin.templates(preload)
