"""A sealed kernel's surroundings: its private folder, its environment, its policy and its launch command.

Every kernel of a sealed workflow gets a private folder (``afw-k-*`` in the worker's
temporary folder, mode 0700) that is its ``HOME``, ``TMPDIR``, ``IPYTHONDIR``,
``MPLCONFIGDIR``, Jupyter data and runtime folder (its connection file is there), and,
locally, its view of the run folder (``run/``: the upstream notebooks are copied in). The
folder is removed with the kernel, so nothing a kernel writes reaches a later one.

Its sockets are abstract Unix sockets named after that folder when the host scopes them
(Landlock ABI 6): another sealed kernel cannot connect to them, and the worker can.
The kernel is started through :mod:`autoflow_watch.sandbox.launcher`, run by file path
under the kernelspec's own interpreter, which seals it before ipykernel starts.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoflow_watch import processes
from autoflow_watch.executor.job import KernelProfile
from autoflow_watch.sandbox import landlock, seal

LAUNCHER = str(Path(seal.__file__).with_name("launcher.py"))
PYTHON = re.compile(r"^python[0-9.]*$")


def host_enforcement() -> dict[str, Any]:
    """What this host's Landlock lets a seal enforce: ``{"abi", "files", "tcp", "scopes"}``."""
    level = landlock.abi()
    return {"abi": level, **seal.enforced(level)}


def describe_enforcement(mode: str, found: dict[str, Any] | None = None) -> str:
    """One line: what the sandbox enforces on this host (for ``validate``, the start-up log, sandbox-check)."""
    if mode == "off":
        return 'sandbox: off (sandbox = "off"): notebooks run with the daemon user\'s rights'
    found = found or host_enforcement()
    parts = {
        "files": "files (Linux 5.13+)",
        "tcp": "TCP connect/bind (Linux 6.7+)",
        "scopes": "signals and abstract sockets (Linux 6.12+)",
    }
    on = [text for key, text in parts.items() if found[key]]
    off = [text for key, text in parts.items() if not found[key]]
    line = f"sandbox: {mode}, Landlock ABI {found['abi']}: enforces {', '.join(on) or 'nothing'}"
    return line + (f"; NOT enforced here: {', '.join(off)}" if off else "")


def missing_for_required(found: dict[str, Any] | None = None) -> list[str]:
    """What ``sandbox = "required"`` needs and this host lacks (empty: it may start)."""
    found = found or host_enforcement()
    return [name for name, key in (("files", "files"), ("TCP", "tcp"), ("signals", "scopes")) if not found[key]]


@dataclass
class PrivateFolder:
    """One sealed kernel's own folder: home, temporary files, Jupyter's folders, its run view."""

    root: Path
    abstract: bool  # sockets are abstract (scoped) rather than files in this folder

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def mplconfig(self) -> Path:
        return self.home / ".config" / "matplotlib"

    @property
    def runtime(self) -> Path:
        return self.home / ".local" / "share" / "jupyter" / "runtime"

    @property
    def socket_base(self) -> str:
        """jupyter_client's ``ip`` for the ipc transport: ``@name`` is an abstract socket."""
        return f"@{self.root.name}-{secrets.token_hex(8)}/k" if self.abstract else str(self.root / "k")

    def environment(self) -> dict[str, str]:
        home = str(self.home)
        return {
            "HOME": home,
            "TMPDIR": str(self.home / "tmp"),
            "IPYTHONDIR": str(self.home / ".ipython"),
            "MPLCONFIGDIR": str(self.mplconfig),
            "JUPYTER_CONFIG_DIR": str(self.home / ".jupyter"),
            "JUPYTER_DATA_DIR": str(self.home / ".local" / "share" / "jupyter"),
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "PYTHONNOUSERSITE": "1",  # no user site: a .pth there would run in every later kernel
        }

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def make_private_folder(abstract: bool) -> PrivateFolder:
    """A fresh private folder with the sub-folders a kernel expects (mkdtemp: mode 0700, short path)."""
    folder = PrivateFolder(Path(tempfile.mkdtemp(prefix="afw-k-")), abstract)
    for sub in (folder.home / "tmp", folder.mplconfig, folder.runtime, folder.run, folder.home / ".ipython"):
        sub.mkdir(parents=True, exist_ok=True)
    return folder


