"""ExecutionGateway cancels: cancel_all per coin, and the cancel-all a circuit-breaker trip owes
(retried by ``heal`` while the API is down), against a real in-memory paper venue."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
from bot_kit import Env, EnvFactory

from gridtui.config.schema import BreakerSettings
from gridtui.core.events import BreakerClosed, BreakerTripped, OrderCanceled
from gridtui.core.types import Level, Order, OrderRequest, OrderStatus, Side
from gridtui.orchestrator.factory import BotComponents
from gridtui.risk.circuit_breaker import BreakerState

D = Decimal
BREAKER = BreakerSettings(error_threshold=3, cooldown_s=5.0, max_cooldown_s=60.0)
GRID = [
    Level(-2, D(98), Side.BUY, D("0.2")),
    Level(-1, D(99), Side.BUY, D("0.2")),
    Level(1, D(101), Side.SELL, D("0.2")),
]
FAR = Level(-5, D(90), Side.BUY, D("0.2"))


@pytest.fixture
def env(make_env: EnvFactory) -> Env:
    """BTC held at 100 (bot "b1"), ETH at 2000 (bot "e1")."""
    return make_env(breaker=BREAKER, with_eth_bot=True)


@pytest.fixture(autouse=True)
def calls(env: Env) -> list[str]:
    """Names of the venue's order-book calls, in order (open_orders, cancel_by_client_ids)."""
    names: list[str] = []
    venue = env.exchange
    open_orders, cancel = venue.open_orders, venue.cancel_by_client_ids

    async def listing(coin: str | None = None) -> list[Order]:
        names.append("open_orders")
        return await open_orders(coin)

    async def canceling(coin: str, client_ids: Sequence[str]) -> list:  # type: ignore[type-arg]
        names.append("cancel_by_client_ids")
        return await cancel(coin, client_ids)

    venue.open_orders = listing  # type: ignore[method-assign]
    venue.cancel_by_client_ids = canceling  # type: ignore[method-assign]
    return names


@pytest.fixture
async def eth(env: Env) -> BotComponents:
    return await env.build("e1")


async def rest_grid(bot: BotComponents, calls: list[str]) -> None:
    results = await bot.gateway.submit_levels(GRID)
    assert all(r.success for r in results)
    calls.clear()


async def trip(bot: BotComponents) -> None:
    """N consecutive place_orders failures, N being the breaker's threshold."""
    for _ in range(BREAKER.error_threshold):
        assert not (await bot.gateway.submit_level(FAR)).success
    assert bot.breaker.state is BreakerState.OPEN


async def test_cancel_all_cancels_every_order_of_its_coin_and_none_of_another(
    env: Env, calls: list[str], bot: BotComponents, eth: BotComponents
) -> None:
    await rest_grid(bot, calls)
    (eth_order,) = await eth.gateway.submit_levels([Level(-1, D(1980), Side.BUY, D("0.01"))])
    manual = OrderRequest("ETH", Side.SELL, D(2100), D("0.01"), "0x" + "7" * 32)
    await env.exchange.place_orders([manual])

    results = await bot.gateway.cancel_all()
    assert [r.success for r in results] == [True] * 3
    assert await env.exchange.open_orders("BTC") == []
    assert {o.client_id for o in await env.exchange.open_orders("ETH")} == {
        eth_order.client_id,
        manual.client_id,
    }
    assert bot.ledger.live() == []
    assert {
        bot.ledger.get(r.client_id).status  # type: ignore[union-attr]
        for r in results
        if r.client_id
    } == {OrderStatus.CANCELED}
    assert len(env.of_type(OrderCanceled, "b1")) == 3


async def test_breaker_trip_cancels_all_orders(
    env: Env, calls: list[str], bot: BotComponents
) -> None:
    await rest_grid(bot, calls)
    env.exchange.fail_next(BREAKER.error_threshold, "venue 502", calls={"place_orders"})
    await trip(bot)
    assert await env.exchange.open_orders("BTC") == []
    assert calls[:2] == ["open_orders", "cancel_by_client_ids"]
    assert not bot.gateway.cancel_all_pending
    (event,) = env.of_type(BreakerTripped, "b1")
    assert (event.consecutive_errors, event.last_error) == (BREAKER.error_threshold, "venue 502")


async def test_heal_retries_the_cancel_all_once_the_breaker_half_opens(
    env: Env, calls: list[str], bot: BotComponents
) -> None:
    await rest_grid(bot, calls)
    env.exchange.fail_next(1_000, "venue down")  # every call fails, the trip's cancel-all too
    await trip(bot)
    assert bot.gateway.cancel_all_pending

    await bot.gateway.heal()  # still open: no call at all
    assert calls == ["open_orders"]  # only the failed attempt made by the trip

    env.clock.advance(BREAKER.cooldown_s)  # half-open, but the API is still down
    await bot.gateway.heal()
    assert bot.breaker.state is BreakerState.OPEN  # the probe failed: open again, longer
    assert bot.breaker.cooldown_s == 2 * BREAKER.cooldown_s
    assert bot.gateway.cancel_all_pending

    env.exchange.fail_next(0)  # the API is back (nothing was canceled meanwhile)
    assert len(await env.exchange.open_orders("BTC")) == 3
    env.clock.advance(2 * BREAKER.cooldown_s)
    await bot.gateway.heal()
    assert await env.exchange.open_orders("BTC") == []
    assert not bot.gateway.cancel_all_pending
    assert bot.breaker.state is BreakerState.CLOSED
    assert env.of_type(BreakerClosed, "b1")


async def test_heal_closes_the_breaker_even_when_nothing_was_left_to_cancel(
    env: Env, bot: BotComponents
) -> None:
    env.exchange.fail_next(BREAKER.error_threshold + 1, "venue down")  # the trip's listing fails
    await trip(bot)
    assert bot.gateway.cancel_all_pending
    env.clock.advance(BREAKER.cooldown_s)
    await bot.gateway.heal()  # the probe: nothing rests, so nothing to cancel
    assert not bot.gateway.cancel_all_pending
    assert bot.breaker.state is BreakerState.CLOSED
    assert (await bot.gateway.submit_level(GRID[0])).success  # trading resumes


async def test_cancel_all_reaches_orders_the_ledger_had_lost_track_of(
    env: Env, calls: list[str], bot: BotComponents
) -> None:
    await rest_grid(bot, calls)
    # a restarted graph: nothing in memory yet, but the journal remembers every order
    fresh = await env.build()  # over the same journal
    results = await fresh.gateway.cancel_all()
    fresh.close()
    assert len(results) == 3 and all(r.success for r in results)
    assert await env.exchange.open_orders("BTC") == []
