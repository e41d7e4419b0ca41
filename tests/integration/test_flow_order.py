"""Order flow: Strategy → GridCalculator → Risk → Gateway → exchange. What rests on the venue is
exactly the grid the settings ask for (prices and sizes worked out by hand below)."""

from __future__ import annotations

from bot_kit import OTHER, D, EnvFactory, running, settle

from gridtui.config.schema import GridSettings, RiskLimits
from gridtui.core.events import OrderPlaced, OrderRejected
from gridtui.core.types import OrderStatus, Side

BUY, SELL = Side.BUY, Side.SELL


async def test_first_cycle_rests_exactly_the_desired_grid(make_env: EnvFactory) -> None:
    env = make_env()
    bot = await env.orchestrator()
    await bot.start()
    await bot.cycle()
    size = D("0.2")
    assert await env.book() == {
        (BUY, D(97), size),
        (BUY, D(98), size),
        (BUY, D(99), size),
        (SELL, D(101), size),
        (SELL, D(102), size),
        (SELL, D(103), size),
    }
    assert await env.open_orders(OTHER) == []
    # the ledger believes exactly what the venue holds, every order acknowledged
    resting = {o.client_id: o.exchange_id for o in await env.open_orders()}
    live = bot.c.ledger.live()
    assert {t.client_id: t.exchange_id for t in live} == resting
    assert {t.status for t in live} == {OrderStatus.OPEN}
    assert bot.c.state.get_snapshot().grid_center == D(100)
    assert len(env.of_type(OrderPlaced)) == 6 and not env.of_type(OrderRejected)


async def test_sizes_below_the_venue_minimum_are_raised_to_ten_dollars(
    make_env: EnvFactory,
) -> None:
    # 0.05 BTC is $5: each level gets the smallest 0.01 lot worth $10 at its own price.
    env = make_env(grid=GridSettings(levels=3, spacing_pct=D(1), size=D("0.05")))
    bot = await env.orchestrator()
    await bot.start()
    await bot.cycle()
    assert await env.book() == {
        (BUY, D(97), D("0.11")),  # 10/97 = 0.1031 → up to 0.11
        (BUY, D(98), D("0.11")),
        (BUY, D(99), D("0.11")),
        (SELL, D(101), D("0.1")),  # 10/101 = 0.0990 → 0.10
        (SELL, D(102), D("0.1")),
        (SELL, D(103), D("0.1")),
    }
    assert not env.of_type(OrderRejected)


async def test_risk_limits_cut_the_grid_before_it_reaches_the_exchange(
    make_env: EnvFactory,
) -> None:
    # max_position 0.5: a third 0.2 order on one side could take the position to 0.6
    env = make_env(risk=RiskLimits(max_position=D("0.5")))
    bot = await env.orchestrator()
    await bot.start()
    await bot.cycle()
    size = D("0.2")
    assert await env.book() == {
        (BUY, D(98), size),
        (BUY, D(99), size),
        (SELL, D(101), size),
        (SELL, D(102), size),
    }
    # refused orders were never journaled either
    assert {o.price for o in bot.c.store.orders()} == {D(98), D(99), D(101), D(102)}


async def test_price_leaving_the_grid_recenters_it(make_env: EnvFactory) -> None:
    env = make_env(prices=[100, 110], risk=RiskLimits(max_position=D(5)))
    bot = await env.orchestrator()
    async with running(bot):
        env.next_price()  # 100 → 110: every sell fills, their replacement buys rest below
        await settle()
        assert bot.c.state.get_snapshot().position == D("-0.6")
        await bot.cycle()  # 110 is > 0.5 % beyond the top level 103: a new grid at 110
    size = D("0.2")
    assert await env.book() == {
        (BUY, D("106.7"), size),
        (BUY, D("107.8"), size),
        (BUY, D("108.9"), size),
        (SELL, D("111.1"), size),
        (SELL, D("112.2"), size),
        (SELL, D("113.3"), size),
    }
    assert bot.c.state.get_snapshot().grid_center == D(110)
    assert {t.request.price for t in bot.c.ledger.live()} == {p for _, p, _ in await env.book()}
