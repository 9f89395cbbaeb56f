"""https:// FlowAPI: the configured CA is used, and TLS failures are their own kind of error."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from fake_flowapi import FakeFlowApi
from flowapi_helpers import Captured

from autoflow_watch.config.model import FlowApiConfig
from autoflow_watch.sources.flowapi.source import FlowApiSource

pytestmark = pytest.mark.server  # a TLS FlowAPI on 127.0.0.1


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def poll(server: FakeFlowApi, tmp_path: Path, ssl_certificate: bool | Path) -> tuple[str | None, str]:
    token_file = tmp_path / "token"
    token_file.write_text(server.make_token())
    config = FlowApiConfig(url=server.url, token_file=token_file, timeout="30s", ssl_certificate=ssl_certificate)
    outcome = FlowApiSource(config, lambda facts: None).poll_once()
    return outcome.failure, outcome.message


def test_https_with_the_configured_ca_file_works(self_signed: tuple[Path, Path], tmp_path: Path) -> None:
    with FakeFlowApi({"calls": ["2026-11-24"]}, tls=self_signed) as server:
        assert server.url.startswith("https://")
        assert poll(server, tmp_path, self_signed[0]) == (None, "")


def test_unknown_ca_or_missing_ca_file_is_a_tls_error(
    self_signed: tuple[Path, Path], tmp_path: Path, captured: Captured
) -> None:
    with FakeFlowApi({"calls": ["2026-11-24"]}, tls=self_signed) as server:
        untrusted = poll(server, tmp_path, True)
        missing = poll(server, tmp_path, tmp_path / "no-such-ca.pem")
        unverified = poll(server, tmp_path, False)

    assert untrusted[0] == "tls" and "CERTIFICATE_VERIFY_FAILED" in untrusted[1]
    assert missing[0] == "tls" and "no-such-ca.pem" in missing[1]
    assert unverified == (None, "")
    assert [e["event"] for e in captured.events if e["log_level"] == "warning"] == ["flowapi.tls_unverified"]
