"""A throw-away file system root laid out the way docs/operations.md installs the service.

``systemd-analyze verify --root=ROOT`` then checks the units exactly as shipped: their
``ExecStart`` binary, the units they depend on, and (when we may run sysusers and tmpfiles,
i.e. as root) the users, groups and folders they name all exist inside ROOT, not on the test
machine. So a warning can only come from the units themselves.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "systemd"
UNITS = ("autoflow-watch.service", "autoflow-watch@.service")
INSTANCE = "second"
HOST_UNIT_DIR = Path("/usr/lib/systemd/system")  # sysinit.target, network-online.target, ...


def require_tool(name: str) -> str:
    """The tool's path; scripts/test.sh installs it, so there a missing tool fails the test."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: install Debian's systemd package (scripts/test.sh does)"
        if os.environ.get("AUTOFLOW_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(*args: str | Path) -> tuple[int, str]:
    """Exit code and everything the command printed, stdout and stderr together."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    return result.returncode, (result.stdout + result.stderr).strip()


def instance_tmpfiles(name: str) -> str:
    return (SYSTEMD / "autoflow-watch@.tmpfiles.conf").read_text(encoding="utf-8").replace("@INSTANCE@", name)


def build_root(root: Path, *, system_setup: bool) -> Path:
    """Install the units, a stand-in binary, the config and token files into ``root``.

    ``system_setup`` also runs systemd-sysusers and systemd-tmpfiles in it (they chown, so
    only as root); their output must be empty but for sysusers' "Creating ..." lines.
    """
    etc = root / "etc"
    for folder in ("systemd/system", "sysusers.d", "tmpfiles.d", "autoflow-watch"):
        (etc / folder).mkdir(parents=True, exist_ok=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/lib/systemd").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")  # merged /usr, as on Debian
    (root / "lib").symlink_to("usr/lib")
    shutil.copytree(HOST_UNIT_DIR, root / "usr/lib/systemd/system", symlinks=True)
    shutil.copy2(os.path.realpath("/bin/kill"), root / "usr/bin/kill")  # ExecReload's binary
    stub = root / "opt/autoflow-watch/bin/autoflow-watch"  # the venv's console script
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    for unit in UNITS:
        shutil.copy2(SYSTEMD / unit, etc / "systemd/system" / unit)
    shutil.copy2(SYSTEMD / "autoflow-watch.sysusers.conf", etc / "sysusers.d/autoflow-watch.conf")
    shutil.copy2(SYSTEMD / "autoflow-watch.tmpfiles.conf", etc / "tmpfiles.d/autoflow-watch.conf")
    (etc / f"tmpfiles.d/autoflow-watch-{INSTANCE}.conf").write_text(instance_tmpfiles(INSTANCE))
    for name in ("autoflow.toml", f"{INSTANCE}.toml"):
        (etc / "autoflow-watch" / name).write_text("# stand-in\n")
    for name in ("flowapi-token", f"{INSTANCE}.flowapi-token"):
        token = etc / "autoflow-watch" / name
        token.write_text("stand-in-token\n")
        token.chmod(0o600)
    if system_setup:
        code, output = run(require_tool("systemd-sysusers"), f"--root={root}")
        unexpected = [line for line in output.splitlines() if not line.startswith("Creating ")]
        assert code == 0 and not unexpected, output
        code, output = run(require_tool("systemd-tmpfiles"), f"--root={root}", "--create")
        assert code == 0 and not output, output
    return root


def man_option() -> str:
    """Check Documentation= man pages only where man and systemd's pages are installed.

    Debian's slim images drop /usr/share/man; a warning there would be about the machine.
    """
    man = shutil.which("man")
    if man and subprocess.run([man, "-w", "systemd.exec"], capture_output=True).returncode == 0:
        return "--man=yes"
    return "--man=no"


def verify(root: Path, unit: str) -> tuple[int, str]:
    """``systemd-analyze verify`` of ``unit`` as installed in ``root``."""
    return run(require_tool("systemd-analyze"), "verify", f"--root={root}", man_option(), unit)


def directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of every setting of a unit file, in order; comments dropped."""
    section, found = "", []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if re.fullmatch(r"\[[A-Za-z]+\]", line):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def values(unit_text: str, key: str, instance: str = "") -> list[str]:
    """Every space-separated value of ``key``, with ``%i`` filled in."""
    return [
        word.replace("%i", instance)
        for _section, name, value in directives(unit_text)
        if name == key
        for word in value.split()
    ]
