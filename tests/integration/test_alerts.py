"""Alerts reach the trader through Apprise: here its ``json://`` service, posting to a local HTTP
receiver (a thread), as a Telegram or ntfy URL would post to its service."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import pytest
from bot_kit import COIN, ENGINE, EnvFactory, quoting, supervised
from config_kit import write_paper_config

from gridtui.cli import main
from gridtui.config.loader import ConfigError, load_config
from gridtui.config.schema import AlertSettings
from gridtui.core.clock import SimClock
from gridtui.core.events import AlertKind, BotCrashed, EventBus, OrderFilled, Severity
from gridtui.core.types import Side
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.notifier import Notice, Notifier
from gridtui.state.accounting import HaltKind

TOKEN = "s3cr3tT0kenXYZ"
"""Stands for the token part of a real service URL: it must never reach a log or the screen."""


class Receiver:
    """A local HTTP endpoint for Apprise's json:// service; ``hold`` makes it hang mid-request."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        self.hold = threading.Event()
        self.hold.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.arrived.set()
                receiver.hold.wait(20)
                receiver.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = TOKEN) -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def titles(self) -> list[str]:
        return [b["title"] for b in self.bodies]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.hold.set()
    made.server.shutdown()
    made.server.server_close()


def dead_url() -> str:
    """A json:// URL where nothing listens (a port taken and closed again)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return f"json://127.0.0.1:{port}/{TOKEN}"


def filled(bot: str, coin: str, pnl: str, position: str) -> OrderFilled:
    return OrderFilled(
        bot=bot, coin=coin, timestamp_ms=0, trade_id=1, client_id=None, side=Side.SELL,
        price=Decimal(100), size=Decimal("0.1"), fee=Decimal("0.01"),
        position=Decimal(position), realized_pnl=Decimal(pnl),
    )  # fmt: skip


async def test_every_alert_kind_and_a_crash_reach_the_receiver_once(receiver: Receiver) -> None:
    bus = EventBus()
    notifier = Notifier(AlertSettings(urls=(receiver.url(),), digest_minutes=0))
    bus.subscribe(notifier.on_event)
    alerter = Alerter(bus, SimClock(0))
    notifier.start()
    for kind in AlertKind:
        alerter.raise_alert(
            bot="btc", coin="BTC", severity=Severity.CRITICAL, kind=kind, message=f"{kind} now"
        )
    alerter.raise_alert(  # below the default min_severity (warning): not sent
        bot="btc", coin="BTC", severity=Severity.INFO, kind=AlertKind.POSITION_DRIFT, message="x"
    )
    bus.publish(BotCrashed(bot="eth", coin="ETH", timestamp_ms=0, error="boom", restart_in_s=2))
    await notifier.close(timeout_s=20)
    expected = [f"gridtui btc: {kind}" for kind in AlertKind] + ["gridtui eth: crashed"]
    assert sorted(receiver.titles()) == sorted(expected)
    crash = next(b for b in receiver.bodies if b["title"] == "gridtui eth: crashed")
    assert crash["message"] == "eth (ETH) crashed: boom; restarting in 2 s"
    assert crash["type"] == "failure"


async def test_fills_go_out_as_one_digest_per_period(receiver: Receiver) -> None:
    notifier = Notifier(AlertSettings(urls=(receiver.url(),), digest_minutes=0.002))  # 0.12 s
    notifier.start()
    for pnl in ("1.004", "-0.5", "0.25"):
        notifier.on_event(filled("btc", "BTC", pnl, "-0.3"))
    notifier.on_event(filled("eth", "ETH", "0.1", "0.020"))
    for _ in range(500):
        if receiver.bodies:
            break
        await asyncio.sleep(0.01)
    await notifier.close(timeout_s=10)
    (digest,) = receiver.bodies  # one message for four fills of two bots
    assert digest["title"] == "gridtui: fills, last 0.002 min"
    assert digest["message"].splitlines() == [
        "btc (BTC): 3 fills, PnL +0.75 USD, position -0.3",
        "eth (ETH): 1 fills, PnL +0.10 USD, position 0.02",
    ]


async def test_a_hanging_receiver_never_holds_the_engine_up(receiver: Receiver) -> None:
    """The bus handler only queues and the send runs in a thread: while the receiver sits on a
    request, the event loop goes on (an engine cycle would run), and the alert still arrives."""
    bus = EventBus()
    notifier = Notifier(AlertSettings(urls=(receiver.url(),), digest_minutes=0))
    bus.subscribe(notifier.on_event)
    notifier.start()
    receiver.hold.clear()
    Alerter(bus, SimClock(0)).raise_alert(
        bot="btc", coin="BTC", severity=Severity.CRITICAL, kind=AlertKind.BOT_HALTED, message="x"
    )
    loop_turns = 0
    while not receiver.arrived.is_set():  # the request is in flight...
        await asyncio.sleep(0.005)
    for _ in range(50):  # ...and the loop keeps turning meanwhile
        await asyncio.sleep(0)
        loop_turns += 1
    assert loop_turns == 50 and receiver.bodies == []
    receiver.hold.set()
    await notifier.close(timeout_s=20)
    assert receiver.titles() == ["gridtui btc: bot_halted"]


async def test_a_dead_url_is_retried_then_dropped_and_its_token_is_never_logged(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dead = dead_url()
    notifier = Notifier(
        AlertSettings(urls=(dead, receiver.url("ok")), digest_minutes=0, max_attempts=3),
        retry_base_s=0.01,
    )
    notifier.start()
    notifier.notify(Notice("gridtui btc: bot_halted", "halted", Severity.CRITICAL))
    await notifier.close(timeout_s=20)
    assert receiver.titles() == ["gridtui btc: bot_halted"]  # the live URL did not wait
    dropped = [r.getMessage() for r in caplog.records if "dropped after" in r.getMessage()]
    assert dropped == ["alert to #1 json://… dropped after 3 tries: gridtui btc: bot_halted"]
    assert TOKEN not in caplog.text


async def test_a_failing_sender_is_retried_with_backoff_until_it_goes_through() -> None:
    tries: list[str] = []

    async def flaky(url: str, notice: Notice) -> bool:
        tries.append(url)
        if len(tries) == 2:
            raise OSError("network down")
        return len(tries) >= 3

    notifier = Notifier(
        AlertSettings(urls=("json://x",), digest_minutes=0), send=flaky, retry_base_s=0.001
    )
    notifier.start()
    notifier.notify(Notice("t", "b", Severity.WARNING))
    await notifier.close(timeout_s=5)
    assert tries == ["json://x"] * 3


def _alert_config(tmp_path: Path, urls: str, extra: str = "") -> Path:
    path = write_paper_config(tmp_path / "config.toml")
    path.write_text(path.read_text() + f"\n[alerts]\nurls = {urls}\n{extra}")
    return path


def test_urls_take_tokens_from_the_environment_and_never_show_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GT_TOKEN", TOKEN)
    config = load_config(
        _alert_config(tmp_path, '["json://127.0.0.1:9/${GT_TOKEN}"]', 'min_severity = "critical"')
    )
    assert config.alerts.urls == (f"json://127.0.0.1:9/{TOKEN}",)
    assert config.alerts.min_severity is Severity.CRITICAL
    assert TOKEN not in repr(config)


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        ('["json://h/${GT_NOT_SET}"]', "alerts.urls: [0] uses ${GT_NOT_SET}, which is not set"),
        (f'["ntfy://ntfy.sh/ok", "nosuch://{TOKEN}"]', "alerts.urls: [1] (nosuch://…) is not a"),
        ('"ntfy://ntfy.sh/x"', "alerts.urls: must be an array of Apprise URLs"),
    ],
)
def test_a_bad_alert_url_is_one_line_without_its_token(
    tmp_path: Path, urls: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_alert_config(tmp_path, urls))
    assert expected in str(info.value) and TOKEN not in str(info.value)


def test_alerts_test_says_which_url_took_the_message(
    tmp_path: Path, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _alert_config(tmp_path, f'["{receiver.url()}", "{dead_url()}"]')
    assert main(["alerts", "test", "--config", str(config)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "#1 json://…: sent",
        "#2 json://…: FAILED",
        "1 of 2 alert URLs took the test message",
    ]
    assert receiver.titles() == ["gridtui: test alert"]
    assert TOKEN not in out + err


def test_alerts_test_without_urls_says_how_to_add_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_paper_config(tmp_path / "config.toml")
    assert main(["alerts", "test", "--config", str(config)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("gridtui: no alert URLs in ") and "[alerts] urls = " in line


async def test_the_supervisor_sends_halts_and_the_orders_a_stop_left(
    make_env: EnvFactory, receiver: Receiver
) -> None:
    env = make_env(engine=attrs.evolve(ENGINE, shutdown_deadline_s=0.5))
    alerts = AlertSettings(urls=(receiver.url(),), digest_minutes=0)
    env.config = attrs.evolve(env.config, alerts=alerts)
    supervisor = supervised(env)
    await supervisor.start()
    await quoting(supervisor, COIN)
    (bot,) = supervisor.bots
    await bot.halt("a trader's halt: news to nobody")  # info: not sent at min_severity warning
    await bot.halt("drawdown test", kind=HaltKind.DRAWDOWN)  # the engine's: critical
    await bot.resume()
    await quoting(supervisor, COIN)
    supervisor.exchange.fail_next(10_000, "HTTP 500", calls={"cancel_by_client_ids"})  # type: ignore[attr-defined]
    report = await supervisor.stop()
    assert report.open_orders == 6
    assert receiver.titles() == ["gridtui b1: bot_halted", "gridtui: stopped with orders left"]
    left = receiver.bodies[1]["message"]
    assert left.startswith("6 orders left open on the exchange; ")
    assert left.endswith("dead-man switch left armed: the exchange cancels them when it expires")
