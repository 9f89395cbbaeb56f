"""The seal holds for an ordinary user too: its own files and processes outside the seal are out of reach.

Root is the case the other tests run; here the kernel runs as ``nobody`` (Debian's own
``/usr/bin/python3``), and every target belongs to ``nobody``, so plain Unix permissions would
allow each access: only Landlock stands in the way. With Landlock reported absent, each works.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoflow_watch.sandbox import landlock, seal

LAUNCHER = str(Path(seal.__file__).with_name("launcher.py"))
PROBE = """
import json, os, sys
target = json.loads(sys.argv[1])
seen = {}
def attempt(name, action):
    try:
        action()
        seen[name] = "ok"
    except PermissionError:
        seen[name] = "blocked"
attempt("read its own user's file", lambda: open(target["file"]).read())
attempt("signal its own user's process", lambda: os.kill(target["pid"], 0))
attempt("read that process's environ", lambda: open("/proc/%d/environ" % target["pid"], "rb").read())
print(json.dumps(seen))
"""

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(os.geteuid() != 0, reason="switching to nobody needs root"),
    pytest.mark.skipif(shutil.which("setpriv") is None or not Path("/usr/bin/python3").exists(), reason="setpriv"),
    pytest.mark.skipif(landlock.host_abi() < 6, reason="pins what Landlock ABI 6+ enforces"),
]


@pytest.fixture
def nobody_folder() -> Iterator[tuple[Path, int, int]]:
    user = pwd.getpwnam("nobody")
    folder = Path(tempfile.mkdtemp(prefix="afw-seal-nobody-"))
    os.chmod(folder, 0o755)
    os.chown(folder, user.pw_uid, user.pw_gid)
    try:
        yield folder, user.pw_uid, user.pw_gid
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def as_nobody(uid: int, gid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]


@pytest.mark.parametrize("abi", ["", "0"], ids=["sealed", "no-landlock"])
def test_a_sealed_kernel_of_a_normal_user_cannot_reach_that_users_other_files_and_processes(nobody_folder, abi):
    folder, uid, gid = nobody_folder
    secret = folder / "secret.txt"
    secret.write_text("nobody's")
    probe = folder / "probe.py"
    probe.write_text(PROBE)
    policy = folder / "policy.json"
    policy.write_text(json.dumps({"read": [str(probe)]}))
    for path in (secret, probe, policy):
        os.chown(path, uid, gid)
    sleeper = subprocess.Popen([*as_nobody(uid, gid), "sleep", "120"])
    try:
        target = json.dumps({"file": str(secret), "pid": sleeper.pid})
        env = {**os.environ, landlock.ABI_ENV: abi} if abi else dict(os.environ)
        command = ["/usr/bin/python3", LAUNCHER, str(policy), "--", "/usr/bin/python3", str(probe), target]
        done = subprocess.run([*as_nobody(uid, gid), *command], capture_output=True, text=True, timeout=60, env=env)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert done.returncode == 0, done.stderr
    expected = "blocked" if not abi else "ok"
    assert json.loads(done.stdout) == dict.fromkeys(
        ["read its own user's file", "signal its own user's process", "read that process's environ"], expected
    )
