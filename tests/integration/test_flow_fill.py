"""Fill flow: exchange fill → stream → FillProcessor → StateManager, checked against hand math."""

from __future__ import annotations

from decimal import Decimal

from bot_kit import COIN, D, Env, EnvFactory, running, settle

from gridtui.core.events import OrderFilled
from gridtui.core.types import Side
from gridtui.orchestrator.view import bot_view

MAKER_FEE = D("0.00015")


def fee(price: str, size: str = "0.2") -> Decimal:
    return D(price) * D(size) * MAKER_FEE


async def test_round_trip_position_and_pnl_equal_hand_math(make_env: EnvFactory) -> None:
    env: Env = make_env(prices=[100, 99, 100])
    bot = await env.orchestrator()
    async with running(bot):
        env.next_price()  # 100 → 99: the buy at 99 fills as maker
        await settle()
        state = bot.c.state.get_snapshot()
        assert (state.position, state.avg_entry) == (D("0.2"), D(99))
        assert state.fees_paid == fee("99")
        assert state.all_time_realized == state.session_realized == -fee("99")
        assert state.last_fill_ms == env.clock.now_ms()  # the step that made the move

        env.next_price()  # 99 → 100: the replacement sell at 100 fills
        await settle()
        state = bot.c.state.get_snapshot()
        assert (state.position, state.avg_entry) == (0, 0)
        # bought 0.2 @ 99, sold 0.2 @ 100: +0.2 gross, less both maker fees
        assert state.all_time_realized == D("0.2") - fee("99") - fee("100")
        assert state.all_time_realized == D("0.19403")
        assert state.fees_paid == D("0.00597")
        assert state.fill_count == 2

    filled = env.of_type(OrderFilled)
    assert [(e.side, e.price, e.position) for e in filled] == [
        (Side.BUY, D(99), D("0.2")),
        (Side.SELL, D(100), D(0)),
    ]
    # the journal holds both fills and the same books as memory
    assert [f.price for f in bot.c.store.fills()] == [D(99), D(100)]
    assert bot.c.store.load_state() == bot.c.state.get_snapshot()
    # and the venue agrees: flat again
    assert COIN not in await env.exchange.positions()


async def test_partial_position_keeps_average_cost(make_env: EnvFactory) -> None:
    env = make_env(prices=[100, 98])
    bot = await env.orchestrator()
    async with running(bot):
        env.next_price()  # 100 → 98 in one move: the buys at 99 and 98 both fill
        await settle()
    state = bot.c.state.get_snapshot()
    assert state.position == D("0.4")
    assert state.avg_entry == D("98.5")  # (0.2·99 + 0.2·98) / 0.4
    assert state.all_time_realized == -(fee("99") + fee("98"))
    venue = (await env.exchange.positions())[COIN]
    assert (venue.size, venue.entry_price) == (state.position, state.avg_entry)


async def test_a_buy_and_its_sell_one_level_up_show_as_a_round_trip_across_a_restart(
    make_env: EnvFactory,
) -> None:
    env = make_env(prices=[100, 99, 100])
    bot = await env.orchestrator()
    async with running(bot):
        for _ in range(2):  # 99: the buy fills; 100: its sell one level up fills
            env.next_price()
            await settle()
            await bot.cycle()
    trips = bot_view(bot).round_trips
    fees = sum((f.fee for f in bot.c.store.fills()), Decimal(0))
    assert (trips.round_trips, trips.grid_profit) == (1, D("0.2") - fees)
    again = await env.orchestrator()  # a restart counts them again from the journal
    assert again.round_trips.figures() == trips
