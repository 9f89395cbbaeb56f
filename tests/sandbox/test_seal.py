"""The Landlock binding and seal(), each in a child process (a seal cannot be undone), on this machine's kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoflow_watch.sandbox import landlock, seal

LAUNCHER = str(Path(seal.__file__).with_name("launcher.py"))
PROBE = """
import json, os, socket, sys
seen = {}
for name, path in json.loads(sys.argv[1]).items():
    try:
        if name.startswith("write"):
            open(path, "w").close()
        elif os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").close()
        seen[name] = "ok"
    except PermissionError:
        seen[name] = "blocked"
try:
    os.kill(os.getppid(), 0)
    seen["signal parent"] = "ok"
except PermissionError:
    seen["signal parent"] = "blocked"
seen["report"] = json.loads(os.environ["AUTOFLOW_WATCH_SANDBOX"])
print(json.dumps(seen))
"""

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(landlock.host_abi() < 6, reason="this test pins what Landlock ABI 6+ enforces"),
]


def sealed_probe(
    tmp_path: Path, policy: dict, paths: dict, python: str = sys.executable, env: dict | None = None
) -> dict:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    policy = {**policy, "read": [*policy.get("read", ()), str(probe)]}
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(policy))
    done = subprocess.run(
        [python, LAUNCHER, str(policy_file), "--", python, str(probe), json.dumps(paths)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    assert not policy_file.exists(), "the launcher removes its policy file"
    return json.loads(done.stdout)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("granted/inner", "granted/secret", "other", "writable"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "granted" / "inner" / "a.txt").write_text("a")
    (tmp_path / "granted" / "secret" / "s.txt").write_text("s")
    (tmp_path / "other" / "o.txt").write_text("o")
    return tmp_path


def test_the_host_offers_landlock_and_tests_can_lower_it(monkeypatch):
    assert landlock.abi() >= 6
    monkeypatch.setenv(landlock.ABI_ENV, "0")
    assert landlock.abi() == 0


def test_a_seal_grants_what_the_policy_lists_and_carves_out_denied_folders(tree):
    policy = {
        "read": [str(tree / "granted")],
        "write": [str(tree / "writable")],
        "deny": [str(tree / "granted" / "secret")],
    }
    seen = sealed_probe(
        tree,
        policy,
        {
            "read granted": str(tree / "granted" / "inner" / "a.txt"),
            "read denied inside granted": str(tree / "granted" / "secret" / "s.txt"),
            "read other": str(tree / "other" / "o.txt"),
            "write writable": str(tree / "writable" / "w.txt"),
            "write granted (read-only)": str(tree / "granted" / "inner" / "w.txt"),
            "read own proc": "/proc/self/status",
            "read parent's environ": f"/proc/{os.getpid()}/environ",
            "read /etc/shadow": "/etc/shadow",
        },
    )
    assert seen.pop("report") == {"abi": landlock.abi(), "files": True, "tcp": True, "scopes": True}
    assert seen == {
        "read granted": "ok",
        "read denied inside granted": "blocked",
        "read other": "blocked",
        "write writable": "ok",
        "write granted (read-only)": "blocked",
        "read own proc": "ok",
        "read parent's environ": "blocked",
        "read /etc/shadow": "blocked",
        "signal parent": "blocked",
    }


def test_a_host_without_landlock_seals_nothing_and_says_so(tree):
    seen = sealed_probe(tree, {}, {"read other": str(tree / "other" / "o.txt")}, env={landlock.ABI_ENV: "0"})
    assert seen == {
        "read other": "ok",
        "signal parent": "ok",
        "report": {"abi": 0, "files": False, "tcp": False, "scopes": False},
    }


def test_an_older_abi_enforces_files_but_not_signals(tree):
    seen = sealed_probe(tree, {}, {"read other": str(tree / "other" / "o.txt")}, env={landlock.ABI_ENV: "2"})
    assert seen == {
        "read other": "blocked",
        "signal parent": "ok",
        "report": {"abi": 2, "files": True, "tcp": False, "scopes": False},
    }


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs a second interpreter")
def test_the_launcher_runs_under_an_interpreter_without_autoflow_watch(tree):
    """A kernelspec's interpreter from another environment: -I (isolated), nothing of ours importable."""
    check = subprocess.run(["/usr/bin/python3", "-I", "-c", "import autoflow_watch"], capture_output=True)
    assert check.returncode != 0
    seen = sealed_probe(tree, {}, {"read other": str(tree / "other" / "o.txt")}, python="/usr/bin/python3")
    assert seen["read other"] == "blocked" and seen["report"]["files"]


def test_a_granted_folder_inside_a_denied_one_is_granted(tree):
    """A Dask task's folder lies in the worker's forbidden scratch space: the policy's own grant wins there."""
    policy = {"write": [str(tree / "granted" / "inner")], "deny": [str(tree / "granted")]}
    seen = sealed_probe(
        tree,
        policy,
        {
            "read granted inside denied": str(tree / "granted" / "inner" / "a.txt"),
            "read its denied sibling": str(tree / "granted" / "secret" / "s.txt"),
        },
    )
    assert seen["read granted inside denied"] == "ok" and seen["read its denied sibling"] == "blocked"
