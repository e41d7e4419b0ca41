"""``initial_position``: bought (sold) post-only at the touch at the bot's first start, then the
grid's to trade; never topped up again, not by a restart either."""

from __future__ import annotations

from decimal import Decimal as D

import attrs
from bot_kit import GRID, EnvFactory, running, settle

from gridtui.config.schema import Direction
from gridtui.core.types import Side, Tif
from gridtui.execution.execution_gateway import ENTRY_LEVEL

LONG = attrs.evolve(GRID, direction=Direction.LONG, initial_position=D("0.4"))
"""3 levels a side, 1% apart, 0.2 each, around 100; start holding 0.4."""


async def test_a_long_grid_buys_its_initial_position_post_only_then_sells_it_up_the_levels(
    make_env: EnvFactory,
) -> None:
    env = make_env(grid=LONG, prices=[100, "99.9", 100, "101.5"], file_backed=True)
    bot = await env.orchestrator()
    async with running(bot):
        entry = [t for t in bot.c.ledger.live() if t.level == ENTRY_LEVEL]
        assert [
            (t.request.side, t.request.price, t.request.size, t.request.tif) for t in entry
        ] == [
            (Side.BUY, D("99.999"), D("0.4"), Tif.ALO)  # at the touch, resting, a maker
        ]
        assert {side for side, _, _ in await env.book()} == {Side.BUY}  # nothing held to sell
        env.next_price()  # trades at 99.9: through the entry (and no grid buy)
        await settle()
        await bot.cycle()
        await settle()
        assert bot.c.state.get_snapshot().position == D("0.4")
        assert not bot.c.opener.pending
        assert bot.c.store.initial_position_held_ms() is not None
        assert {(s, p) for s, p, _ in await env.book() if s is Side.SELL} == {
            (Side.SELL, D(101)),
            (Side.SELL, D(102)),
        }  # the inventory, sold up the levels
        env.next_price(2)  # up through 101: half of it sold
        await settle()
        assert bot.c.state.get_snapshot().position == D("0.2")

    again = await env.orchestrator()  # a restart over the same journal, holding less now
    async with running(again):
        assert not again.c.opener.pending  # held once: the grid's to trade, never topped up
        assert not [t for t in again.c.ledger.live() if t.level == ENTRY_LEVEL]


async def test_a_neutral_grid_may_start_short_and_zero_means_none(make_env: EnvFactory) -> None:
    env = make_env(grid=attrs.evolve(GRID, initial_position=D("-0.2")))
    bot = await env.orchestrator()
    async with running(bot):
        (entry,) = [t for t in bot.c.ledger.live() if t.level == ENTRY_LEVEL]
        assert (entry.request.side, entry.request.price) == (Side.SELL, D("100.01"))
    flat = make_env(grid=GRID)
    plain = await flat.orchestrator()
    async with running(plain):
        assert not plain.c.opener.pending


async def test_an_entry_left_resting_once_held_is_canceled(make_env: EnvFactory) -> None:
    env = make_env(grid=LONG, file_backed=True)
    bot = await env.orchestrator()
    async with running(bot):
        assert [t for t in bot.c.ledger.live() if t.level == ENTRY_LEVEL]
    # A crash right after the journal marked it held, before the cancel went out.
    bot.c.store.mark_initial_position_held(env.clock.now_ms())
    again = await env.orchestrator()
    async with running(again):
        await again.cycle()
        await settle()
        assert not again.c.opener.pending
        assert not [o for o in await env.open_orders() if o.price == D("99.999")]


async def test_what_is_left_below_the_ten_dollar_minimum_counts_as_held(
    make_env: EnvFactory,
) -> None:
    env = make_env(grid=attrs.evolve(LONG, initial_position=D("0.05")))  # 5 USD at 100
    bot = await env.orchestrator()
    async with running(bot):
        assert not bot.c.opener.pending  # no order could buy it: nothing sent, nothing retried
        assert not [t for t in bot.c.ledger.live() if t.level == ENTRY_LEVEL]
