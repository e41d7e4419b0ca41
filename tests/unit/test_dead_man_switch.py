"""DeadManSwitch against a recording fake exchange: arm, extend, survive refusal, disarm."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gridtui.config.schema import DeadManSettings
from gridtui.core.clock import SimClock
from gridtui.core.types import ExchangeError
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
    return DeadManSwitch(exchange, settings, clock), exchange, clock


async def test_refresh_schedules_now_plus_timeout_and_extends() -> None:
    switch, exchange, clock = make()
    assert not switch.armed
    assert await switch.refresh()
    assert exchange.calls == [START_MS + 60_000]
    assert switch.armed
    assert switch.expires_at_ms == START_MS + 60_000
    assert switch.last_refresh_ms == START_MS
    clock.advance(1.5)
    await switch.refresh()
    assert exchange.calls[-1] == START_MS + 61_500
    assert switch.expires_at_ms == START_MS + 61_500
    assert switch.refresh_count == 2
    assert switch.healthy


async def test_switch_reports_unarmed_once_the_deadline_passes() -> None:
    switch, _, clock = make()
    await switch.refresh()
    clock.advance(59.999)
    assert switch.armed
    clock.advance(0.001)
    assert not switch.armed


async def test_a_refused_refresh_is_logged_counted_and_survivable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    switch, exchange, clock = make()
    await switch.refresh()
    exchange.errors.append(ExchangeError("Cannot set scheduled cancel time until enough volume"))
    clock.advance(1)
    with caplog.at_level(logging.WARNING, logger="gridtui.risk.dead_man_switch"):
        assert not await switch.refresh()
    assert switch.failures == 1
    assert switch.last_error is not None and "enough volume" in switch.last_error
    assert not switch.healthy
    assert switch.expires_at_ms == START_MS + 60_000  # the earlier deadline still stands
    assert switch.refresh_count == 1
    assert any("enough volume" in r.getMessage() for r in caplog.records)
    assert await switch.refresh()
    assert switch.healthy
    assert switch.failures == 1


async def test_disarm_clears_the_deadline() -> None:
    switch, exchange, _ = make()
    await switch.refresh()
    await switch.disarm()
    assert exchange.calls[-1] is None
    assert not switch.armed
    assert switch.expires_at_ms is None


async def test_disarm_failure_raises_for_shutdown_to_report() -> None:
    switch, exchange, _ = make()
    await switch.refresh()
    exchange.errors.append(ExchangeError("HTTP 502"))
    with pytest.raises(ExchangeError, match="502"):
        await switch.disarm()
    assert switch.failures == 1
    assert switch.expires_at_ms == START_MS + 60_000


async def test_disarm_without_a_deadline_does_not_call_the_exchange() -> None:
    switch, exchange, _ = make()
    exchange.errors.append(ExchangeError("never armed on this account"))
    assert not await switch.refresh()
    await switch.disarm()
    assert exchange.calls == []


async def test_disabled_switch_never_calls_the_exchange() -> None:
    switch, exchange, _ = make(enabled=False)
    assert not await switch.refresh()
    await switch.disarm()
    assert exchange.calls == []
    assert not switch.armed
    assert switch.refresh_count == 0


async def test_concurrent_refreshes_never_move_the_deadline_backwards() -> None:
    switch, exchange, clock = make()
    gate = exchange.gate = asyncio.Event()  # the first call hangs until released
    first = asyncio.create_task(switch.refresh())
    await asyncio.sleep(0)
    clock.advance(2)
    second = asyncio.create_task(switch.refresh())
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, second)
    assert exchange.calls == [START_MS + 60_000, START_MS + 62_000]
    assert switch.expires_at_ms == START_MS + 62_000
