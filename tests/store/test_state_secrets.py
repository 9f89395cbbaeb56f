"""The state store's password is never printed, and need not be in the config (issue 19, item 6).

``[paths] state_password_file`` holds it, read like ``[flowdb] password_file`` and again at
each new connection (a rotated password needs no restart). A URL that still carries a
password works and warns once at start; a URL that does not parse or names a missing driver
is one line that names the fix, without the password.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from daemon_process import cli
from private_postgres import PrivatePostgres, postgres_bin
from project_files import make_project
from sqlalchemy import text

from autoflow_watch.store import Store

PASSWORD = "state-4ef98893d2a28080"  # fixed: test ids carry it, and xdist workers must collect the same ids


def with_state(project: Path, state: str, extra: str = "") -> Path:
    config = project / "autoflow.toml"
    toml = config.read_text(encoding="utf-8")
    toml = toml.replace('state = "sqlite:///var/state/autoflow.db"', f"state = {json.dumps(state)}\n{extra}")
    config.write_text(toml, encoding="utf-8")
    return config


@pytest.mark.process
@pytest.mark.parametrize(
    "state",
    [
        f"postgresql://bob:{PASSWORD}@db.example.org:notaport/autoflow",  # does not parse
        f"postgresql+nodriver://bob:{PASSWORD}@db.example.org/autoflow",  # no such driver
        f"postgresql://bob:{PASSWORD}@db@example.org/autoflow",  # an unquoted '@' in the password's place
    ],
)
def test_a_bad_state_url_is_one_line_without_its_password(tmp_path: Path, state: str) -> None:
    config = with_state(make_project(tmp_path), state)
    for command in (("status", "--json"), ("run", "--once")):
        done = cli(config, *command)
        assert done.returncode == 2, done.stderr
        assert PASSWORD not in done.stderr + done.stdout
        assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def scram_server() -> PrivatePostgres:
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed")
    server = PrivatePostgres(bin_dir, password=PASSWORD).create()
    yield server  # type: ignore[misc]
    server.destroy()


@pytest.mark.postgres
def test_state_password_file_opens_the_store_and_is_read_again_at_each_connection(
    tmp_path: Path, scram_server: PrivatePostgres
) -> None:
    password_file = tmp_path / "state-password"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    url = f"postgresql+psycopg://autoflow@/autoflow?host={scram_server.folder}"
    config = with_state(make_project(tmp_path), url, f'state_password_file = "{password_file}"')
    done = cli(config, "status", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [] and PASSWORD not in done.stderr
    assert "store.password_in_url" not in done.stderr

    store = Store(url, password_file)
    rotated = f"rotated-{secrets.token_hex(8)}"
    try:
        with store.engine.begin() as conn:
            conn.execute(text(f"ALTER ROLE autoflow PASSWORD '{rotated}'"))
        password_file.write_text(rotated + "\n", encoding="utf-8")
        store.engine.dispose()  # every new connection reads the file again
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        with store.engine.begin() as conn:
            conn.execute(text(f"ALTER ROLE autoflow PASSWORD '{PASSWORD}'"))
        store.close()
        password_file.write_text(PASSWORD + "\n", encoding="utf-8")


@pytest.mark.postgres
def test_a_state_url_with_its_password_still_works_and_warns_once_without_printing_it(
    tmp_path: Path, scram_server: PrivatePostgres
) -> None:
    url = f"postgresql+psycopg://autoflow:{PASSWORD}@/autoflow?host={scram_server.folder}"
    config = with_state(make_project(tmp_path), url)
    done = cli(config, "status", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("store.password_in_url") == 1
    assert "state_password_file" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout
