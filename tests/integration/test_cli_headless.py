"""`gridtui --headless` as a user runs it: a real process, real signals, JSON logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from config_kit import write_paper_config

REQUIRED_EVENTS = {"order_placed", "order_filled", "order_canceled", "shutdown_complete"}


def _start(workdir: Path, *extra: str) -> subprocess.Popen[str]:
    write_paper_config(workdir / "config.toml")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gridtui",
            "--headless",
            "--config",
            "config.toml",
            "--log-format",
            "json",
            *extra,
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_fills(proc: subprocess.Popen[str], lines: list[dict], limit_s: float) -> float:
    """Read JSON log lines until both bots' first fills or the limit; returns seconds taken."""
    started = time.monotonic()
    assert proc.stderr is not None
    filled_bots: set[str] = set()
    while time.monotonic() - started < limit_s:
        raw = proc.stderr.readline()
        if not raw:
            break
        record = json.loads(raw)
        lines.append(record)
        if record["event"] == "order_filled":
            filled_bots.add(record["bot"])
            if len(filled_bots) == 2:
                return time.monotonic() - started
    pytest.fail(f"no fills from both bots within {limit_s}s: {lines[-5:]}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_headless_fills_then_stops_cleanly_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    proc = _start(tmp_path)
    lines: list[dict] = []
    try:
        _wait_for_fills(proc, lines, limit_s=60)
        sent = time.monotonic()
        proc.send_signal(sig)
        _, rest = proc.communicate(timeout=10)
        stop_s = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    lines += [json.loads(line) for line in rest.splitlines()]
    assert proc.returncode == 0
    assert stop_s < 10
    events = {line["event"] for line in lines}
    assert REQUIRED_EVENTS <= events
    engine_lines = [line for line in lines if line["event"] not in ("log", "shutdown_complete")]
    assert all(line.get("bot") and line.get("coin") for line in engine_lines)
    assert {line["coin"] for line in engine_lines} == {"BTC", "ETH"}
    final = lines[-1]
    assert final["event"] == "shutdown_complete"
    assert final["open_orders"] == 0
    assert final["dead_man_disarmed"] is True


def test_metrics_port_serves_prometheus_text(tmp_path: Path) -> None:
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _start(tmp_path, "--metrics-port", str(port))
    try:
        _wait_for_fills(proc, [], limit_s=60)
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert 'gridtui_fills_total{bot="btc",coin="BTC"}' in body
    assert "gridtui_order_latency_seconds_bucket" in body
    assert proc.returncode == 0


def test_journal_survives_and_books_agree_after_run(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    try:
        _wait_for_fills(proc, [], limit_s=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    env = dict(os.environ)
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "gridtui", *a], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    status = run("status", "--json")
    assert status.returncode == 0, status.stderr
    rows = {row["bot"]: row for row in json.loads(status.stdout)}
    assert set(rows) == {"btc", "eth"}
    assert all(row["fills"] >= 1 and row["open_orders"] == 0 for row in rows.values())
    fills = run("fills", "--json", "--bot", "btc")
    fill_rows = [json.loads(line) for line in fills.stdout.splitlines()]
    assert len(fill_rows) == rows["btc"]["fills"]
    assert {r["bot"] for r in fill_rows} == {"btc"}
    audit = run("audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "audit OK" in audit.stdout
