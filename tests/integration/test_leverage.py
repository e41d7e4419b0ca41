"""Leverage is set on the venue before a bot's first order; a refusal says why and keeps the bot
from trading (paper venue: 1 up to the coin's maximum, as Hyperliquid)."""

from __future__ import annotations

from decimal import Decimal as D

import attrs
import pytest
from bot_kit import COIN, RISK, EnvFactory, running, supervised, wait_until

from gridtui.config.schema import GridSettings, Margin
from gridtui.core.events import GridBuilt
from gridtui.core.types import BotStatus, Side
from gridtui.state.accounting import HaltKind
from gridtui.state.state_manager import ResumeRefused


async def test_leverage_is_set_before_the_first_order_and_margins_the_orders(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(risk=attrs.evolve(RISK, leverage=2, margin=Margin.ISOLATED))
    calls: list[str] = []
    update, place = env.exchange.update_leverage, env.exchange.place_orders

    async def updating(*args: object, **kwargs: object) -> None:
        calls.append("update_leverage")
        await update(*args, **kwargs)  # type: ignore[arg-type]

    async def placing(*args: object, **kwargs: object) -> object:
        calls.append("place_orders")
        return await place(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(env.exchange, "update_leverage", updating)
    monkeypatch.setattr(env.exchange, "place_orders", placing)
    bot = await env.orchestrator()
    async with running(bot):
        assert calls[0] == "update_leverage" and "place_orders" in calls
        assert env.exchange._engine._leverage(COIN) == 2  # margin is counted at 2x now


async def test_a_leverage_the_venue_refuses_halts_the_bot_and_says_why(
    make_env: EnvFactory,
) -> None:
    env = make_env(risk=attrs.evolve(RISK, leverage=60))  # BTC allows 1 to 50 here
    supervisor = supervised(env)
    await supervisor.start()
    await wait_until(lambda: supervisor.views()[0].status == "halted")
    (bot,) = supervisor.bots
    assert bot.status_detail() == (
        "leverage 60x cross refused: Invalid leverage value (60x; BTC allows 1 to 50)"
    )
    assert await supervisor.exchange.open_orders(COIN) == []
    assert bot.c.state.get_snapshot().halt_kind is HaltKind.VENUE  # the venue's: critical
    with pytest.raises(ResumeRefused, match="still halted: leverage 60x cross refused"):
        await bot.resume()  # the venue is asked again: trading at its leverage is not an option
    assert bot.status is BotStatus.HALTED
    await supervisor.stop()


async def test_levels_that_would_bring_liquidation_within_the_limit_are_not_placed(
    make_env: EnvFactory,
) -> None:
    # 100k paper account at 100; 2000-coin levels 1% apart: the third level on either side
    # would leave 6000 coins liquidated ~15% away, inside the 20% the trader asked for.
    grid = GridSettings(levels=3, spacing_pct=D(1), size=D(2000))
    risk = attrs.evolve(
        RISK, max_position=D(10**6), max_notional=D(10**9), min_liquidation_distance_pct=D(20)
    )
    env = make_env(grid=grid, risk=risk)
    bot = await env.orchestrator()
    async with running(bot):
        await wait_until(lambda: bot.cycles >= 1)
        assert await env.book() == {
            (Side.BUY, D(99), D(2000)),
            (Side.BUY, D(98), D(2000)),
            (Side.SELL, D(101), D(2000)),
            (Side.SELL, D(102), D(2000)),
        }
        (built,) = env.of_type(GridBuilt)
        assert built.placed == 4
