"""DeadManSwitch against a recording fake exchange: arm, extend, survive refusal, disarm."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gridtui.config.schema import DeadManSettings
from gridtui.core.clock import SimClock
from gridtui.core.events import AlertKind, AlertRaised, Event, EventBus
from gridtui.core.types import ExchangeError
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics
from gridtui.risk.dead_man_switch import DeadManSwitch

START_MS = 5_000_000


class RecordingExchange:
    """Records every schedule_cancel call; raises the queued errors first."""

    venue = "fake"

    def __init__(self) -> None:
        self.calls: list[int | None] = []
        self.errors: list[ExchangeError] = []
        self.gate: asyncio.Event | None = None

    async def schedule_cancel(self, at_ms: int | None) -> None:
        gate, self.gate = self.gate, None
        if gate is not None:
            await gate.wait()
        if self.errors:
            raise self.errors.pop(0)
        self.calls.append(at_ms)


def make(enabled: bool = True) -> tuple[DeadManSwitch, RecordingExchange, SimClock]:
    clock = SimClock(start_ms=START_MS)
    exchange = RecordingExchange()
    settings = DeadManSettings(enabled=enabled, timeout_s=60.0)
    return (
        DeadManSwitch(exchange, settings, clock, Alerter(EventBus(), clock), Metrics()),
        exchange,
        clock,
    )


async def test_refresh_schedules_now_plus_timeout_and_extends() -> None:
    switch, exchange, clock = make()
    assert not switch.armed
    assert await switch.refresh("b1", "ETH")
    assert exchange.calls == [START_MS + 60_000]
    assert switch.armed
    assert switch.expires_at_ms == START_MS + 60_000
    assert switch.last_refresh_ms == START_MS
    clock.advance(1.5)
    await switch.refresh("b1", "ETH")
    assert exchange.calls[-1] == START_MS + 61_500
    assert switch.expires_at_ms == START_MS + 61_500
    assert switch.refresh_count == 2
    assert switch.healthy


async def test_switch_reports_unarmed_once_the_deadline_passes() -> None:
    switch, _, clock = make()
    await switch.refresh("b1", "ETH")
    clock.advance(59.999)
    assert switch.armed
    clock.advance(0.001)
    assert not switch.armed


async def test_a_refused_refresh_is_logged_counted_and_survivable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    switch, exchange, clock = make()
    await switch.refresh("b1", "ETH")
    exchange.errors.append(ExchangeError("Cannot set scheduled cancel time until enough volume"))
    clock.advance(1)
    with caplog.at_level(logging.WARNING, logger="gridtui.risk.dead_man_switch"):
        assert not await switch.refresh("b1", "ETH")
    assert switch.failures == 1
    assert switch.last_error is not None and "enough volume" in switch.last_error
    assert not switch.healthy
    assert switch.expires_at_ms == START_MS + 60_000  # the earlier deadline still stands
    assert switch.refresh_count == 1
    assert any("enough volume" in r.getMessage() for r in caplog.records)
    assert await switch.refresh("b1", "ETH")
    assert switch.healthy
    assert switch.failures == 1


async def test_disarm_clears_the_deadline() -> None:
    switch, exchange, _ = make()
    await switch.refresh("b1", "ETH")
    await switch.disarm()
    assert exchange.calls[-1] is None
    assert not switch.armed
    assert switch.expires_at_ms is None


async def test_disarm_failure_raises_for_shutdown_to_report() -> None:
    switch, exchange, _ = make()
    await switch.refresh("b1", "ETH")
    exchange.errors.append(ExchangeError("HTTP 502"))
    with pytest.raises(ExchangeError, match="502"):
        await switch.disarm()
    assert switch.failures == 1
    assert switch.expires_at_ms == START_MS + 60_000


async def test_disarm_without_a_deadline_does_not_call_the_exchange() -> None:
    switch, exchange, _ = make()
    exchange.errors.append(ExchangeError("never armed on this account"))
    assert not await switch.refresh("b1", "ETH")
    await switch.disarm()
    assert exchange.calls == []


async def test_disabled_switch_never_calls_the_exchange() -> None:
    switch, exchange, _ = make(enabled=False)
    assert not await switch.refresh("b1", "ETH")
    await switch.disarm()
    assert exchange.calls == []
    assert not switch.armed
    assert switch.refresh_count == 0


async def test_concurrent_refreshes_never_move_the_deadline_backwards() -> None:
    switch, exchange, clock = make()
    gate = exchange.gate = asyncio.Event()  # the first call hangs until released
    first = asyncio.create_task(switch.refresh("b1", "ETH"))
    await asyncio.sleep(0)
    clock.advance(2)
    second = asyncio.create_task(switch.refresh("b1", "ETH"))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, second)
    assert exchange.calls == [START_MS + 60_000, START_MS + 62_000]
    assert switch.expires_at_ms == START_MS + 62_000


async def test_an_outage_is_alerted_once_however_many_bots_refresh() -> None:
    clock = SimClock(start_ms=START_MS)
    exchange = RecordingExchange()
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    metrics = Metrics()
    switch = DeadManSwitch(
        exchange, DeadManSettings(timeout_s=60.0), clock, Alerter(bus, clock), metrics
    )
    exchange.errors += [ExchangeError("HTTP 502")] * 4
    for bot in ("b1", "b2", "b1", "b2"):  # two bots, two cycles each, all refused
        assert not await switch.refresh(bot, "ETH")
    alerts = [e for e in events if isinstance(e, AlertRaised)]
    assert [(a.bot, a.kind) for a in alerts] == [("b1", AlertKind.DEAD_MAN_REFRESH_FAILED)]
    assert "HTTP 502" in alerts[0].message
    failures = metrics.registry.get_sample_value("gridtui_dead_man_refresh_failures_total")
    assert failures == 4
    assert await switch.refresh("b2", "ETH")  # the outage ends
    assert metrics.registry.get_sample_value("gridtui_dead_man_expiry_timestamp_seconds") == (
        (START_MS + 60_000) / 1000
    )
    exchange.errors.append(ExchangeError("HTTP 503"))
    assert not await switch.refresh("b2", "ETH")  # a new outage: alerted again
    assert len([e for e in events if isinstance(e, AlertRaised)]) == 2
