"""Alerter: severity picks the log level; the alert is logged with its fields and published."""

from __future__ import annotations

import logging

import pytest

from gridtui.core.clock import SimClock
from gridtui.core.events import AlertKind, AlertRaised, Event, EventBus, Severity
from gridtui.monitoring.alerting import Alerter


@pytest.fixture
def clock() -> SimClock:
    return SimClock(start_ms=1_700_000_123_456)


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (Severity.INFO, logging.INFO),
        (Severity.WARNING, logging.WARNING),
        (Severity.CRITICAL, logging.ERROR),
    ],
)
def test_severity_maps_to_log_level(
    caplog: pytest.LogCaptureFixture, clock: SimClock, severity: Severity, level: int
) -> None:
    caplog.set_level(logging.DEBUG, logger="gridtui.alerts")
    Alerter(EventBus(), clock).raise_alert(
        bot="b1", coin="BTC", severity=severity, kind="stuck_order", message="order c7 stuck 30s"
    )
    records = [r for r in caplog.records if r.name == "gridtui.alerts"]
    assert [r.levelno for r in records] == [level]
    assert "order c7 stuck 30s" in records[0].getMessage()


def test_alert_is_logged_with_fields_and_published(
    caplog: pytest.LogCaptureFixture, clock: SimClock
) -> None:
    caplog.set_level(logging.INFO, logger="gridtui.alerts")
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    clock.advance(2.5)

    event = Alerter(bus, clock).raise_alert(
        bot="b1",
        coin="ETH",
        severity=Severity.CRITICAL,
        kind=AlertKind.POSITION_DRIFT,
        message="drift 14% > 10%",
    )

    assert seen == [event]
    assert isinstance(event, AlertRaised)
    assert event.timestamp_ms == 1_700_000_125_956
    assert event.kind is AlertKind.POSITION_DRIFT and event.to_dict()["kind"] == "position_drift"
    (record,) = [r for r in caplog.records if r.name == "gridtui.alerts"]
    assert record.event_fields == {  # type: ignore[attr-defined]
        "event": "alert_raised",
        "bot": "b1",
        "coin": "ETH",
        "timestamp_ms": 1_700_000_125_956,
        "severity": "critical",
        "kind": "position_drift",
        "message": "drift 14% > 10%",
    }


def test_alert_is_logged_even_when_a_bus_handler_fails(
    caplog: pytest.LogCaptureFixture, clock: SimClock
) -> None:
    caplog.set_level(logging.INFO)
    bus = EventBus()

    def broken(event: Event) -> None:
        raise RuntimeError("display gone")

    bus.subscribe(broken)
    Alerter(bus, clock).raise_alert(
        bot="b1", coin="BTC", severity=Severity.WARNING, kind="bot_halted", message="halted"
    )
    assert [r.levelno for r in caplog.records if r.name == "gridtui.alerts"] == [logging.WARNING]
    failures = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert [str(exc) for exc in failures] == ["display gone"]
