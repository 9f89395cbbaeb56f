"""The kernel manager a worker starts its kernels with: unix sockets, a readied client, forked or spawned.

A sealed kernel's command goes through the sandbox launcher when it is spawned; a forked one is
asked of its kernelspec's template (:mod:`autoflow_watch.executor.kernel_template`), which seals
the child itself, and is handed to jupyter_client's provisioner as if it had been spawned.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from jupyter_client import AsyncKernelClient, AsyncKernelManager, KernelClient
from jupyter_core.utils import ensure_event_loop

from autoflow_watch.executor.kernel_sandbox import PrivateFolder, launch_command, write_policy
from autoflow_watch.executor.kernel_template import (
    ForkedProcess,
    KernelTemplate,
    KernelTemplates,
    TemplateUnusable,
    kernel_python,
)

# A kernel's input history in memory, not in a SQLite file of its (fresh, private) IPython folder: no
# database to create per kernel, no history-saving thread; ``%history`` shows the notebook's own cells.
IN_MEMORY_HISTORY = "--HistoryManager.hist_file=:memory:"


class ReadiedClient(AsyncKernelClient):
    """A kernel client whose ``wait_for_ready`` is done once, ahead of time, while nothing waits for it.

    jupyter_client's ``wait_for_ready`` ends by draining the kernel's IOPub channel until it
    has been quiet for 0.2 s: 200 ms per notebook that nobody needs to wait for when the
    kernel was started in advance.
    """

    ready = False

    def start_channels(self, *args: Any, **kwargs: Any) -> None:
        if not self.channels_running:  # papermill starts them again on a client that is already connected
            super().start_channels(*args, **kwargs)

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        if not self.ready:
            await KernelClient._async_wait_for_ready(self, timeout)
            self.ready = True


class ReportingKernelManager(AsyncKernelManager):
    """A kernel manager that talks to its kernel over unix sockets and hands out its readied client.

    IPC sockets instead of TCP ports: no port races between parallel kernels, nothing
    listening on the network. For a sealed kernel they are abstract sockets that Landlock
    scopes to it, and its command goes through the sandbox launcher. The clients papermill
    opens are closed when the kernel is discarded (papermill leaves them open on a kernel it
    did not start).
    """

    def __init__(self, ipc_base: str, policy_file: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transport = "ipc"
        self.ip = ipc_base
        self.policy_file = policy_file
        self.client_factory = ReadiedClient
        self.opened_clients: list[Any] = []
        self.readied: ReadiedClient | None = None
        self.templates: KernelTemplates | None = None  # set: fork this kernel from its kernelspec's template
        self.template: KernelTemplate | None = None
        self.private: PrivateFolder | None = None
        self.policy: dict[str, Any] | None = None
        self.log_path = ""

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command: list[str] = super().format_kernel_cmd(extra_arguments)
        if kernel_python(self.kernel_spec) is not None:  # an ipykernel, forked or spawned alike
            command.append(IN_MEMORY_HISTORY)
        if self.template is not None:
            return command  # forked: the template seals the child itself
        return command if self.policy_file is None else launch_command(command, self.policy_file)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        if self.template is None or self.templates is None:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        env = {**kw["env"], "JPY_PARENT_PID": str(os.getpid())}  # as jupyter_client's launch_kernel sets it
        request = {"command": kernel_cmd, "env": env, "cwd": str(kw.get("cwd") or os.getcwd())}
        try:
            process: ForkedProcess = self.template.fork({**request, "log": self.log_path, "policy": self.policy})
        except TemplateUnusable as error:  # e.g. a preload started a thread after all: spawn from now on
            self.templates.failed(self.template, str(error))
            self.template = None
            if self.policy is not None and self.private is not None:
                self.policy_file = write_policy(self.private, self.policy)
                kernel_cmd = launch_command(kernel_cmd, self.policy_file)
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        provisioner: Any = self.provisioner
        provisioner.process, provisioner.pid, provisioner.pgid = process, process.pid, process.pid
        provisioner.cwd = request["cwd"]
        self._reconcile_connection_info(provisioner.connection_info)

    def client(self, **kwargs: Any) -> Any:
        if self.readied is not None and not kwargs:  # papermill's client: the one made ready in advance
            readied, self.readied = self.readied, None
            return readied
        kc = super().client(**kwargs)
        self.opened_clients.append(kc)
        return kc

    def make_ready(self, timeout: float) -> asyncio.Task[None]:
        """Connect a client and wait for the kernel on this thread's loop, in the background."""
        kc: ReadiedClient = self.client()
        kc.start_channels()
        self.readied = kc
        return ensure_event_loop().create_task(kc.wait_for_ready(timeout=timeout))
