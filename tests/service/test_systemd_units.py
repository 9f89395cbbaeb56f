"""The shipped systemd units verify without a single warning, and agree with their companions.

``systemd-analyze verify`` exits 0 even for an unknown key (it only warns), so every test
here asserts that it printed *nothing*; the broken-unit tests prove that a warning is caught.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from systemd_root import INSTANCE, REPO, SYSTEMD, build_root, directives, verify
from systemd_root import values as unit_values

from autoflow_watch.config.model import AppConfig

pytestmark = pytest.mark.process  # systemd-analyze, systemd-sysusers, systemd-tmpfiles

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

AS_ROOT = os.geteuid() == 0
MAIN = "autoflow-watch.service"
TEMPLATE = "autoflow-watch@.service"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One installed root for the module: as root, with users and folders made by sysusers/tmpfiles."""
    return build_root(tmp_path_factory.mktemp("root"), system_setup=AS_ROOT)


def unit_text(name: str) -> str:
    return (SYSTEMD / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("unit", [MAIN, f"autoflow-watch@{INSTANCE}.service"])
def test_the_units_verify_without_any_warning(root: Path, unit: str) -> None:
    code, output = verify(root, unit)
    assert (code, output) == (0, ""), f"systemd-analyze verify {unit}:\n{output}"


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (("Restart=always", "Restrat=always"), "Unknown key"),
        (("WatchdogSec=60s", "WatchdogSec=sixty"), "Failed to parse sec value"),
        (("ProtectSystem=strict", "ProtectSystem=strickt"), "Failed to parse protect system value"),
        (("bin/autoflow-watch run", "bin/autoflow-wacth run"), "is not executable"),
    ],
    ids=["misspelt-key", "bad-duration", "bad-value", "missing-binary"],
)
def test_a_broken_unit_fails_the_check(root: Path, breakage: tuple[str, str], expected: str) -> None:
    old, new = breakage
    text = unit_text(MAIN)
    assert old in text
    broken = root / "etc/systemd/system/autoflow-watch-broken.service"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    try:
        _code, output = verify(root, broken.name)
    finally:
        broken.unlink()
    assert output, "a warning must show up (verify exits 0 on an unknown key)"
    assert expected in output, output


def test_sysusers_and_tmpfiles_make_the_users_and_folders_the_units_expect(root: Path) -> None:
    if not AS_ROOT:
        pytest.skip("systemd-sysusers and systemd-tmpfiles chown: only as root")
    users = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    groups = {line.split(":")[0]: line.split(":") for line in (root / "etc/group").read_text().splitlines()}
    assert users["autoflow"][5] == "/var/lib/autoflow-watch/home"
    assert "autoflow" in groups["autoflow-inbox"][3].split(","), "the service reads the pipeline's markers"
    uid, gid = int(users["autoflow"][2]), {name: int(fields[2]) for name, fields in groups.items()}
    expected = {
        "inbox": (0o2770, "autoflow-inbox"),
        "outbox": (0o2750, "reports"),
        "work": (0o0750, "autoflow"),
        "state": (0o0700, "autoflow"),
    }
    for base in ("var/lib/autoflow-watch", f"var/lib/autoflow-watch-{INSTANCE}"):
        for folder, (mode, group) in expected.items():
            info = (root / base / folder).stat()
            assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (mode, uid, gid[group]), f"{base}/{folder}"


@pytest.mark.parametrize(("unit", "instance"), [(MAIN, ""), (TEMPLATE, INSTANCE)])
def test_every_writable_path_of_the_sandbox_is_created_by_tmpfiles(root: Path, unit: str, instance: str) -> None:
    """A ReadWritePaths= folder that does not exist fails the start with 226/NAMESPACE."""
    if not AS_ROOT:
        pytest.skip("the folders are made by systemd-tmpfiles: only as root")
    paths = unit_values(unit_text(unit), "ReadWritePaths", instance)
    assert paths
    missing = [p for p in paths if not (root / p.lstrip("-/")).is_dir()]
    assert missing == []


def test_the_template_is_the_main_unit_but_for_the_lines_naming_the_instance() -> None:
    """Two copies of one sandbox drift apart; this keeps them one."""
    instance_lines = {"Description", "ExecStart", "LoadCredential", "ReadWritePaths"}
    main = [d for d in directives(unit_text(MAIN)) if d[1] not in instance_lines]
    template = [d for d in directives(unit_text(TEMPLATE)) if d[1] not in instance_lines]
    assert template == main
    text = unit_text(TEMPLATE)
    assert unit_values(text, "ExecStart", INSTANCE)[-1] == f"/etc/autoflow-watch/{INSTANCE}.toml"
    credential = f"flowapi-token:/etc/autoflow-watch/{INSTANCE}.flowapi-token"
    assert unit_values(text, "LoadCredential", INSTANCE) == [credential]


def guide_config() -> dict:
    """The /etc/autoflow-watch/autoflow.toml example of docs/operations.md."""
    guide = (REPO / "docs/operations.md").read_text(encoding="utf-8")
    block = guide.split("```toml\n", 1)[1].split("```", 1)[0]
    return tomllib.loads(block)


def test_the_guide_config_names_the_folders_and_credential_of_the_unit() -> None:
    config, text = guide_config(), unit_text(MAIN)
    AppConfig.model_validate(config)  # every key of the example exists, every value has its type
    writable = unit_values(text, "ReadWritePaths")
    paths = config["paths"]
    for key in ("inbox", "outbox", "work"):
        assert paths[key] in writable, key
    state_file = Path(paths["state"].removeprefix("sqlite:///"))  # sqlite:////var/... is absolute
    assert state_file.is_absolute()
    assert str(state_file.parent) in writable, "the SQLite store, its WAL and lock are writable"
    credential_id = unit_values(text, "LoadCredential")[0].split(":")[0]
    assert config["flowapi"]["token_file"] == f"/run/credentials/{MAIN}/{credential_id}"
    assert not Path(paths["notebooks"]).is_relative_to("/home"), "ProtectHome=yes hides /home"
