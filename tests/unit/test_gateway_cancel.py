"""ExecutionGateway cancels: cancel_all per coin, and the cancel-all a circuit-breaker trip owes
(retried by ``heal`` while the API is down), against a real in-memory paper venue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from gridtui.config.schema import BreakerSettings, PaperMarket, PaperSettings
from gridtui.core.clock import SimClock
from gridtui.core.events import BreakerClosed, BreakerTripped, Event, EventBus, OrderCanceled
from gridtui.core.types import Level, Order, OrderRequest, OrderStatus, Side
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.execution.execution_gateway import ExecutionGateway
from gridtui.execution.order_state_machine import OrderStateMachine
from gridtui.monitoring.metrics import Metrics
from gridtui.risk.circuit_breaker import BreakerState, CircuitBreaker
from gridtui.state.shadow_ledger import ShadowLedger
from gridtui.state.store import Store

D = Decimal
T0 = 1_700_000_000_000
BREAKER = BreakerSettings(error_threshold=3, cooldown_s=5.0, max_cooldown_s=60.0)
GRID = [
    Level(-2, D(98), Side.BUY, D("0.2")),
    Level(-1, D(99), Side.BUY, D("0.2")),
    Level(1, D(101), Side.SELL, D("0.2")),
]
FAR = Level(-5, D(90), Side.BUY, D("0.2"))


@attrs.define
class Bot:
    store: Store
    ledger: ShadowLedger
    breaker: CircuitBreaker
    gateway: ExecutionGateway
    events: list[Event]


@attrs.define
class Rig:
    clock: SimClock
    venue: SimExchange
    btc: Bot
    eth: Bot
    calls: list[str]
    """Names of the venue's order-book calls, in order (open_orders, cancel_by_client_ids)."""


def make_bot(path: Path, venue: SimExchange, clock: SimClock, bot: str, coin: str) -> Bot:
    store = Store(path, venue="paper", bot=bot, coin=coin)
    ledger = ShadowLedger(store, OrderStateMachine(), clock)
    breaker = CircuitBreaker(BREAKER, clock)
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    gateway = ExecutionGateway(venue, ledger, breaker, bus, clock, Metrics(), bot=bot, coin=coin)
    return Bot(store, ledger, breaker, gateway, events)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = SimClock(T0)
    markets = (
        PaperMarket("BTC", D(100), 2, volatility=0.0),
        PaperMarket("ETH", D(2000), 3, volatility=0.0),
    )
    venue = SimExchange.in_memory(PaperSettings(markets=markets), clock)
    calls: list[str] = []
    open_orders, cancel = venue.open_orders, venue.cancel_by_client_ids

    async def listing(coin: str | None = None) -> list[Order]:
        calls.append("open_orders")
        return await open_orders(coin)

    async def canceling(coin: str, client_ids: Sequence[str]) -> list:  # type: ignore[type-arg]
        calls.append("cancel_by_client_ids")
        return await cancel(coin, client_ids)

    venue.open_orders = listing  # type: ignore[method-assign]
    venue.cancel_by_client_ids = canceling  # type: ignore[method-assign]
    r = Rig(
        clock,
        venue,
        make_bot(tmp_path / "b1.db", venue, clock, "b1", "BTC"),
        make_bot(tmp_path / "e1.db", venue, clock, "e1", "ETH"),
        calls,
    )
    yield r
    r.btc.store.close()
    r.eth.store.close()
    await venue.close()


async def rest_grid(rig: Rig) -> None:
    results = await rig.btc.gateway.submit_levels(GRID)
    assert all(r.success for r in results)
    rig.calls.clear()


async def trip(rig: Rig) -> None:
    """N consecutive place_orders failures, N being the breaker's threshold."""
    for _ in range(BREAKER.error_threshold):
        assert not (await rig.btc.gateway.submit_level(FAR)).success
    assert rig.btc.breaker.state is BreakerState.OPEN


