"""A project for sandbox tests: a hostile notebook, a victim running beside it, a later notebook looking for traces."""

from __future__ import annotations

import json
import socket
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import nbformat
from hostile_cells import HOSTILE, LATER, VICTIM
from notebooks import write_notebook
from project_files import PATHS_TOML

DATE = "2026-11-24"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SealedProject:
    """Paths of a sandbox test project and the secrets a notebook must not reach."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "autoflow.toml"

    @property
    def granted(self) -> Path:
        return self.root / "granted"

    @property
    def daemon_home(self) -> Path:
        return self.root / "daemon-home"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials"

    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.daemon_home),
            "CREDENTIALS_DIRECTORY": str(self.credentials),
            "PGPASSFILE": str(self.root / "pgpass"),
        }

    def marker(self, dataset: str) -> None:
        inbox = self.root / "var" / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        (inbox / f"{dataset}_{DATE}.ready").touch()

    def run_folder(self, workflow: str) -> Path | None:
        folders = sorted((self.root / "var" / "work" / workflow / DATE).glob("*/"))
        folders = [f for f in folders if f.is_dir()]
        return folders[-1] if folders else None

    def printed(self, workflow: str, notebook: str, prefix: str) -> dict | None:
        """The JSON a notebook printed after ``prefix``: from its executed copy's outputs, or its kernel's log."""
        folder = self.run_folder(workflow)
        if folder is None:
            return None
        lines: list[str] = []
        log = folder / f"{notebook}.kernel.log"
        if log.exists():
            lines += log.read_text(encoding="utf-8", errors="replace").splitlines()
        executed = folder / f"{notebook}.ipynb"
        if executed.exists():
            try:
                nb = nbformat.read(str(executed), as_version=4)
            except Exception:
                nb = None
            for cell in nb.cells if nb else []:
                for output in cell.get("outputs", []):
                    lines += str(output.get("text", "")).splitlines()
        for line in lines:
            if line.startswith(prefix + " "):
                return json.loads(line[len(prefix) + 1 :])
        return None


def make_sealed_project(root: Path, sandbox: str, flowapi_url: str, token: str, metrics_port: int) -> SealedProject:
    project = SealedProject(root)
    for folder in (project.granted, project.daemon_home, project.credentials):
        folder.mkdir(parents=True, exist_ok=True)
    (project.daemon_home / "secret.txt").write_text("the daemon user's secret")
    (project.credentials / "flowdb-password").write_text("s3cret")
    (root / "pgpass").write_text("*:*:*:*:s3cret\n")
    (root / "token").write_text(token)
    (root / "notify-urls").write_text("json://127.0.0.1:9/never\n")
    targets = 'targets = ""'
    write_notebook(root / "notebooks" / "hostile.ipynb", targets, HOSTILE)
    write_notebook(root / "notebooks" / "victim.ipynb", targets, VICTIM)
    write_notebook(root / "notebooks" / "later.ipynb", targets, LATER)
    workflows = "".join(
        f"""
[[workflow]]
name = "{name}"
datasets = ["{name}"]
parameters = {{ targets = "{project.granted / "targets.json"}" }}
read_paths = ["granted"]
  [[workflow.notebook]]
  name = "{name}"
  path = "{name}.ipynb"
"""
        for name in ("victim", "hostile", "later")
    )
    project.config.write_text(
        f"""
{PATHS_TOML}

[execution]
sandbox = "{sandbox}"
max_parallel_runs = 2
warm_kernels = 1
cell_timeout = "120s"
run_timeout = "5m"
max_attempts = 1
shutdown_grace = "5s"

[inbox]
settle = "0.2s"
rescan_interval = "2s"

[flowapi]
url = "{flowapi_url}"
token_file = "token"
poll_interval = "1h"

[notify]
urls_file = "notify-urls"

[metrics]
listen = "127.0.0.1:{metrics_port}"
{workflows}""",
        encoding="utf-8",
    )
    return project


def targets(
    project: SealedProject, daemon_pid: int, victim: dict, postgres_port: int, flowapi_port: int, really_signal: bool
) -> dict:
    """What the hostile notebook attacks, as seen from outside: paths, pids, ports, the victim's sockets."""
    connection = json.loads(Path(victim["connection_file"]).read_text())
    base = connection["ip"]
    shell = f"{base}-{connection['shell_port']}"
    with open(f"/proc/{victim['pid']}/stat", encoding="ascii") as handle:
        worker_pid = int(handle.read().rsplit(")", 1)[1].split()[1])
    run = project.run_folder("victim")
    return {
        "really_signal": really_signal,
        "store": str(project.root / "var" / "state" / "autoflow.db"),
        "state_folder": str(project.root / "var" / "state"),
        "inbox": str(project.root / "var" / "inbox"),
        "outbox": str(project.root / "var" / "outbox"),
        "other_run": str(run),
        "notebooks": str(project.root / "notebooks"),
        "daemon_home": str(project.daemon_home),
        "daemon_home_secret": str(project.daemon_home / "secret.txt"),
        "config": str(project.config),
        "token_file": str(project.root / "token"),
        "urls_file": str(project.root / "notify-urls"),
        "pgpassfile": str(project.root / "pgpass"),
        "credentials": str(project.credentials),
        "credentials_secret": str(project.credentials / "flowdb-password"),
        "other_connection_file": victim["connection_file"],
        "other_shell_address": "\0" + shell[1:] if shell.startswith("@") else shell,
        "other_iopub_url": f"{connection['transport']}://{base}-{connection['iopub_port']}",
        "daemon_pid": daemon_pid,
        "worker_pid": worker_pid,
        "other_kernel_pid": victim["pid"],
        "metrics_port": int(project.config.read_text().split("127.0.0.1:")[1].split('"')[0]),
        "postgres_port": postgres_port,
        "flowapi_port": flowapi_port,
        "site_packages": sysconfig.get_paths()["purelib"],
    }
