"""Helpers of the seeded fault soak (test_fault_soak.py): the mock and the bot as real processes.

``gridtui mock-exchange --seed S --faults SPEC`` serves the venue on a free port; the bot is
``python -m gridtui --headless --venue hyperliquid --api-url URL --log-format json --config C``
with the agent key in ``GRIDTUI_HL_KEY``. Everything the test checks afterwards is read the way a
user reads it: the mock over HTTP (``userFills``, ``clearinghouseState``, ``openOrders``) and the
journals through the CLI (``gridtui fills --json``, ``status --json``, ``audit``), so the soak keeps
working while journal locations move.

The mock has no switch to turn its faults off at runtime, so every check query is retried until it
answers 200 (an injected 429/5xx is answered before the body is read: a retry is always safe).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import attrs
import httpx
from eth_account import Account

T = TypeVar("T")
D = Decimal
PY = sys.executable
BOTS = (("btc", "BTC"), ("eth", "ETH"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def key_for(seed: int) -> tuple[str, str]:
    """A fixed agent key per seed (a rerun of one seed trades the same account) and its address."""
    key = "0x" + hashlib.sha256(f"gridtui-soak-{seed}".encode()).hexdigest()
    return key, Account.from_key(key).address.lower()


def fault_spec(seed: int) -> str:
    """The soak's venue: ≥ 30 % 5xx, some 429, timeouts after accept (held 2 s, then the
    connection drops unanswered), WS drops, duplicated and reordered fills, slow acks."""
    return (
        f"seed={seed},http_5xx_rate=0.3,http_429_rate=0.05,timeout_after_accept_rate=0.02,"
        "timeout_hold_s=2,ws_drop_rate=0.001,duplicate_fill_rate=0.2,reorder_fills=true,"
        "ack_delay_s=0.02"
    )


def wait_for(
    predicate: Callable[[], T | None], timeout_s: float, what: str, step_s: float = 0.1
) -> T:
    """Poll ``predicate`` until it returns something truthy; AssertionError at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(step_s)


# ---------------------------------------------------------------------------------------- mock


@attrs.define
class Mock:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    http: httpx.Client = attrs.field(factory=lambda: httpx.Client(timeout=5))
    retries: int = 0
    """How many check queries got an injected 429/5xx (or no answer) and were asked again."""

    def info(self, body: dict[str, Any], timeout_s: float = 30.0) -> Any:
        """The mock's answer to ``body``, asked again until it answers 200."""
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            try:
                response = self.http.post(f"{self.url}/info", json=body)
            except httpx.HTTPError as exc:
                last = repr(exc)
            else:
                if response.status_code == 200:
                    return response.json()
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            self.retries += 1
            assert self.proc.poll() is None, f"the mock died (exit {self.proc.returncode})"
            time.sleep(0.05)
        raise AssertionError(f"mock never answered {body['type']} with 200 ({last})")

    def fills(self, user: str) -> list[dict[str, Any]]:
        return list(self.info({"type": "userFills", "user": user}))

    def positions(self, user: str) -> dict[str, Decimal]:
        state = self.info({"type": "clearinghouseState", "user": user})
        out = {p["position"]["coin"]: D(p["position"]["szi"]) for p in state["assetPositions"]}
        return {coin: size for coin, size in out.items() if size}

    def open_orders(self, user: str) -> list[dict[str, Any]]:
        return list(self.info({"type": "openOrders", "user": user}))

    def close(self) -> None:
        self.http.close()
        stop(self.proc)


def start_mock(tmp_path: Path, seed: int, faults: str) -> Mock:
    port = free_port()
    log_path = tmp_path / "mock.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [PY, "-m", "gridtui", "mock-exchange", "--port", str(port), "--seed", str(seed),
             "--faults", faults],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    mock = Mock(proc, f"http://127.0.0.1:{port}", log_path)

    def up() -> bool:
        assert proc.poll() is None, f"mock exited {proc.returncode}: {log_path.read_text()[-2000:]}"
        try:
            mock.http.post(f"{mock.url}/info", json={"type": "meta"})  # any status: it serves
        except httpx.TransportError:
            return False
        return True

    wait_for(up, 20, "the mock to serve")
    return mock


# ----------------------------------------------------------------------------------------- bot


