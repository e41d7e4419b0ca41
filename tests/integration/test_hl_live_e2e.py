"""The live venue end to end, as a user runs it: `gridtui mock-exchange` and
`gridtui --headless --venue hyperliquid --api-url ...` as two processes over real sockets."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
from config_kit import write_paper_config
from eth_account import Account


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _info(url: str, body: dict) -> object:
    return httpx.post(f"{url}/info", json=body, timeout=5).json()


def test_default_bots_trade_against_the_mock_and_leave_no_order(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    mock = subprocess.Popen(
        [sys.executable, "-m", "gridtui", "mock-exchange", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bot = None
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.post(f"{url}/info", json={"type": "meta"}, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the mock never came up"
                time.sleep(0.1)
        key = "0x" + secrets.token_hex(32)
        address = Account.from_key(key).address.lower()
        _info(url, {"type": "mockFund", "user": address, "usd": "100000"})
        write_paper_config(tmp_path / "config.toml")
        env = dict(os.environ, GRIDTUI_HL_KEY=key)
        args = ["--headless", "--venue", "hyperliquid", "--api-url", url, "--log-format", "json"]
        bot = subprocess.Popen(
            [sys.executable, "-m", "gridtui", *args, "--config", "config.toml"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert bot.stderr is not None
        events: list[dict] = []
        filled: set[str] = set()
        deadline = time.monotonic() + 60
        while filled != {"BTC", "ETH"} and time.monotonic() < deadline:
            line = bot.stderr.readline()
            if not line:
                break
            events.append(json.loads(line))
            if events[-1]["event"] == "order_filled":
                filled.add(events[-1]["coin"])
        assert filled == {"BTC", "ETH"}, events[-5:]
        resting = _info(url, {"type": "openOrders", "user": address})
        assert resting, "the grid should rest on the mock while the bots run"
        bot.send_signal(signal.SIGTERM)
        _, rest = bot.communicate(timeout=15)
        events += [json.loads(line) for line in rest.splitlines()]
        assert bot.returncode == 0
        final = events[-1]
        assert final["event"] == "shutdown_complete"
        assert (final["open_orders"], final["dead_man_disarmed"]) == (0, True)
        assert _info(url, {"type": "openOrders", "user": address}) == []
        state = _info(url, {"type": "clearinghouseState", "user": address})
        on_mock = {
            p["position"]["coin"]: Decimal(p["position"]["szi"]) for p in state["assetPositions"]
        }
        entry_on_mock = {
            p["position"]["coin"]: Decimal(p["position"]["entryPx"])
            for p in state["assetPositions"]
        }
        status = subprocess.run(
            [sys.executable, "-m", "gridtui", "--venue", "hyperliquid", "--api-url", url,
             "status", "--json", "--config", "config.toml"],
            cwd=tmp_path, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        books = {row["coin"]: Decimal(row["position"]) for row in json.loads(status.stdout)}
        assert {c: p for c, p in books.items() if p} == {c: p for c, p in on_mock.items() if p}
        entries = {row["coin"]: Decimal(row["avg_entry"]) for row in json.loads(status.stdout)}
        for coin, position in on_mock.items():
            if position:  # the mock shows entryPx rounded for display; ours is exact
                assert abs(entries[coin] - entry_on_mock[coin]) <= entry_on_mock[coin] / 10**5
        # Realized PnL: the venue's closedPnl is gross, so net of fees it must equal the books.
        fills = _info(url, {"type": "userFills", "user": address})
        venue_pnl: dict[str, Decimal] = {}
        for fill in fills:
            net = Decimal(fill["closedPnl"]) - Decimal(fill["fee"])
            venue_pnl[fill["coin"]] = venue_pnl.get(fill["coin"], Decimal(0)) + net
        rows = {row["coin"]: row for row in json.loads(status.stdout)}
        for coin, row in rows.items():
            ours = Decimal(row["all_time_realized_pnl"])
            assert abs(ours - venue_pnl.get(coin, Decimal(0))) < Decimal("0.000001"), coin
            assert row["fills"] == sum(1 for f in fills if f["coin"] == coin)
        assert key[2:] not in "".join(json.dumps(e) for e in events) + status.stdout
    finally:
        for proc in (bot, mock):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
