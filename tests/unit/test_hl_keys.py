"""Agent key loading: environment first, else a 0600 key file; errors never echo the key."""

from __future__ import annotations

import logging
import os
import traceback
from pathlib import Path

import pytest
from eth_account import Account

from gridtui.exchanges.hyperliquid.keys import ENV_VAR, KeyLoadError, load_agent_key

KEY = "0x" + "3c" * 32
ADDRESS = Account.from_key(KEY).address.lower()


def key_file(tmp_path: Path, content: str, mode: int) -> Path:
    path = tmp_path / "agent.key"
    path.write_text(content)
    os.chmod(path, mode)
    return path


def error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    other = key_file(tmp_path, "0x" + "11" * 32, 0o600)
    signer = load_agent_key(env={ENV_VAR: KEY}, key_file=other)
    assert signer.address == ADDRESS


def test_a_0600_key_file_is_read_with_or_without_prefix_and_newline(tmp_path: Path) -> None:
    path = key_file(tmp_path, KEY[2:] + "\n", 0o600)
    assert load_agent_key(env={}, key_file=path).address == ADDRESS
    path.write_text(KEY)
    assert load_agent_key(env={ENV_VAR: "  "}, key_file=path).address == ADDRESS


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700 | 0o004])
def test_a_wider_mode_is_refused_with_the_chmod_hint(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path, KEY, mode)
    with pytest.raises(KeyLoadError) as raised:
        load_agent_key(env={}, key_file=path)
    message = str(raised.value)
    assert f"chmod 600 {path}" in message and "\n" not in message
    assert KEY[2:] not in error_text(raised.value)


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.key"
    with pytest.raises(KeyLoadError, match=r"nope\.key does not exist"):
        load_agent_key(env={}, key_file=path)


@pytest.mark.parametrize(
    "content",
    [
        "not a key at all, but secret-ish words",
        KEY[:-2],
        "0x" + "ff" * 32,  # 64 hex digits but above the curve order: not a valid key
    ],
)
def test_bad_contents_name_the_file_and_never_echo_them(tmp_path: Path, content: str) -> None:
    path = key_file(tmp_path, content, 0o600)
    with pytest.raises(KeyLoadError) as raised:
        load_agent_key(env={}, key_file=path)
    text = error_text(raised.value)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)
    assert content not in text and content.removeprefix("0x") not in text


def test_binary_contents_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "agent.key"
    path.write_bytes(b"\xff\xfe" + b"\x00" * 30)
    os.chmod(path, 0o600)
    with pytest.raises(KeyLoadError, match=r"agent\.key"):
        load_agent_key(env={}, key_file=path)


def test_a_bad_environment_key_is_refused_without_echo(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = KEY[:-1] + "g"
    with pytest.raises(KeyLoadError, match=ENV_VAR) as raised:
        load_agent_key(env={ENV_VAR: bad}, key_file=None)
    assert bad[2:] not in error_text(raised.value) and bad[2:] not in caplog.text


def test_no_source_says_where_to_put_the_key() -> None:
    with pytest.raises(KeyLoadError, match=f"set {ENV_VAR}"):
        load_agent_key(env={}, key_file=None)


def test_the_loaded_signer_never_shows_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = key_file(tmp_path, KEY, 0o600)
    signer = load_agent_key(env={}, key_file=path)
    shown = [repr(signer), str(signer), f"{signer}", caplog.text]
    assert ADDRESS in shown[0]
    assert all(KEY[2:] not in s and KEY[2:].upper() not in s for s in shown)