async def test_cancel_all_cancels_every_order_of_its_coin_and_none_of_another(rig: Rig) -> None:
    await rest_grid(rig)
    (eth_order,) = await rig.eth.gateway.submit_levels([Level(-1, D(1980), Side.BUY, D("0.01"))])
    manual = OrderRequest("ETH", Side.SELL, D(2100), D("0.01"), "0x" + "7" * 32)
    await rig.venue.place_orders([manual])

    results = await rig.btc.gateway.cancel_all()
    assert [r.success for r in results] == [True] * 3
    assert await rig.venue.open_orders("BTC") == []
    assert {o.client_id for o in await rig.venue.open_orders("ETH")} == {
        eth_order.client_id,
        manual.client_id,
    }
    assert rig.btc.ledger.live() == []
    assert {
        rig.btc.ledger.get(r.client_id).status  # type: ignore[union-attr]
        for r in results
        if r.client_id
    } == {OrderStatus.CANCELED}
    assert len([e for e in rig.btc.events if isinstance(e, OrderCanceled)]) == 3


async def test_breaker_trip_cancels_all_orders(rig: Rig) -> None:
    await rest_grid(rig)
    rig.venue.fail_next(BREAKER.error_threshold, "venue 502", calls={"place_orders"})
    await trip(rig)
    assert await rig.venue.open_orders("BTC") == []
    assert rig.calls[:2] == ["open_orders", "cancel_by_client_ids"]
    assert not rig.btc.gateway.cancel_all_pending
    (event,) = [e for e in rig.btc.events if isinstance(e, BreakerTripped)]
    assert (event.consecutive_errors, event.last_error) == (BREAKER.error_threshold, "venue 502")


async def test_heal_retries_the_cancel_all_once_the_breaker_half_opens(rig: Rig) -> None:
    await rest_grid(rig)
    rig.venue.fail_next(1_000, "venue down")  # every call fails, the trip's cancel-all too
    await trip(rig)
    assert rig.btc.gateway.cancel_all_pending

    await rig.btc.gateway.heal()  # still open: no call at all
    assert rig.calls == ["open_orders"]  # only the failed attempt made by the trip

    rig.clock.advance(BREAKER.cooldown_s)  # half-open, but the API is still down
    await rig.btc.gateway.heal()
    assert rig.btc.breaker.state is BreakerState.OPEN  # the probe failed: open again, longer
    assert rig.btc.breaker.cooldown_s == 2 * BREAKER.cooldown_s
    assert rig.btc.gateway.cancel_all_pending

    rig.venue.fail_next(0)  # the API is back (nothing was canceled meanwhile)
    assert len(await rig.venue.open_orders("BTC")) == 3
    rig.clock.advance(2 * BREAKER.cooldown_s)
    await rig.btc.gateway.heal()
    assert await rig.venue.open_orders("BTC") == []
    assert not rig.btc.gateway.cancel_all_pending
    assert rig.btc.breaker.state is BreakerState.CLOSED
    assert any(isinstance(e, BreakerClosed) for e in rig.btc.events)


async def test_heal_closes_the_breaker_even_when_nothing_was_left_to_cancel(rig: Rig) -> None:
    rig.venue.fail_next(BREAKER.error_threshold + 1, "venue down")  # the trip's listing fails
    await trip(rig)
    assert rig.btc.gateway.cancel_all_pending
    rig.clock.advance(BREAKER.cooldown_s)
    await rig.btc.gateway.heal()  # the probe: nothing rests, so nothing to cancel
    assert not rig.btc.gateway.cancel_all_pending
    assert rig.btc.breaker.state is BreakerState.CLOSED
    assert (await rig.btc.gateway.submit_level(GRID[0])).success  # trading resumes


async def test_cancel_all_reaches_orders_the_ledger_had_lost_track_of(rig: Rig) -> None:
    await rest_grid(rig)
    # a restarted graph: nothing in memory yet, but the journal remembers every order
    fresh = make_bot(rig.btc.store.path, rig.venue, rig.clock, "b1", "BTC")
    results = await fresh.gateway.cancel_all()
    fresh.store.close()
    assert len(results) == 3 and all(r.success for r in results)
    assert await rig.venue.open_orders("BTC") == []
