"""Bad command-line input and unusable files: one line naming the place and the fix, a non-zero
exit, never a traceback or a hang (issue 8, failure 9)."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridtui.cli import EXIT_BROKEN_PIPE, main
from gridtui.config.loader import MAX_CONFIG_BYTES, ConfigError, load_config
from gridtui.config.starter import write_starter
from gridtui.monitoring.metrics import Metrics, MetricsPortError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    target = tmp_path / "config.toml"
    write_starter(target)
    return target


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def run_gridtui(
    args: list[str], *, limit_memory: bool = False, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """``python -m gridtui ARGS`` in a fresh interpreter, killed after 20 s (a hang fails)."""

    def cap_memory() -> None:
        # A read of /dev/zero must fail the test, not exhaust the shared machine's memory.
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "gridtui", *args],
        cwd=REPO,
        text=True,
        timeout=20,
        preexec_fn=cap_memory if limit_memory else None,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("unbuffered", [True, False], ids=["unbuffered", "buffered"])
@pytest.mark.parametrize("args", [["fills"], ["status"], ["--help"]])
def test_closed_stdout_pipe_exits_quietly_with_the_sigpipe_code(
    config_file: Path, args: list[str], unbuffered: bool
) -> None:
    """``gridtui fills | head -0``: the reader is gone before anything is written. Deterministic:
    the read end is closed before the child starts, so every write fails with EPIPE: at once
    when unbuffered, at the final flush (interpreter shutdown) when buffered."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = run_gridtui(
            ["--config", str(config_file), *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == EXIT_BROKEN_PIPE == 141


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--metrics-port", "-1", "--headless"], "argument --metrics-port: must be a TCP port"),
        (["--metrics-port", "99999", "--headless"], "argument --metrics-port: must be a TCP port"),
        (["--metrics-port", "x", "--headless"], "argument --metrics-port: must be a TCP port"),
        (["mock-exchange", "--port", "70000"], "argument --port: must be a TCP port"),
        (["--api-url", "notaurl", "status"], "argument --api-url: must be an http:// or https://"),
        (["--api-url", "http://", "status"], "argument --api-url: must be an http:// or https://"),
        (["--api-url", "http://h:99999", "status"], "argument --api-url: must be an http://"),
        (["--venue", "binance"], "argument --venue: invalid choice: 'binance'"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(
    config_file: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--config", str(config_file), *args])
    assert caught.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("gridtui") and expected in line, line
    assert "--help" in line


def test_good_api_url_is_accepted(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config_file), "--api-url", "http://127.0.0.1:3001", "status"]) == 0


def test_metrics_port_in_use_is_a_metrics_port_error(busy_port: int) -> None:
    with pytest.raises(MetricsPortError) as caught:
        Metrics().serve(busy_port)
    message = str(caught.value)
    assert f"127.0.0.1:{busy_port}" in message and "in use" in message
    assert "--metrics-port" in message


def test_metrics_port_error_reaches_the_user_as_one_line(
    config_file: Path,
    busy_port: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The headless runner lets serve()'s error out; the CLI prints it as one line."""
    import gridtui.headless

    async def fake_run_headless(config: object, *, metrics_port: int | None = None) -> int:
        assert metrics_port is not None
        Metrics().serve(metrics_port)
        return 0

    monkeypatch.setattr(gridtui.headless, "run_headless", fake_run_headless)
    code = main(["--config", str(config_file), "--headless", "--metrics-port", str(busy_port)])
    assert code == 2
    assert "in use" in one_line(capsys.readouterr().err)


def test_mock_exchange_on_a_port_in_use(busy_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mock-exchange", "--port", str(busy_port)]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"127.0.0.1:{busy_port}" in line and "in use" in line and "--port" in line


@pytest.mark.parametrize("device", ["/dev/zero", "fifo"])
def test_check_config_refuses_devices_and_pipes_without_reading(
    tmp_path: Path, device: str
) -> None:
    if device == "fifo":
        device = str(tmp_path / "config.toml")
        os.mkfifo(device)
    result = run_gridtui(["check-config", device], limit_memory=True, capture_output=True)
    assert result.returncode == 1
    assert one_line(result.stderr) == (
        f"{device}: not a regular file (expected the path of a .toml config file)"
    )


def test_config_larger_than_any_config_is_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge.toml"
    with huge.open("wb") as out:
        out.truncate(MAX_CONFIG_BYTES + 1)
    with pytest.raises(ConfigError) as caught:
        load_config(huge)
    assert str(caught.value) == (
        f"{huge}: {MAX_CONFIG_BYTES + 1} bytes is too large for a config file "
        f"(limit {MAX_CONFIG_BYTES}; expected the path of a .toml config file)"
    )


def test_check_config_on_a_folder_or_binary_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(tmp_path)]) == 1
    assert "is a folder, not a file" in one_line(capsys.readouterr().err)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert main(["check-config", str(binary)]) == 1
    assert "not UTF-8 text" in one_line(capsys.readouterr().err)


def test_unreadable_config(
    config_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """chmod 000 cannot stop root (the CI user), so the open itself is made to fail."""
    real_open = Path.open

    def deny(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if self == config_file:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", deny)
    assert main(["check-config", str(config_file)]) == 1
    assert one_line(capsys.readouterr().err) == (
        f"{config_file}: permission denied (make the file readable by this user, e.g. chmod u+r)"
    )


@pytest.mark.parametrize("where", ["proc", "under_a_file", "folder"])
def test_init_where_nothing_can_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    if where == "proc":
        target = Path("/proc/x.toml")
    elif where == "under_a_file":
        (tmp_path / "plain").write_text("")
        target = tmp_path / "plain" / "x.toml"
    else:
        target = tmp_path
    assert main(["init", str(target)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"gridtui: {target}: "), line
    assert "choose" in line, line
