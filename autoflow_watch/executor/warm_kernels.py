"""A worker's kernels: pre-started ones waiting for a notebook, and used ones on their way out.

A kernel serves one notebook and is discarded. Starting one only spawns its process; the
kernel's own start-up (importing ipykernel, opening its sockets) then runs in that process
while the worker does something else — typically while the previous notebook executes — so
by the time the next notebook needs a kernel, one is ready. A pre-started kernel is launched
exactly as an on-demand one would be (same kernelspec, working folder, environment and
limits), so a notebook cannot tell them apart. A kernel pre-started with the FlowAPI token
serves only notebooks of ``flowapi_token`` workflows, and only while that token is current.

Everything here runs on the worker's main thread: ``PR_SET_PDEATHSIG`` ties each kernel's
life to the thread that started it, and that thread lives as long as the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_core.utils import ensure_event_loop, run_sync

from autoflow_watch import processes
from autoflow_watch.executor.job import KernelProfile
from autoflow_watch.executor.kernel_manager import ReportingKernelManager
from autoflow_watch.executor.kernel_sandbox import (
    FontCache,
    PrivateFolder,
    host_enforcement,
    kernel_policy,
    kernelspec_files,
    make_private_folder,
    write_policy,
)
from autoflow_watch.executor.kernel_template import TAKE_WAIT_S, KernelTemplates, TemplateUnusable
from autoflow_watch.logs import get_logger
from autoflow_watch.secrets import TOKEN_ENV

log = get_logger("autoflow_watch.worker")
FILL_DELAY_S = 0.1  # after a notebook takes its kernel, before the next one is started
TEMPLATE_POLL_S = 0.2  # a pre-start waiting for its template to finish importing asks again this often
SHUTDOWN_WAIT_S = 5.0  # a discarded kernel's time to run its exit handlers before its group is killed


@dataclass
class Kernel:
    """One kernel process and what the worker knows about it."""

    manager: ReportingKernelManager
    profile: KernelProfile
    token_digest: str
    log_path: Path
    ipc_dir: str
    started_at: float
    private: PrivateFolder | None = None  # a sealed kernel's own folder (None: sandbox off)
    readying: asyncio.Task[None] | None = None  # a pre-started kernel's client getting ready
    discard_deadline: float | None = None
    forked: bool = False  # a fork of its kernelspec's template (else spawned)

    @property
    def pid(self) -> int:
        return int(self.manager.provisioner.pid)  # type: ignore[union-attr]

    def exited(self) -> bool:
        process = getattr(self.manager.provisioner, "process", None)
        return process is None or process.poll() is not None

    def exit_code(self) -> int | None:
        process = getattr(self.manager.provisioner, "process", None)
        return process.poll() if process is not None else None


def _digest(token: str | None) -> str:
    return hashlib.sha256(token.encode()).hexdigest() if token else ""


@dataclass
class WarmKernels:
    """Kernels of one worker: ``warm`` idle ones kept ready, used ones reaped once they have exited."""

    warm: int
    base_env: dict[str, str]
    folder: Path  # the worker's private folder: kernel logs live here until a notebook takes one
    on_started: Callable[[int], None]
    on_gone: Callable[[int], None]
    start_timeout_s: float = 60.0
    reaps_orphans: bool = False  # this process is a subreaper: orphans of its kernels become its children
    font_folder: Path | None = None  # where matplotlib's font lists are built (default: in ``folder``)
    templates: KernelTemplates | None = None  # kernel_start = "fork": the templates kernels are forked from
    idle: list[Kernel] = field(default_factory=list)
    busy: list[Kernel] = field(default_factory=list)  # taken by a notebook, not yet discarded
    retiring: list[Kernel] = field(default_factory=list)
    _count: int = 0
    _pending_fill: asyncio.TimerHandle | None = None
    _fonts: FontCache | None = None

    def take(self, profile: KernelProfile, token: str | None) -> tuple[Kernel, bool]:
        """A kernel for ``profile``: a ready one when there is one, else one started now; (kernel, warm)."""
        self.reap()
        wanted = _digest(token if profile.with_token else None)
        for kernel in list(self.idle):
            if kernel.exited():
                self.idle.remove(kernel)
                self._dead_before_use(kernel)
            elif kernel.profile == profile and kernel.token_digest == wanted:
                self.idle.remove(kernel)
                if self._readied(kernel):
                    self.busy.append(kernel)
                    return kernel, True
        kernel = self._start(profile, token)
        self.busy.append(kernel)
        return kernel, False

    def _dead_before_use(self, kernel: Kernel) -> None:
        """A pre-started kernel that failed to start, or died while waiting (out of memory, killed)."""
        self._retire(kernel, now=True)
        log.warning("kernel.start_failed.retrying", pid=kernel.pid, warm=True, code=kernel.exit_code())

    def _readied(self, kernel: Kernel) -> bool:
        """Wait for a pre-started kernel's client to be ready (usually it is); False if it never will be."""
        if kernel.readying is None:
            return True
        try:
            ensure_event_loop().run_until_complete(kernel.readying)
            return True
        except Exception as error:  # it died or did not answer in time: start another
            self._retire(kernel, now=True)
            log.warning("kernel.start_failed.retrying", pid=kernel.pid, warm=True, error=str(error)[:300])
            return False

    def fill(self, upcoming: list[KernelProfile], token: str | None) -> None:
        """Pre-start kernels for the notebooks expected next, up to ``warm`` idle ones.

        Idle kernels that no upcoming notebook wants (or that hold a token no longer current)
        make room for ones that will be used.
        """
        self._cancel_pending_fill()  # this is the newer prediction of what comes next
        self.reap()
        if upcoming and len(upcoming) < self.warm:  # more runs of the same workflow are the likeliest next
            upcoming = upcoming + [upcoming[-1]] * (self.warm - len(upcoming))
        wanted = [(p, _digest(token if p.with_token else None)) for p in upcoming[: self.warm]]
        keep: list[Kernel] = []
        for kernel in self.idle:
            key = (kernel.profile, kernel.token_digest)
            if kernel.exited():
                self._dead_before_use(kernel)
            elif key in wanted:
                wanted.remove(key)
                keep.append(kernel)
            else:
                self._retire(kernel, now=True)
        self.idle = keep
        for profile, _ in wanted:
            if len(self.idle) >= self.warm:
                break
            if self.templates is not None and self.templates.importing(profile.kernel):
                # its fork would wait for the template's imports, here in the loop a running notebook needs
                self._pending_fill = ensure_event_loop().call_later(TEMPLATE_POLL_S, self.fill, upcoming, token)
                break
            kernel = self._start(profile, token)
            kernel.readying = kernel.manager.make_ready(self.start_timeout_s)
            self.idle.append(kernel)

    def fill_soon(self, upcoming: list[KernelProfile], token: str | None) -> None:
        """:meth:`fill`, a moment from now, from this thread's event loop (it runs while papermill waits)."""
        if self.warm:
            self._cancel_pending_fill()
            self._pending_fill = ensure_event_loop().call_later(FILL_DELAY_S, self.fill, upcoming, token)

    def _cancel_pending_fill(self) -> None:
        if self._pending_fill is not None:
            self._pending_fill.cancel()
            self._pending_fill = None

    def discard(self, kernel: Kernel, *, now: bool = False) -> None:
        """A kernel that served its notebook: asked to shut down (or killed ``now``), reaped later."""
        if kernel in self.busy:
            self.busy.remove(kernel)
        for client in kernel.manager.opened_clients:
            with contextlib.suppress(Exception):
                client.stop_channels()
        if not now and not kernel.exited():
            try:
                run_sync(kernel.manager.request_shutdown)()
            except Exception:
                now = True
        self._retire(kernel, now=now)

    def reap(self) -> None:
        """Kill the process groups of discarded kernels that have exited or had their time."""
        clock = time.monotonic()
        for kernel in list(self.retiring):
            if kernel.exited() or clock >= (kernel.discard_deadline or 0):
                self._finish(kernel)

    def close(self) -> None:
        """Discard every kernel at once (the worker is leaving)."""
        self._cancel_pending_fill()
        for kernel in self.idle:
            self._retire(kernel, now=True)
        self.idle = []
        for kernel in list(self.retiring):
            self._finish(kernel)
        if self._fonts is not None:
            self._fonts.close()
        if self.templates is not None:
            self.templates.close()

    def pids(self) -> list[int]:
        return [k.pid for k in (*self.idle, *self.retiring)]

    # -- inside ---------------------------------------------------------------------------------
    def _start(self, profile: KernelProfile, token: str | None) -> Kernel:
        self._count += 1
        env = dict(self.base_env)
        if profile.with_token and token:
            env[TOKEN_ENV] = token
        log_path = self.folder / f"kernel-{os.getpid()}-{self._count}.log"
        private: PrivateFolder | None = None
        if profile.sandbox.sealed:
            private = make_private_folder(abstract=bool(host_enforcement()["scopes"]))
            ipc_dir = str(private.root)
            manager = ReportingKernelManager(private.socket_base, kernel_name=profile.kernel)
            policy = kernel_policy(profile, private, kernelspec_files(manager.kernel_spec))
            manager.private, manager.policy = private, policy
            self._choose_template(manager, profile)
            if manager.template is None:
                manager.policy_file = write_policy(private, policy)
            manager.connection_file = str(private.runtime / "kernel.json")
            env.update(private.environment())
            self._provide_fonts(manager, private)
        else:
            ipc_dir = tempfile.mkdtemp(prefix="afw-")  # short: socket paths have at most 107 bytes
            manager = ReportingKernelManager(os.path.join(ipc_dir, "k"), kernel_name=profile.kernel)
            self._choose_template(manager, profile)
        manager.log_path = str(log_path)
        with log_path.open("ab") as output:  # the kernel keeps its own copy of the descriptor
            run_sync(manager.start_kernel)(
                env=env,
                cwd=profile.cwd,
                stdout=output,
                stderr=output,
                preexec_fn=processes.die_with_parent,
            )
        kernel = Kernel(
            manager,
            profile,
            _digest(token if profile.with_token else None),
            log_path,
            ipc_dir,
            time.time(),
            private=private,
            forked=manager.template is not None,
        )
        self.on_started(kernel.pid)
        return kernel

    def _choose_template(self, manager: ReportingKernelManager, profile: KernelProfile) -> None:
        """Fork this kernel from its kernelspec's template when there is a usable one.

        A template's first kernel does not wait for its imports: when the template is not ready
        yet, that one kernel is spawned and boots beside it. A later one waits up to
        ``TAKE_WAIT_S`` once; if the imports are still not done (a slow or stuck preload), it and
        every kernel until the template is ready are spawned, and that is said once.
        """
        if self.templates is None:
            return
        template = self.templates.for_spec(profile.kernel, manager.kernel_spec)
        if template is None:
            return
        try:
            if not template.poll_ready():
                if not template.passed_over or template.slow:
                    template.passed_over = True
                    return
                if not template.ready_within(TAKE_WAIT_S):
                    template.slow = True
                    log.warning(
                        "kernel.template_slow",
                        kernel=profile.kernel,
                        what=f"its template has imported for over {TAKE_WAIT_S:.0f} s (preload): kernels are "
                        "spawned until it is ready",
                    )
                    return
        except TemplateUnusable as error:
            self.templates.failed(template, str(error))
            return
        manager.templates, manager.template = self.templates, template

    def _provide_fonts(self, manager: ReportingKernelManager, private: PrivateFolder) -> None:
        """Matplotlib's font list for this kernel's interpreter, built once per worker, copied in."""
        if self._fonts is None:
            self._fonts = FontCache(self.font_folder or self.folder / "fonts")
        try:
            python = manager.kernel_spec.argv[0] if manager.kernel_spec else sys.executable
            if python in ("python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])):
                python = sys.executable  # as jupyter_client resolves it
            self._fonts.provide(python, private.mplconfig)
        except Exception as error:  # a missing cache costs time, never a run
            log.warning("kernel.font_cache_failed", error=str(error)[:300])

    def _retire(self, kernel: Kernel, *, now: bool) -> None:
        if kernel in self.busy:
            self.busy.remove(kernel)
        if kernel.readying is not None:
            if not kernel.readying.done():
                kernel.readying.cancel()
            elif not kernel.readying.cancelled():
                kernel.readying.exception()  # seen: asyncio need not complain that nobody looked
        kernel.manager.readied = None  # its client is in opened_clients, stopped with the others
        if now:
            processes.kill_groups([kernel.pid], signal.SIGKILL)
        kernel.discard_deadline = time.monotonic() + (0 if now else SHUTDOWN_WAIT_S)
        self.retiring.append(kernel)

    def _finish(self, kernel: Kernel) -> None:
        # what the kernel started dies with it: its group, every descendant (the launcher makes the kernel
        # a subreaper, so a setsid double fork stays below it), and orphans this worker adopted
        processes.kill_tree(kernel.pid)
        process = getattr(kernel.manager.provisioner, "process", None)
        if process is not None:
            with contextlib.suppress(Exception):
                process.wait(timeout=5)
        with contextlib.suppress(Exception):
            run_sync(kernel.manager.cleanup_resources)()
        shutil.rmtree(kernel.ipc_dir, ignore_errors=True)
        kernel.log_path.unlink(missing_ok=True)  # the notebook's own name for it stays in its run folder
        if kernel in self.retiring:
            self.retiring.remove(kernel)
        if self.reaps_orphans:
            keep = [*self.pids(), *(k.pid for k in self.busy), *(self._fonts.pids() if self._fonts else [])]
            keep += self.templates.pids() if self.templates else []
            processes.kill_adopted(keep)
        self.on_gone(kernel.pid)