def write_config(tmp_path: Path, url: str, address: str, *, dead_man_s: float = 10.0) -> Path:
    """Two small, fast grids (BTC and ETH) on the mock. Orders: BTC 0.0003 ≈ $19 at 64 000, ETH
    0.005 ≈ $15 at 3 000 (the $10 minimum holds through a 30 % move). The dead-man timeout is
    longer than the soak's downtime, so orders keep resting (and filling) while the bot is down.

    Timers stay inside Hyperliquid's per-IP budget (1200 weight a minute, which the client
    enforces on itself): a reconcile costs two bots ~90 weight (userFillsByTime and
    frontendOpenOrders weigh 20 each, and a third of them are asked twice under the soak's 5xx),
    so reconciling every 2-5 s spends the minute's budget within ~15 s and the bot then waits on
    its own rate limiter (a SIGTERM then hangs behind it). Each run starts with a full
    reconciliation anyway, and every stream reset reconciles both bots too (hence the low
    ``ws_drop_rate`` in ``fault_spec``: the mock sends dozens of WS messages a second)."""
    data = tmp_path / "data"
    text = f"""
data_dir = "{data}"
log_level = "info"

[engine]
cycle_interval_s = 0.5
reconcile_interval_s = 15.0
stream_stale_after_s = 3.0
stuck_order_after_s = 10.0
restart_backoff_s = 0.5
restart_backoff_max_s = 2.0
shutdown_deadline_s = 10.0

[circuit_breaker]
error_threshold = 8
cooldown_s = 0.5
max_cooldown_s = 2.0

[dead_man_switch]
enabled = true
timeout_s = {dead_man_s}

[venue]
kind = "hyperliquid"
network = "testnet"
api_url = "{url}"
account_address = "{address}"

[venue.paper]
state_file = "{data}/paper.db"

[grid]
levels = 5
spacing = "arithmetic"
spacing_pct = 0.05
mode = "rolling"
recenter_threshold_pct = 0.3

[risk]
max_open_orders = 20
max_orders_per_second = 20
order_burst = 40
max_drawdown = 100000
daily_loss_limit = 100000

[[bots]]
name = "btc"
coin = "BTC"
[bots.grid]
size = 0.0003
[bots.risk]
max_position = 0.05
max_notional = 5000

[[bots]]
name = "eth"
coin = "ETH"
[bots.grid]
size = 0.005
[bots.risk]
max_position = 1
max_notional = 5000
"""
    path = tmp_path / "soak.toml"
    path.write_text(text, encoding="utf-8")
    return path


def cli_args(url: str, config: Path) -> list[str]:
    return ["--venue", "hyperliquid", "--api-url", url, "--config", str(config)]


@attrs.define
class BotRun:
    """One bot process; its stderr (the JSON log) goes to a file so nothing blocks on a pipe."""

    proc: subprocess.Popen[bytes]
    stderr_path: Path
    started_ms: int
    ended_ms: int | None = None
    how: str = "running"
    stop_sent_ms: int | None = None
    """When SIGTERM was sent (a clean stop), in wall-clock ms."""

    def lines(self) -> list[str]:
        if not self.stderr_path.exists():
            return []
        return self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.lines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def tracebacks(self) -> list[str]:
        """Each raw (non-JSON) traceback in stderr, as its last line (the exception)."""
        found, inside = [], False
        for line in self.lines():
            if line.startswith("Traceback (most recent call last)"):
                inside = True
            elif (
                inside
                and line
                and not line.startswith((" ", "\t"))
                and not line.startswith(("During handling", "The above exception"))
            ):
                found.append(line.strip())
                inside = False
        return found

    def tail(self, n: int = 20) -> str:
        return "\n".join(self.lines()[-n:])


def start_bot(tmp_path: Path, url: str, config: Path, key: str, index: int) -> BotRun:
    """``GRIDTUI_SOAK_BOT_ARGS`` adds arguments for a manual diagnosis (``--log-level debug``)."""
    stderr_path = tmp_path / f"bot-run{index}.stderr"
    env = dict(os.environ, GRIDTUI_HL_KEY=key, PYTHONFAULTHANDLER="1")
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            [PY, "-m", "gridtui", "--headless", "--log-format", "json", *cli_args(url, config),
             *os.environ.get("GRIDTUI_SOAK_BOT_ARGS", "").split()],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
        )  # fmt: skip
    return BotRun(proc, stderr_path, now_ms())


def kill9(run: BotRun) -> None:
    run.proc.send_signal(signal.SIGKILL)
    run.proc.wait()
    run.ended_ms, run.how = now_ms(), "kill -9"


