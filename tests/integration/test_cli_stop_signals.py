"""Headless start-up and stop as a trader meets them: a signal at any moment (start-up included)
stops cleanly, SIGHUP (a closed terminal) too, and a second process on the same data directory is
refused with one line naming the first one's PID."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from config_kit import write_paper_config


def _start(workdir: Path) -> subprocess.Popen[str]:
    write_paper_config(workdir / "config.toml")
    return subprocess.Popen(
        [sys.executable, "-m", "gridtui", "--headless", "--config", "config.toml",
         "--log-format", "json"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _events(stderr: str) -> list[dict]:
    out = []
    for line in stderr.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a line that is not a JSON log record: {line!r}")
    return out


def _wait_for(proc: subprocess.Popen[str], event: str, limit_s: float = 30) -> list[dict]:
    assert proc.stderr is not None
    seen: list[dict] = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        raw = proc.stderr.readline()
        if not raw:
            break
        seen.append(json.loads(raw))
        if seen[-1]["event"] == event:
            return seen
    pytest.fail(f"no {event} within {limit_s}s: {seen[-5:]}")


def _wait_until_stop_signals_are_held(pid: int) -> None:
    """gridtui's entry point holds the stop signals first thing; before that the interpreter is
    still starting (a signal then ends it with CPython's own message, before any gridtui code)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        blocked = int(
            next(line for line in status.splitlines() if line.startswith("SigBlk:"))[7:], 16
        )
        if blocked & (1 << (signal.SIGINT - 1)):
            return
        time.sleep(0.001)
    pytest.fail("the stop signals were never held")


@pytest.mark.parametrize("delay_s", [0.0, 0.3, 0.8])
def test_sigint_during_start_up_stops_cleanly(tmp_path: Path, delay_s: float) -> None:
    proc = _start(tmp_path)
    _wait_until_stop_signals_are_held(proc.pid)
    time.sleep(delay_s)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    # From the entry point on, a signal is held until the clean stop can handle it (or, for a
    # run that never got as far as starting bots, ends it with 130). Never a traceback.
    assert "Traceback" not in err
    if proc.returncode == 130:
        return
    events = _events(err)
    assert proc.returncode == 0, events[-5:]
    assert events[-1]["event"] == "shutdown_complete"
    assert events[-1]["open_orders"] == 0


def test_sighup_stops_cleanly(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    try:
        _wait_for(proc, "order_placed")
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    final = _events(err)[-1]
    assert proc.returncode == 0
    assert final["event"] == "shutdown_complete" and final["open_orders"] == 0
    assert final["dead_man_disarmed"] is True


def test_a_second_process_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    first = _start(tmp_path)
    try:
        _wait_for(first, "order_placed")
        second = subprocess.run(
            [sys.executable, "-m", "gridtui", "--headless", "--config", "config.toml"],
            cwd=tmp_path, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert second.returncode != 0
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"pid {first.pid}" in lines[0] and "data" in lines[0]
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=20)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0
    assert _events(err)[-1]["open_orders"] == 0
