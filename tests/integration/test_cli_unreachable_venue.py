"""A venue that never answers, as a trader meets it from the shell: ``--api-url
http://127.0.0.1:1`` (connection refused). The bots wait and say so (log, ``gridtui status`` in
another shell), never a traceback; a stop gives the venue a last look, and a second Ctrl-C while
it does says what the stop waits for instead of abandoning it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from config_kit import status_table
from soak_kit import key_for, write_config

UNREACHABLE = "http://127.0.0.1:1"
pytestmark = pytest.mark.slow  # ~25 s: the client's own retries, then the stop's last look


def _records(lines: list[str]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a line that is not a JSON log record: {line!r}")
    return out


def test_an_unreachable_venue_waits_shows_why_and_stops_with_one_line_each(
    tmp_path: Path,
) -> None:
    key, address = key_for(0)
    config = write_config(tmp_path, UNREACHABLE, address)
    env = dict(os.environ, GRIDTUI_HL_KEY=key)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridtui", "--headless", "--log-format", "json",
         "--config", str(config), "--api-url", UNREACHABLE],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while not any("waiting for exchange" in line for line in lines):
            assert time.monotonic() < deadline, lines[-5:]
            line = proc.stderr.readline()
            assert line, f"exited {proc.wait()}: {lines[-5:]}"
            lines.append(line)
        status = subprocess.run(
            [sys.executable, "-m", "gridtui", "status", "--config", str(config)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        rows = {line.split()[0]: line for line in status_table(status.stdout)}
        assert set(rows) == {"btc", "eth"}, status.stdout
        for row in rows.values():
            assert "waiting for exchange: " in row and ", retry in " in row, row

        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 10
        while not any("checking once more" in line for line in lines):
            assert time.monotonic() < deadline, lines[-5:]
            lines.append(proc.stderr.readline())
        proc.send_signal(signal.SIGINT)  # impatient: the stop goes on, and says on what
        _, rest = proc.communicate(timeout=30)
        lines += rest.splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not any("Traceback" in line for line in lines)
    records = _records([line for line in lines if line.strip()])
    second = [r for r in records if "still stopping, waiting for" in r.get("msg", "")]
    assert len(second) == 1 and second[0]["msg"].startswith("SIGINT: still stopping")
    final = records[-1]
    assert final["event"] == "shutdown_complete" and final["open_orders"] == -1, final
    assert proc.returncode == 1  # the venue never confirmed that nothing rests