def kernelspec_files(kernel_spec: Any) -> list[str]:
    """What the kernelspec itself needs to read: its folder and the files its command names (a launcher script)."""
    if kernel_spec is None:
        return []
    files = [str(a) for a in kernel_spec.argv if os.path.isabs(str(a)) and os.path.isfile(str(a))]
    return [kernel_spec.resource_dir, *files] if kernel_spec.resource_dir else files


def kernel_policy(profile: KernelProfile, folder: PrivateFolder, extra_read: list[str]) -> dict[str, Any]:
    """The seal of one kernel: its working folder and ``extra_read`` read-only, its private folder writable."""
    spec = profile.sandbox
    return {
        "read": [profile.cwd, *extra_read, *spec.read],
        "write": [str(folder.root), *spec.write],
        "deny": list(spec.deny),
        "connect_ports": list(spec.connect_ports),
        "bind_ports": [0],  # an ephemeral port only (ipykernel's pipe for subprocess output binds one)
        "required": spec.mode == "required",  # the launcher refuses to run the kernel less than sealed
    }


def write_policy(folder: PrivateFolder, policy: dict[str, Any]) -> str:
    path = folder.root / "policy.json"
    path.write_text(json.dumps(policy), encoding="utf-8")
    return str(path)


def launch_command(command: list[str], policy_file: str) -> list[str]:
    """The kernelspec's command run through the launcher, under its own interpreter when it is a Python."""
    python = command[0] if PYTHON.match(os.path.basename(command[0])) else sys.executable
    return [python, LAUNCHER, policy_file, "--", *command]  # the same interpreter: it runs in-process


@dataclass
class FontCache:
    """Matplotlib's font list, built once per interpreter (sealed) and copied into each kernel's MPLCONFIGDIR.

    A fresh MPLCONFIGDIR would otherwise make matplotlib scan every font again, in every
    kernel (seconds). The copy is the kernel's own: what it does to it reaches no one.
    """

    folder: Path
    builds: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    scratch: list[PrivateFolder] = field(default_factory=list)  # the builds' own homes, removed at close

    def provide(self, python: str, target: Path) -> None:
        """Copy the built list into ``target``, or start building it (for the kernels after this one)."""
        cache = self.folder / re.sub(r"[^A-Za-z0-9]+", "_", python)[-80:]
        built = sorted(cache.glob("fontlist-*.json")) if cache.is_dir() else []
        for path in built:
            shutil.copyfile(path, target / path.name)
        if not built and python not in self.builds:
            self.builds[python] = self._build(python, cache)

    def _build(self, python: str, cache: Path) -> subprocess.Popen[bytes]:
        cache.mkdir(parents=True, exist_ok=True)
        folder = make_private_folder(abstract=False)
        self.scratch.append(folder)
        policy = {"read": [], "write": [str(cache), str(folder.root)], "deny": [], "connect_ports": []}
        env = {**os.environ, **folder.environment(), "MPLCONFIGDIR": str(cache)}
        code = "import matplotlib.font_manager"
        command = launch_command([python, "-c", code], write_policy(folder, policy))
        return subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=processes.die_with_parent,
            cwd=str(folder.root),
        )

    def pids(self) -> list[int]:
        return [process.pid for process in self.builds.values()]

    def close(self) -> None:
        for process in self.builds.values():
            if process.poll() is None:
                processes.kill_groups([process.pid], signal.SIGKILL)
            process.wait()
        for folder in self.scratch:
            folder.remove()
