"""The FlowAPI token: where it is read from, what a bad one says, and rotation without restart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fake_flowapi import FakeFlowApi
from flowapi_helpers import Captured, MakeConfig

from autoflow_watch.config.model import FlowApiConfig
from autoflow_watch.sources.flowapi.source import FlowApiSource, FlowApiTokenError, read_token
from autoflow_watch.sources.flowapi.token import TokenCache, scrub


def config_with_file(path: Path) -> FlowApiConfig:
    return FlowApiConfig(url="https://flowapi.example.org", token_file=path)


def test_token_file_is_read_and_stripped(tmp_path: Path, fake_flowapi: FakeFlowApi) -> None:
    token = fake_flowapi.make_token()
    (tmp_path / "t").write_text(f"  {token}\n\n")

    assert read_token(config_with_file(tmp_path / "t")) == token


def test_token_env_is_read(monkeypatch: pytest.MonkeyPatch, fake_flowapi: FakeFlowApi) -> None:
    token = fake_flowapi.make_token()
    monkeypatch.setenv("FLOWAPI_TOKEN_FOR_TEST", token + "\n")

    assert read_token(FlowApiConfig(url="https://f.example.org", token_env="FLOWAPI_TOKEN_FOR_TEST")) == token


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        (b"", "is empty"),
        (b"  \n", "is empty"),
        (b"\xff\xfe\x00", "is not UTF-8 text"),
        (b"x" * 70000, "is larger than"),
        (b"not-a-jwt", "is not a valid JWT"),
        (b"eyJhbGciOiJIUzI1NiJ9.e30.c2ln eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "contains whitespace"),
    ],
)
def test_unusable_token_file_gives_one_line_naming_the_file(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "flowapi-token"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(FlowApiTokenError) as error:
        read_token(config_with_file(path))

    message = str(error.value)
    assert expected in message and str(path) in message and "\n" not in message
    if content and content.strip():
        assert content.decode("utf-8", "replace").strip() not in message


def test_token_file_that_is_a_directory_or_unreadable(tmp_path: Path) -> None:
    with pytest.raises(FlowApiTokenError, match="is a directory"):
        read_token(config_with_file(tmp_path))
    if os.geteuid() != 0:  # root reads anything
        path = tmp_path / "t"
        path.write_text("x")
        path.chmod(0)
        with pytest.raises(FlowApiTokenError, match="not readable by this user"):
            read_token(config_with_file(path))


def test_token_without_sub_claim_gives_a_clear_error_without_the_token(
    tmp_path: Path, fake_flowapi: FakeFlowApi
) -> None:
    token = fake_flowapi.make_token(sub=None, identity="someone")
    (tmp_path / "t").write_text(token)

    with pytest.raises(FlowApiTokenError) as error:
        read_token(config_with_file(tmp_path / "t"))

    assert "has no 'sub' claim" in str(error.value) and token not in str(error.value)
    assert error.value.__cause__ is None and error.value.__context__ is None  # no chained jwt error


def test_missing_or_empty_env_var_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    config = FlowApiConfig(url="https://f.example.org", token_env="FLOWAPI_TOKEN_FOR_TEST")
    monkeypatch.delenv("FLOWAPI_TOKEN_FOR_TEST", raising=False)
    with pytest.raises(FlowApiTokenError, match="environment variable FLOWAPI_TOKEN_FOR_TEST is not set"):
        read_token(config)
    monkeypatch.setenv("FLOWAPI_TOKEN_FOR_TEST", " ")
    with pytest.raises(FlowApiTokenError, match="FLOWAPI_TOKEN_FOR_TEST is empty"):
        read_token(config)


def test_token_rotation_next_poll_uses_the_new_token(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, token_file: Path, captured: Captured
) -> None:
    old = fake_flowapi.make_token(sub="old")
    new = fake_flowapi.make_token(sub="new")
    source = FlowApiSource(make_config(token=old), lambda facts: None)
    source.poll_once()
    source.poll_once()

    staged = token_file.with_name(".flowapi-token.tmp")
    staged.write_text(new)
    staged.replace(token_file)  # atomic rotation, as a credential helper would do it
    after = source.poll_once()

    assert after.ok
    assert fake_flowapi.bearers() == [old, old, new]
    assert source.token() == new
    assert [(e["event"], e["user"]) for e in captured.events if e["event"].startswith("flowapi.token.")] == [
        ("flowapi.token.loaded", "old"),
        ("flowapi.token.rotated", "new"),
    ]


def test_token_rewritten_in_place_is_picked_up(tmp_path: Path, fake_flowapi: FakeFlowApi) -> None:
    path = tmp_path / "t"
    first, second = fake_flowapi.make_token(sub="aaaa"), fake_flowapi.make_token(sub="bbbb")
    assert len(first) == len(second)
    path.write_text(first)
    cache = TokenCache(config_with_file(path))
    assert cache.current() == first

    path.write_text(second)  # same size, same inode: the mtime tells
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))

    assert cache.current() == second


def test_revoked_token_recovers_after_rotation(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, token_file: Path
) -> None:
    # signed by another FlowAuth: the server rejects its signature
    foreign = fake_flowapi.make_token(key="some-other-flowauth-instance-signing-key")
    source = FlowApiSource(make_config(token=foreign), lambda facts: None)

    refused = source.poll_once()
    token_file.write_text(fake_flowapi.make_token())
    accepted = source.poll_once()

    assert refused.failure == "unauthorized" and "Signature verification failed" in refused.message
    assert accepted.ok


def test_token_for_kernels_is_none_when_unusable(make_config: MakeConfig, token_file: Path) -> None:
    source = FlowApiSource(make_config(token=None), lambda facts: None)
    assert source.token() is None
    token_file.write_text("nonsense")
    assert source.token() is None


def test_scrub_removes_tokens_bearer_values_and_anything_jwt_like(fake_flowapi: FakeFlowApi) -> None:
    token = fake_flowapi.make_token()
    other = fake_flowapi.make_token(sub="other")
    text = f"headers={{'authorization': 'Bearer {token}'}} also {other}\nand {token[:20]}"

    cleaned = scrub(text, [token])

    assert token not in cleaned and other not in cleaned and "\n" not in cleaned
    assert "Bearer [redacted]" in cleaned
