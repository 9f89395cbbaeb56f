"""A PostgreSQL server of a test's own, so the test may stop and restart it (a real outage)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """initdb + pg_ctl on a unix socket in a temporary folder; run as ``postgres`` when we are root.

    With ``password``, every connection must authenticate (scram-sha-256), the superuser
    ``autoflow`` with that password; without, the cluster trusts local connections.
    """

    def __init__(self, bin_dir: Path, password: str | None = None) -> None:
        self.bin = bin_dir
        self.password = password
        self.folder = Path(tempfile.mkdtemp(prefix="afw-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self.data = self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://autoflow@/autoflow?host={self.folder}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        env = {**os.environ, "PGPASSWORD": self.password} if self.password else None
        subprocess.run(command, check=True, capture_output=True, timeout=60, env=env)

    def create(self) -> PrivatePostgres:
        if self.password:
            pwfile = self.folder / "pwfile"
            pwfile.write_text(self.password + "\n")
            if os.geteuid() == 0:
                shutil.chown(pwfile, "postgres")
            self._run("initdb", "-D", str(self.data), "-U", "autoflow", "--auth=scram-sha-256", f"--pwfile={pwfile}")
            pwfile.unlink()
        else:
            self._run("initdb", "-D", str(self.data), "-U", "autoflow", "--auth=trust")
        self.start()
        self._run("createdb", "-h", str(self.folder), "-U", "autoflow", "autoflow")
        return self

    def start(self, socket_dir: Path | None = None) -> None:
        """Start listening on the usual socket, or on ``socket_dir`` (where no client looks for it)."""
        options = f"-k {socket_dir or self.folder} -c listen_addresses='' -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-o", options, "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
