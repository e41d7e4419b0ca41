"""Structured logs: one parseable line per record, event fields at top level, Decimals exact."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from gridtui.core.clock import SimClock
from gridtui.core.events import (
    AlertRaised,
    BotHalted,
    EventBus,
    OrderFilled,
    OrderPlaced,
    Reconciled,
    Severity,
)
from gridtui.core.types import Side
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.logs import EventLogger, configure_logging, log_event

TS = 1_700_000_000_000


Configure = Callable[..., io.StringIO]


@pytest.fixture
def configured() -> Configure:
    def configure(fmt: str = "json", level: str = "info") -> io.StringIO:
        stream = io.StringIO()
        configure_logging(fmt=fmt, level=level, stream=stream)
        return stream

    return configure


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def order_filled() -> OrderFilled:
    return OrderFilled(
        bot="b1",
        coin="BTC",
        timestamp_ms=TS,
        trade_id=42,
        client_id="b1-3-0",
        side=Side.SELL,
        price=Decimal("64250.50"),
        size=Decimal("0.00100"),
        fee=Decimal("0.0225"),
        position=Decimal("-0.001"),
        realized_pnl=Decimal("1.10"),
    )


def test_json_event_lines_carry_event_bot_coin_and_fields(configured: Configure) -> None:
    stream = configured("json")
    bus = EventBus()
    bus.subscribe(EventLogger())
    events = [
        OrderPlaced(
            bot="b1",
            coin="BTC",
            timestamp_ms=TS,
            client_id="b1-2-0",
            exchange_id=None,
            side=Side.BUY,
            price=Decimal("64000.0"),
            size=Decimal("0.001"),
            grid_level=-2,
        ),
        order_filled(),
        BotHalted(bot="b2", coin="ETH", timestamp_ms=TS, reason="max drawdown"),
        Reconciled(
            bot="b2",
            coin="ETH",
            timestamp_ms=TS,
            missing_fills=1,
            adopted_orders=0,
            canceled_unknown=2,
            position_corrected=True,
        ),
    ]
    for event in events:
        bus.publish(event)

    lines = json_lines(stream)
    assert [line["event"] for line in lines] == [
        "order_placed",
        "order_filled",
        "bot_halted",
        "reconciled",
    ]
    placed, fill, halted, reconciled = lines
    assert (placed["bot"], placed["coin"], placed["exchange_id"]) == ("b1", "BTC", None)
    assert (placed["level"], placed["grid_level"]) == ("info", -2)
    assert placed["price"] == "64000.0"
    assert fill["side"] == "A"
    assert (fill["price"], fill["size"], fill["fee"]) == ("64250.50", "0.00100", "0.0225")
    assert fill["trade_id"] == 42 and fill["timestamp_ms"] == TS
    assert (halted["bot"], halted["coin"], halted["reason"]) == ("b2", "ETH", "max drawdown")
    assert reconciled["canceled_unknown"] == 2 and reconciled["position_corrected"] is True
    for line in lines:
        assert line["level"] == "info"
        assert line["logger"] == "gridtui.events"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])


def test_json_timestamp_is_utc_with_milliseconds(configured: Configure) -> None:
    stream = configured("json")
    record = logging.LogRecord("gridtui.x", logging.INFO, __file__, 1, "hello", None, None)
    record.created = 1_700_000_000.25  # 2023-11-14T22:13:20.250 UTC
    logging.getLogger().handle(record)
    (line,) = json_lines(stream)
    assert line["ts"] == "2023-11-14T22:13:20.250Z"


def test_plain_records_are_event_log(configured: Configure) -> None:
    stream = configured("json")
    logging.getLogger("gridtui.exchanges").warning("rate limited, backing off %ss", 2)
    (line,) = json_lines(stream)
    assert line == {
        "ts": line["ts"],
        "level": "warning",
        "logger": "gridtui.exchanges",
        "event": "log",
        "msg": "rate limited, backing off 2s",
    }


def test_alert_events_log_at_their_severity(configured: Configure) -> None:
    stream = configured("json")
    bus = EventBus()
    bus.subscribe(EventLogger())
    for severity in Severity:
        bus.publish(
            AlertRaised(
                bot="b1",
                coin="BTC",
                timestamp_ms=TS,
                severity=severity,
                kind="stuck_order",
                message="stuck",
            )
        )
    assert [(line["level"], line["severity"]) for line in json_lines(stream)] == [
        ("info", "info"),
        ("warning", "warning"),
        ("error", "critical"),
    ]


def test_alerter_alert_is_one_line_even_with_event_logger(configured: Configure) -> None:
    stream = configured("json")
    bus = EventBus()
    bus.subscribe(EventLogger())
    alerter = Alerter(bus, SimClock(start_ms=TS))
    alerter.raise_alert(
        bot="b1", coin="BTC", severity=Severity.CRITICAL, kind="position_drift", message="12%"
    )
    (line,) = json_lines(stream)
    assert line["logger"] == "gridtui.alerts"
    assert (line["event"], line["kind"], line["message"], line["level"]) == (
        "alert_raised",
        "position_drift",
        "12%",
        "error",
    )


def test_log_event_helper_and_non_json_values(configured: Configure) -> None:
    stream = configured("json")
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    log_event(
        "shutdown_complete",
        open_orders=0,
        bots=2,
        duration_s=1.25,
        pnl=Decimal("-0.10"),
        side=Side.BUY,
        at=when,
        msg="field named like a reserved key",
    )
    (line,) = json_lines(stream)
    assert line["event"] == "shutdown_complete"
    assert (line["open_orders"], line["bots"], line["duration_s"]) == (0, 2, 1.25)
    assert (line["pnl"], line["side"], line["at"]) == ("-0.10", "B", str(when))
    assert line["msg"] == "shutdown_complete"
    assert line["field_msg"] == "field named like a reserved key"


def test_exception_goes_to_error_field_traceback_only_at_debug(configured: Configure) -> None:
    log = logging.getLogger("gridtui.execution")

    def log_failure() -> None:
        try:
            raise ValueError("bad ack")
        except ValueError:
            log.exception("submit failed")

    stream = configured("json", "info")
    log_failure()
    (line,) = json_lines(stream)
    assert line["error"] == "ValueError: bad ack"
    assert line["level"] == "error"
    assert "traceback" not in line

    stream = configured("json", "debug")
    log_failure()
    (line,) = json_lines(stream)
    assert line["error"] == "ValueError: bad ack"
    assert "Traceback (most recent call last)" in line["traceback"]
    assert "raise ValueError" in line["traceback"]


def test_level_filters_records(configured: Configure) -> None:
    stream = configured("json", "WARNING")
    log = logging.getLogger("gridtui.x")
    log.info("hidden")
    log.warning("shown")
    assert [line["msg"] for line in json_lines(stream)] == ["shown"]


def test_configure_twice_still_one_line_per_record(configured: Configure) -> None:
    first = configured("json")
    second = configured("json")
    logging.getLogger("gridtui.x").info("once")
    assert first.getvalue() == ""
    assert len(json_lines(second)) == 1
    assert len(logging.getLogger().handlers) == 1


def test_text_format_event_line(configured: Configure) -> None:
    stream = configured("text")
    EventLogger()(order_filled())
    EventLogger()(BotHalted(bot="b2", coin="ETH", timestamp_ms=TS, reason="daily loss"))
    fill, halted = stream.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d info b1/BTC order_filled .+", fill)
    assert "trade_id=42" in fill and "side=A" in fill and "price=64250.50" in fill
    assert "timestamp_ms" not in fill
    assert re.fullmatch(r'\d\d:\d\d:\d\d info b2/ETH bot_halted reason="daily loss"', halted)


def test_text_format_plain_record_with_exception(configured: Configure) -> None:
    stream = configured("text")
    try:
        raise KeyError("oid")
    except KeyError:
        logging.getLogger("gridtui.state").exception("lookup failed")
    (line,) = stream.getvalue().splitlines()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d error gridtui\.state lookup failed error=\"KeyError: 'oid'\"", line
    )


@pytest.mark.parametrize(("fmt", "level"), [("xml", "info"), ("json", "loud")])
def test_bad_settings_are_rejected(fmt: str, level: str) -> None:
    with pytest.raises(ValueError, match=fmt if fmt == "xml" else level):
        configure_logging(fmt=fmt, level=level, stream=io.StringIO())


def test_http_libraries_are_quiet_unless_debugging() -> None:
    import io

    stream = io.StringIO()
    configure_logging(fmt="json", level="info", stream=stream)
    logging.getLogger("httpx").info("HTTP Request: POST /info")
    logging.getLogger("httpx").warning("server said 429")
    assert [json.loads(line)["msg"] for line in stream.getvalue().splitlines()] == [
        "server said 429"
    ]
    configure_logging(fmt="json", level="debug", stream=stream)
    logging.getLogger("httpx").info("HTTP Request: POST /exchange")
    assert "POST /exchange" in stream.getvalue()
