"""A real Dask cluster for tests: ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1.

Every process is started here (never found by name): the scheduler on a port picked free
(kept across a restart, so the daemon's config stays right), each worker under its nanny,
optionally as another OS user made for the test run, who cannot read the daemon's folders.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from daemon_process import alive_pids, descendants, kernels_among, wait_for

DASK = str(Path(sys.executable).parent / "dask")


def free_port() -> int:
    """A free port below the kernel's ephemeral range, so that it stays free while the scheduler is down.

    A port from ``bind(0)`` is an ephemeral one: while the test's scheduler is stopped, any
    outgoing connection on this host (another pytest-xdist worker's) may be given it as its local
    port, and the scheduler could not start on it again. Ports below the range are only ever
    taken on purpose.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(max(1024, low - 20000), low), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range for the Dask scheduler")


class ThrowawayUser:
    """An OS user created for the tests (root only) and removed afterwards."""

    def __init__(self) -> None:
        self.name = f"afwdask{uuid.uuid4().hex[:6]}"
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", self.name], check=True
        )
        entry = pwd.getpwnam(self.name)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        self.home = Path(tempfile.mkdtemp(prefix="afw-dask-home-"))
        os.chown(self.home, self.uid, self.gid)

    def remove(self) -> None:
        subprocess.run(["userdel", self.name], check=False, capture_output=True)
        shutil.rmtree(self.home, ignore_errors=True)


class DaskCluster:
    """One scheduler and its workers; ``address`` is what the daemon's config names."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o755)
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._logs: list[Path] = []

    # -- the scheduler ---------------------------------------------------------------------------------
    def start_scheduler(self) -> DaskCluster:
        log = self._log("scheduler")
        args = [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--dashboard-address", ":0"]
        self.scheduler = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: self._answers(), 60, what=f"dask scheduler on {self.address}")
        return self

    def stop_scheduler(self) -> None:
        if self.scheduler is not None and self.scheduler.poll() is None:
            os.killpg(self.scheduler.pid, signal.SIGKILL)
            self.scheduler.wait(timeout=30)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    # -- workers ---------------------------------------------------------------------------------------------
    def start_worker(
        self, user: ThrowawayUser | None = None, name: str | None = None, preload: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """A ``dask worker`` (with its nanny) of one thread; ``user``: run it as that user; ``preload``: its script."""
        name = name or f"w{len(self.workers)}"
        local = Path(tempfile.mkdtemp(prefix=f"afw-dask-{name}-"))
        env = dict(os.environ)
        prefix: list[str] = []
        dask = DASK
        if user is not None:
            os.chown(local, user.uid, user.gid)
            prefix = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--"]
            environment = worker_environment(Path(__file__).resolve().parents[2])
            dask = str(environment / "bin" / "dask")
            env.update(
                HOME=str(user.home),
                USER=user.name,
                LOGNAME=user.name,
                PATH=f"{environment / 'bin'}:/usr/bin:/bin",
                PYTHONPATH=str(Path(__file__).resolve().parents[2]),
            )
            env.pop("VIRTUAL_ENV", None)
        args = [
            *prefix,
            dask,
            "worker",
            self.address,
            "--nthreads",
            "1",
            "--host",
            "127.0.0.1",
            "--dashboard-address",
            ":0",
            "--local-directory",
            str(local),
            "--name",
            name,
            *(["--preload", str(preload)] if preload is not None else []),
        ]
        log = self._log(name)
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(local), start_new_session=True
        )
        self.workers.append(process)
        return process

    def wait_workers(self, count: int, timeout: float = 90) -> list[str]:
        """Wait until ``count`` workers are connected to the scheduler; their addresses."""
        from distributed import Client

        def connected() -> list[str] | None:
            try:
                with Client(self.address, timeout=5, set_as_default=False) as client:
                    workers = list(client.scheduler_info(n_workers=-1)["workers"])
            except Exception:
                return None
            return workers if len(workers) >= count else None

        return wait_for(connected, timeout, interval=1.0, what=f"{count} dask workers")

    def processes_of_workers(self) -> list[int]:
        """Every live process below the workers we started (nannies' children: workers, kernels)."""
        return [pid for worker in self.workers for pid in descendants(worker.pid)]

    def kernels(self) -> list[int]:
        """Kernel processes below the workers (spawned, or forked from a worker's template)."""
        return alive_pids(kernels_among(self.processes_of_workers()))

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process is not None and process.poll() is None:
                pids = descendants(process.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                process.wait(timeout=30)
        time.sleep(0.1)

    def log_text(self) -> str:
        return "\n".join(f"== {path.name}\n{path.read_text(errors='replace')[-4000:]}" for path in self._logs)

    def _log(self, name: str) -> object:
        path = self.folder / f"{name}-{time.monotonic_ns()}.log"
        self._logs.append(path)
        return path.open("wb")


def worker_environment(repo: Path) -> Path:
    """A Python environment another user can run: Debian's python3 with the project's dependencies.

    The test venv's interpreter may live where only root can reach it (a pyenv under /root),
    as a worker host's would not: so the other user's workers get their own environment, as a
    worker host does (``pip install "autoflow-watch[dask]"``), with the project on PYTHONPATH.
    Kept between runs under /tmp, keyed by pyproject.toml.
    """
    import fcntl
    import hashlib

    import tomllib

    pyproject = (repo / "pyproject.toml").read_bytes()
    folder = Path(tempfile.gettempdir()) / f"afw-dask-worker-env-{hashlib.sha256(pyproject).hexdigest()[:12]}"
    done = folder / ".complete"
    if done.exists():
        return folder
    with open(folder.with_name(folder.name + ".lock"), "w") as lock:  # xdist workers: one builds, the others wait
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        project = tomllib.loads(pyproject.decode())["project"]
        requirements = [*project["dependencies"], *project["optional-dependencies"]["dask"]]
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(folder)], check=True)
        subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "-q", *requirements], check=True)
        subprocess.run([str(folder / "bin" / "python"), "-m", "ipykernel", "install", "--sys-prefix"], check=True)
        os.chmod(folder, 0o755)
        done.touch()
        return folder


def use_dask(config: Path, address: str, execution: str = "", *, insecure: bool = True) -> Path:
    """Point a test project's config at the cluster (and set extra [execution] keys).

    The test cluster listens on 127.0.0.1 without TLS: ``dask_insecure = true`` says the config means it.
    """
    text = config.read_text(encoding="utf-8")
    allow = "dask_insecure = true\n" if insecure and address.startswith("tcp://") else ""
    text = text.replace(
        "[execution]\n", f'[execution]\nbackend = "dask"\ndask_scheduler = "{address}"\n{allow}{execution}\n', 1
    )
    config.write_text(text, encoding="utf-8")
    return config