def sigterm(run: BotRun, timeout_s: float) -> int | None:
    """SIGTERM and wait; None (and a kill -9) when it did not exit in time."""
    run.stop_sent_ms = now_ms()
    run.proc.send_signal(signal.SIGTERM)
    try:
        code: int | None = run.proc.wait(timeout=timeout_s)
        run.how = "SIGTERM"
    except subprocess.TimeoutExpired:
        # PYTHONFAULTHANDLER: SIGABRT dumps every thread's stack into the run's stderr.
        run.proc.send_signal(signal.SIGABRT)
        try:
            run.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.proc.wait()
        code, run.how = None, "SIGTERM (hung; SIGABRT for a stack dump)"
    run.ended_ms = now_ms()
    return code


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


def now_ms() -> int:
    return int(time.time() * 1000)


# ------------------------------------------------------------------------------------ journals


def gridtui(
    tmp_path: Path, url: str, config: Path, key: str, *command: str
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GRIDTUI_HL_KEY=key)
    return subprocess.run(
        [PY, "-m", "gridtui", *cli_args(url, config), *command],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def journal_fills(tmp_path: Path, url: str, config: Path, key: str) -> list[dict[str, Any]]:
    done = gridtui(tmp_path, url, config, key, "fills", "--json")
    assert done.returncode == 0, f"gridtui fills --json exited {done.returncode}: {done.stderr}"
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def journal_positions(tmp_path: Path, url: str, config: Path, key: str) -> dict[str, Decimal]:
    done = gridtui(tmp_path, url, config, key, "status", "--json")
    assert done.returncode == 0, f"gridtui status --json exited {done.returncode}: {done.stderr}"
    out: dict[str, Decimal] = {}
    for row in json.loads(done.stdout):
        out[row["coin"]] = out.get(row["coin"], D(0)) + D(str(row["position"]))
    return {coin: size for coin, size in out.items() if size}


def audit(
    tmp_path: Path, url: str, config: Path, key: str, attempts: int = 5
) -> subprocess.CompletedProcess[str]:
    """``gridtui audit``, asked again only when the exchange could not be read (an injected
    fault outlasting the client's retries), never to hide a mismatch."""
    done = gridtui(tmp_path, url, config, key, "audit")
    for _ in range(attempts - 1):
        if "could not be read" not in done.stdout + done.stderr:
            break
        done = gridtui(tmp_path, url, config, key, "audit")
    return done


def journal_files(tmp_path: Path) -> dict[str, Path]:
    """Bot name → its journal, wherever under data/ it lives (the paper venue's file excluded)."""
    out: dict[str, Path] = {}
    for path in sorted((tmp_path / "data").glob("**/*.db")):
        if path.name == "paper.db":
            continue
        out[path.stem] = path
    return out


def sql(path: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(path)
    try:
        with con:
            return list(con.execute(query, params))
    finally:
        con.close()


def delete_newest_fill(path: Path) -> tuple[Any, ...]:
    row = sql(path, "SELECT seq, coin, trade_id FROM fills ORDER BY seq DESC LIMIT 1")[0]
    sql(path, "DELETE FROM fills WHERE seq = ?", row[0])
    return row


# ------------------------------------------------------------------------------ soak and report

MARKERS = {
    "reconciliation incomplete": "reconciliation incomplete",
    "shutdown could not confirm": "could not confirm fills and orders at shutdown",
    "bot crashed (restarted in-process)": "crashed; restarting",
    "stream reset": "stream reset",
}


def log_summary(run: BotRun) -> dict[str, int]:
    """How often each telling message appears in one run's log, plus position corrections and
    error-level records."""
    lines = run.lines()
    out = {name: sum(text in line for line in lines) for name, text in MARKERS.items()}
    events = run.events()
    out["position corrections"] = sum(
        1 for e in events if e.get("event") == "reconciled" and e.get("position_corrected")
    )
    out["error records"] = sum(1 for e in events if e.get("level") in ("error", "critical"))
    out["raw tracebacks"] = len(run.tracebacks())
    return {k: v for k, v in out.items() if v}


def adjustments(tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Each journal's reconciliation corrections (field, old, new, reason)."""
    out = {}
    for bot, path in journal_files(tmp_path).items():
        rows = sql(path, "SELECT field, old_value, new_value, reason FROM adjustments ORDER BY id")
        if rows:
            out[bot] = rows
    return out
