"""DeadManSwitch against the paper venue: the sim really cancels our orders when we stop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

from gridtui.config.schema import DeadManSettings, PaperMarket, PaperSettings
from gridtui.core.clock import SimClock
from gridtui.core.events import EventBus
from gridtui.core.types import OrderRequest, PlaceStatus, Side
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics
from gridtui.risk.dead_man_switch import DeadManSwitch


@pytest.fixture
def clock() -> SimClock:
    return SimClock(start_ms=1_700_000_000_000)


@pytest.fixture
async def venue(clock: SimClock) -> AsyncIterator[SimExchange]:
    settings = PaperSettings(markets=(PaperMarket("ETH", D(2000), 4, volatility=0.1),))
    exchange = SimExchange.in_memory(settings, clock)
    yield exchange
    await exchange.close()


async def rest_two_orders(venue: SimExchange) -> None:
    acks = await venue.place_orders(
        [
            OrderRequest("ETH", Side.BUY, D(1900), D("0.01"), "0x" + "1" * 32),
            OrderRequest("ETH", Side.SELL, D(2100), D("0.01"), "0x" + "2" * 32),
        ]
    )
    assert [ack.status for ack in acks] == [PlaceStatus.RESTING] * 2


async def test_orders_survive_while_refreshed_and_die_when_refreshing_stops(
    venue: SimExchange, clock: SimClock
) -> None:
    switch = DeadManSwitch(
        venue, DeadManSettings(timeout_s=10.0), clock, Alerter(EventBus(), clock), Metrics()
    )
    await rest_two_orders(venue)
    for _ in range(3):  # 24 s of refreshing every 8 s: never more than 10 s without one
        assert await switch.refresh("b1", "ETH")
        clock.advance(8)
        venue.step(0)
        assert len(await venue.open_orders("ETH")) == 2
    assert await switch.refresh("b1", "ETH")
    clock.advance(9.999)
    venue.step(0)
    assert len(await venue.open_orders("ETH")) == 2
    clock.advance(0.001)
    venue.step(0)
    assert await venue.open_orders("ETH") == []
    assert venue.status_word(client_id="0x" + "1" * 32) == "scheduledCancel"
    assert not switch.armed


async def test_disarm_keeps_orders_alive(venue: SimExchange, clock: SimClock) -> None:
    switch = DeadManSwitch(
        venue, DeadManSettings(timeout_s=10.0), clock, Alerter(EventBus(), clock), Metrics()
    )
    await rest_two_orders(venue)
    await switch.refresh("b1", "ETH")
    await switch.disarm()
    clock.advance(60)
    venue.step(0)
    assert len(await venue.open_orders("ETH")) == 2


async def test_venue_refusal_is_survivable(venue: SimExchange, clock: SimClock) -> None:
    # The venue, like Hyperliquid, refuses a deadline less than 5 s ahead.
    switch = DeadManSwitch(
        venue, DeadManSettings(timeout_s=2.0), clock, Alerter(EventBus(), clock), Metrics()
    )
    assert not await switch.refresh("b1", "ETH")
    assert not switch.healthy
    assert switch.failures == 1
    assert "5 seconds" in (switch.last_error or "")
    assert not switch.armed
