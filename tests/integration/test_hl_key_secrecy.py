"""Issue 4, point 6: the agent key never reaches the journals, the ``status`` / ``fills`` /
``audit`` / ``check-config`` output, nor a key error (the cockpit: tests/tui/
test_cockpit_key_secrecy.py).

Each test draws a fresh random key, runs the live venue (``venue.kind = "hyperliquid"``) against an
in-process Hyperliquid mock on an ephemeral port, and searches every text it can capture for the key
in every form a careless line could print it: 0x-prefixed, bare hex in either case, base64, base32,
the integer, the bytes' repr — and any 16-hex-digit run of it, which catches a truncated key too.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

import pytest
from config_kit import write_paper_config
from hl_secrecy_kit import (
    assert_no_key,
    debug_log,
    fresh_key,
    live_config,
    live_mock,
    wait_until,
)

from gridtui import cli
from gridtui.exchanges.hyperliquid.keys import ENV_VAR, KeyLoadError, load_agent_key
from gridtui.supervisor import Supervisor

__all__ = ["debug_log"]  # a fixture: imported to be found by pytest


async def _gridtui(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """``python -m gridtui ARGS`` as a user runs it, without blocking the mock's event loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gridtui",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_status_fills_audit_and_check_config_never_print_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, debug_log: io.StringIO
) -> None:
    key = fresh_key()
    monkeypatch.setenv(ENV_VAR, key)
    async with live_mock(key) as venue:
        config = live_config(tmp_path, venue.url, venue.address)
        supervisor = Supervisor(config)  # journals to report on: the bots trade a while
        await supervisor.start()
        try:

            async def filled() -> bool:
                return sum(b.c.state.get_snapshot().fill_count for b in supervisor.bots) > 0

            await wait_until(filled, "a fill on the mock", timeout_s=30)
        finally:
            report = await supervisor.stop()
        assert report.open_orders == 0

        env = dict(os.environ)
        assert env[ENV_VAR] == key
        venue_flags = ("--venue", "hyperliquid", "--api-url", venue.url)
        runs = {
            "status": ("status",),
            "status --json": ("status", "--json"),
            "fills --json": ("fills", "--json"),
            "audit": ("audit",),
            "check-config": ("check-config", "config.toml"),
        }
        results = await asyncio.gather(
            *(_gridtui(tmp_path, env, *venue_flags, *args) for args in runs.values())
        )
    outputs = dict(zip(runs, results, strict=True))
    for name, (code, out, err) in outputs.items():
        assert code == 0, f"gridtui {name}: {out} {err}"
        assert_no_key(key, **{f"{name} stdout": out, f"{name} stderr": err})
    assert '"fills"' in outputs["status --json"][1]
    assert '"trade_id"' in outputs["fills --json"][1]  # at least one fill was exported
    assert outputs["audit"][1].startswith("audit OK"), outputs["audit"]
    assert "hyperliquid testnet venue" in outputs["check-config"][1]
    assert_no_key(key, debug_log=debug_log.getvalue())


GARBAGE = {
    "a key with one digit changed to g": lambda key: key[:-1] + "g",
    "the key twice": lambda key: key + key[2:],
    "the key with a comment": lambda key: f"# my agent key\n{key}\nexpires never\n",
    "the key and a stray byte": lambda key: key + "\u00e9",
}


def _key_file(tmp_path: Path, contents: str, mode: int) -> Path:
    path = tmp_path / "agent.key"
    path.write_bytes(contents.encode("utf-8"))
    path.chmod(mode)
    return path


def _run_headless_with_key_file(
    tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """``gridtui --headless`` on the live venue with ``venue.key_file`` set and no env key:
    the key is refused before anything starts, as one line on stderr."""
    venue = {"kind": "hyperliquid", "key_file": str(key_file), "account_address": "0x" + "ab" * 20}
    write_paper_config(tmp_path / "config.toml", venue=venue)
    code = cli.main(
        ["--config", str(tmp_path / "config.toml"), "--headless", "--api-url", "http://127.0.0.1:9"]
    )
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_key_file_open_to_others_is_refused_without_quoting_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    debug_log: io.StringIO,
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    key = fresh_key()
    path = _key_file(tmp_path, key + "\n", 0o644)
    with pytest.raises(KeyLoadError) as raised:
        load_agent_key(env={}, key_file=path)
    assert f"chmod 600 {path}" in str(raised.value)
    code, output = _run_headless_with_key_file(tmp_path, path, capsys)
    assert code == 2
    assert output.count("\n") == 1 and f"chmod 600 {path}" in output
    assert_no_key(key, error=str(raised.value), cli_output=output, debug_log=debug_log.getvalue())


@pytest.mark.parametrize("garbage", list(GARBAGE), ids=list(GARBAGE))
def test_a_key_file_with_garbage_is_refused_without_quoting_it(
    garbage: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    debug_log: io.StringIO,
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    key = fresh_key()
    path = _key_file(tmp_path, GARBAGE[garbage](key), 0o600)
    with pytest.raises(KeyLoadError) as raised:
        load_agent_key(env={}, key_file=path)
    error = raised.value
    chain = [str(e) for e in (error.__cause__, error.__context__) if e is not None]
    code, output = _run_headless_with_key_file(tmp_path, path, capsys)
    assert code == 2
    assert output.count("\n") == 1 and str(path) in output
    assert_no_key(
        key,
        error=str(error),
        chained_errors="\n".join(chain),
        cli_output=output,
        debug_log=debug_log.getvalue(),
    )


@pytest.mark.parametrize("garbage", list(GARBAGE), ids=list(GARBAGE))
def test_garbage_in_the_environment_is_refused_without_quoting_it(
    garbage: str, debug_log: io.StringIO
) -> None:
    key = fresh_key()
    with pytest.raises(KeyLoadError) as raised:
        load_agent_key(env={ENV_VAR: GARBAGE[garbage](key)})
    error = raised.value
    assert ENV_VAR in str(error)
    chain = [str(e) for e in (error.__cause__, error.__context__) if e is not None]
    assert_no_key(
        key,
        error=str(error),
        chained_errors="\n".join(chain),
        debug_log=debug_log.getvalue(),
    )
