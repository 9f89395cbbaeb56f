"""`validate` checks [notify] and [metrics]: URLs parse, one of urls/urls_file, listen is host:port."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemon_process import cli
from project_files import write_config

pytestmark = pytest.mark.process  # validate runs as the CLI


def validate(project: Path, section: str) -> tuple[int, str]:
    config = write_config(project, extra=section)
    result = cli(config, "validate")
    return result.returncode, result.stderr


def test_good_notify_and_metrics_sections_validate(project: Path) -> None:
    (project / "urls").write_text("mailtos://me:Pa55-secret-word@example.org\njson://127.0.0.1:9/hook\n")
    code, err = validate(project, '[notify]\nurls_file = "urls"\non = ["dead"]\n[metrics]\nlisten = "127.0.0.1:9464"\n')
    assert (code, err) == (0, "")


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            '[notify]\nurls = ["json://127.0.0.1:9/ok", "mailto://user:Pa55-secret-word@"]\n',
            "notify.urls[1]: Apprise cannot use this mailto:// URL",
        ),
        ('[notify]\nurls_file = "missing-urls"\n', "notify.urls_file: cannot read"),
        (
            '[notify]\nurls = ["json://127.0.0.1:9/ok"]\nurls_file = "u"\n',
            "notify: set exactly one of urls or urls_file",
        ),
        ('[notify]\nurls = ["json://127.0.0.1:9/ok"]\non = ["sometimes"]\n', "notify.on[0]: Input should be"),
        ('[metrics]\nlisten = "9464"\n', 'metrics.listen: expected "host:port"'),
    ],
)
def test_bad_sections_are_one_line_errors_naming_the_key(project: Path, section: str, expected: str) -> None:
    code, err = validate(project, section)
    assert code == 2
    [line] = err.splitlines()
    assert expected in line and "autoflow.toml" in line
    assert "Pa55-secret-word" not in err, "a URL's password is never shown"


def test_a_bad_url_in_the_secret_file_is_named_by_line(project: Path) -> None:
    (project / "urls").write_text("json://127.0.0.1:9/hook\n\nnosuch://user:Pa55-secret-word@host\n")
    code, err = validate(project, '[notify]\nurls_file = "urls"\n')
    assert code == 2
    assert "notify.urls_file line 3: Apprise cannot use this nosuch:// URL" in err
    assert "Pa55-secret-word" not in err
