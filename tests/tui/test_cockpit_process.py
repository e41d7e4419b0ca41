"""The cockpit as a process in a terminal (issue 8 items 3 and 7): a crash exits 1 with one line
and the log's path, SIGTERM and a closed terminal (SIGHUP) stop the bots with no order left.

The terminal is a pseudo-terminal (or a tmux session, whose kill is a real hangup: SIGHUP then
SIGCONT); the market is the tests' own paper config, run at its normal speed.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from config_kit import write_paper_config

from gridtui.exchanges.sim.exchange import SimExchange

pytestmark = pytest.mark.slow  # real cockpit processes on a pty, ~5 s each

TIMEOUT_S = 60.0
ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]")
ALT_SCREEN_OFF = b"\x1b[?1049l"

CRASHING_COCKPIT = """\
import sys

from gridtui.tui.app import GridApp

refresh = GridApp.refresh_views


def crash_once_trading(self):
    refresh(self)
    if any(v.open_orders for v in self.engine.views()):
        raise RuntimeError("injected crash in a refresh\\nwith a second line")


GridApp.refresh_views = crash_once_trading
from gridtui.__main__ import entry

sys.argv = ["gridtui", "--config", sys.argv[1]]
sys.exit(entry())
"""
"""The real entry point with one bug planted: the panels' refresh raises once orders rest."""


class Terminal:
    """A process on a pseudo-terminal of 120x40, with everything it writes kept."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        import fcntl
        import struct
        import termios

        self._master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.output = b""

    def pump(self, until: Callable[[], bool], what: str) -> None:
        """Read what the process writes (a full pty would block it) until ``until()``."""
        deadline = time.monotonic() + TIMEOUT_S
        while not until():
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"timed out waiting for {what}; output tail: {self.tail()!r}")
            ready, _, _ = select.select([self._master], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self._master, 65536)
                except OSError:  # the process closed its end: wait for it to exit
                    time.sleep(0.05)

    def wait(self) -> int:
        self.pump(lambda: self.proc.poll() is not None, "the process to exit")
        # What it wrote last may still be in the pty: read to the end (EIO once drained).
        while select.select([self._master], [], [], 1.0)[0]:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.output += chunk
        os.close(self._master)
        return self.proc.returncode

    def tail(self) -> bytes:
        """What was written after the app left the alternate screen, escapes removed."""
        return ANSI.sub(b"", self.output.rsplit(ALT_SCREEN_OFF, 1)[-1]).replace(b"\r", b"")


def _paper_orders(config: Path) -> int:
    state = config.parent / "data" / "paper.db"
    try:
        return len(SimExchange.open_readonly(state).open_orders)
    except Exception:  # not written yet
        return 0


def _status_open_orders(config: Path) -> list[int]:
    out = subprocess.run(
        [sys.executable, "-m", "gridtui", "status", "--config", str(config), "--json"],
        capture_output=True, text=True, check=True, timeout=TIMEOUT_S, cwd=config.parent,
    ).stdout  # fmt: skip
    return [row["open_orders"] for row in json.loads(out)]


def _log_tail(config: Path, lines: int = 4) -> str:
    return "\n".join((config.parent / "data" / "gridtui.log").read_text().splitlines()[-lines:])


def test_a_crash_exits_1_with_one_line_and_stops_the_bots(tmp_path: Path) -> None:
    config = write_paper_config(tmp_path / "config.toml")
    script = tmp_path / "crashing_cockpit.py"
    script.write_text(CRASHING_COCKPIT)
    term = Terminal([sys.executable, str(script), str(config)], tmp_path)
    code = term.wait()

    log_path = config.parent / "data" / "gridtui.log"
    lines = term.tail().decode().strip().splitlines()
    assert code == 1, term.tail()
    assert lines == [
        "gridtui: the cockpit stopped on an error (RuntimeError: injected crash in a refresh "
        f"with a second line); bots stopped, no order left open; details in {log_path}"
    ]
    assert b"Traceback" not in term.output
    log = log_path.read_text()
    assert "Traceback (most recent call last)" in log and "crash_once_trading" in log
    assert "shutdown_complete open_orders=0" in _log_tail(config)
    assert _paper_orders(config) == 0
    assert _status_open_orders(config) == [0, 0]


def test_sigterm_stops_the_bots_cleanly_and_exits_0(tmp_path: Path) -> None:
    config = write_paper_config(tmp_path / "config.toml")
    term = Terminal([sys.executable, "-m", "gridtui", "--config", str(config)], tmp_path)
    term.pump(lambda: _paper_orders(config) > 0, "orders on the paper venue")
    term.proc.send_signal(signal.SIGTERM)
    code = term.wait()

    assert code == 0, term.tail()
    assert term.tail().decode().strip().startswith("gridtui: stopped 2 bots; 0 orders left open")
    assert _paper_orders(config) == 0
    assert _status_open_orders(config) == [0, 0]
    tail = _log_tail(config, 1000)
    assert "SIGTERM: stopping every bot cleanly" in tail
    assert "shutdown_complete open_orders=0 bots=2 dead_man_disarmed=True" in tail.splitlines()[-1]


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_closing_the_terminal_stops_the_bots_cleanly(tmp_path: Path) -> None:
    """``tmux kill-session``: the terminal hangs up, the kernel sends SIGHUP and SIGCONT."""
    config = write_paper_config(tmp_path / "config.toml")
    tmux = ["tmux", "-L", f"gridtui-test-{os.getpid()}", "-f", os.devnull]
    command = f"exec {sys.executable} -m gridtui --config {config}"
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "120", "-y", "40", "-s", "cockpit", command],
        check=True, cwd=tmp_path, timeout=TIMEOUT_S,
    )  # fmt: skip
    pid = int(
        subprocess.run(
            [*tmux, "list-panes", "-t", "cockpit", "-F", "#{pane_pid}"],
            capture_output=True, text=True, check=True, timeout=TIMEOUT_S,
        ).stdout.strip()
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while _paper_orders(config) == 0:
            assert time.monotonic() < deadline, "no order placed"
            assert _alive(pid), "the cockpit died"
            time.sleep(0.2)
        subprocess.run([*tmux, "kill-session", "-t", "cockpit"], check=True, timeout=TIMEOUT_S)
        while _alive(pid):
            assert time.monotonic() < deadline + TIMEOUT_S, "the cockpit did not exit"
            time.sleep(0.1)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=TIMEOUT_S)
        if _alive(pid):  # failed: leave no cockpit behind
            os.kill(pid, signal.SIGKILL)

    assert _paper_orders(config) == 0
    assert _status_open_orders(config) == [0, 0]
    tail = _log_tail(config, 1000)
    assert "SIGHUP: stopping every bot cleanly" in tail
    assert "shutdown_complete open_orders=0 bots=2 dead_man_disarmed=True" in tail.splitlines()[-1]
