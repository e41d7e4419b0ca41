"""GridBuilder against a real paper venue whose BTC price follows a tape of flat candles."""

from __future__ import annotations

from decimal import Decimal

import attrs
from bot_kit import GRID, Env, EnvFactory

from gridtui.config.schema import GridSettings, RiskLimits
from gridtui.core.events import AlertRaised, GridBuilt
from gridtui.core.types import Fill, OrderStatus, Side
from gridtui.execution.execution_gateway import client_order_id
from gridtui.execution.fill_processor import FillResult
from gridtui.execution.grid_builder import REPAIR_EVERY
from gridtui.execution.reconciliation_service import ReconcileReport
from gridtui.orchestrator.factory import BotComponents
from gridtui.state.accounting import HaltKind
from gridtui.strategy.grid_calculator import calculate_grid
from gridtui.strategy.grid_snapshot import GridSnapshot

D = Decimal
T0 = 1_700_000_000_000
BUY, SELL = Side.BUY, Side.SELL


def grid_at(bot: BotComponents, mid: str, settings: GridSettings = GRID) -> GridSnapshot:
    return calculate_grid(
        coin="BTC", mid=D(mid), settings=settings, meta=bot.meta, now_ms=bot.clock.now_ms()
    )


async def next_price(env: Env, bot: BotComponents) -> list[FillResult]:
    """Move the tape to its next price and process the fills that caused."""
    before = {f.trade_id for f in await env.exchange.fills_since(0, "BTC")}
    env.next_price()
    fills = [f for f in await env.exchange.fills_since(0, "BTC") if f.trade_id not in before]
    return bot.processor.process_fills(fills)


def alerts(env: Env, kind: str) -> list[AlertRaised]:
    return [e for e in env.of_type(AlertRaised) if e.kind == kind]


FULL = {
    (BUY, D(97), D("0.2")),
    (BUY, D(98), D("0.2")),
    (BUY, D(99), D("0.2")),
    (SELL, D(101), D("0.2")),
    (SELL, D(102), D("0.2")),
    (SELL, D(103), D("0.2")),
}


async def test_places_exactly_the_desired_levels(env: Env, bot: BotComponents) -> None:
    result = await bot.builder.build_and_place_grid(grid_at(bot, "100"), D(100))
    assert (result.placed, result.canceled, result.refused) == (6, 0, ())
    assert await env.book() == FULL  # buys below the empty center, sells above it
    (built,) = [e for e in env.events if isinstance(e, GridBuilt)]
    assert (built.center, built.levels, built.placed) == (D(100), 6, 6)


async def test_gap_follows_the_mark(env: Env, bot: BotComponents) -> None:
    # the mark sits at level -1 (99): that slot stays empty, the center is a sell
    result = await bot.builder.build_and_place_grid(grid_at(bot, "100"), D("99.2"))
    assert result.placed == 6
    assert await env.book() == (FULL - {(BUY, D(99), D("0.2"))}) | {(SELL, D(100), D("0.2"))}


async def test_a_second_build_places_nothing(env: Env, bot: BotComponents) -> None:
    snapshot = grid_at(bot, "100")
    await bot.builder.build_and_place_grid(snapshot, D(100))
    again = await bot.builder.build_and_place_grid(snapshot, D(100))
    assert (again.placed, again.canceled) == (0, 0)
    assert await env.book() == FULL
    assert len(bot.gateway.ledger.store.orders()) == 6  # nothing new journaled either


async def test_orders_of_an_old_snapshot_are_canceled(env: Env, bot: BotComponents) -> None:
    await bot.builder.build_and_place_grid(grid_at(bot, "100"), D(100))
    old = {t.client_id for t in bot.gateway.ledger.live()}
    wider = attrs.evolve(GRID, spacing_pct=D(2))  # new levels: 94/96/98 and 102/104/106
    result = await bot.builder.build_and_place_grid(grid_at(bot, "100", wider), D(100))
    assert (result.placed, result.canceled) == (6, 6)
    assert await env.book() == {
        (BUY, D(94), D("0.2")),
        (BUY, D(96), D("0.2")),
        (BUY, D(98), D("0.2")),
        (SELL, D(102), D("0.2")),
        (SELL, D(104), D("0.2")),
        (SELL, D(106), D("0.2")),
    }
    assert {bot.gateway.ledger.get(cid).status for cid in old} == {OrderStatus.CANCELED}  # type: ignore[union-attr]


async def test_risk_refusals_cut_the_grid_from_the_far_end(make_env: EnvFactory) -> None:
    env = make_env(risk=RiskLimits(max_open_orders=4))
    bot = await env.build()
    result = await bot.builder.build_and_place_grid(grid_at(bot, "100"), D(100))
    assert result.placed == 4
    assert len(result.refused) == 2
    assert all("max_open_orders 4" in reason for reason in result.refused)
    assert {p for _, p, _ in await env.book()} == {D(98), D(99), D(101), D(102)}
    # The ladder says why the far levels are empty; a fresh grid forgets it.
    assert bot.builder.refused == {(-3, BUY): "open orders limit", (3, SELL): "open orders limit"}
    narrow = grid_at(bot, "100", attrs.evolve(GRID, levels=2))  # fits the limit
    await bot.builder.build_and_place_grid(narrow, D(100))
    assert bot.builder.refused == {}


async def test_a_halted_bot_places_nothing(env: Env, bot: BotComponents) -> None:
    await bot.state.halt(HaltKind.MANUAL, "operator")
    result = await bot.builder.build_and_place_grid(grid_at(bot, "100"), D(100))
    assert result.placed == 0
    assert result.refused == ("halted: operator",) * 6
    assert await env.exchange.open_orders("BTC") == []
    assert bot.gateway.ledger.store.orders() == []


async def test_maintain_builds_around_the_journaled_center_after_a_restart(
    env: Env, bot: BotComponents
) -> None:
    await bot.state.set_grid_center(D(100))  # what the journal kept from the last run
    result = await bot.builder.maintain(D("100.4"), env.clock.now_ms())
    assert result is not None and result.placed == 6
    assert bot.builder.snapshot is not None and bot.builder.snapshot.center == D(100)
    assert await env.book() == FULL  # the same levels as before: resting orders are adopted


async def test_maintain_recenters_at_the_mid_after_a_position_correction(
    env: Env, bot: BotComponents
) -> None:
    now = env.clock.now_ms()
    await bot.builder.maintain(D(100), now)
    assert await bot.builder.maintain(D("100.4"), now) is None  # inside the grid: nothing to do
    bot.builder.on_reconciled(reconciled(position_corrected=True))
    result = await bot.builder.maintain(D("100.4"), now)
    assert result is not None
    assert bot.builder.snapshot is not None
    assert bot.builder.snapshot.center == grid_at(bot, "100.4").center != D(100)
    assert bot.state.get_snapshot().grid_center == bot.builder.snapshot.center


async def test_maintain_repairs_every_repair_every_calls_and_when_asked(
    env: Env, bot: BotComponents
) -> None:
    now = env.clock.now_ms()
    await bot.state.halt(HaltKind.MANUAL, "operator")
    first = await bot.builder.maintain(D(100), now)
    assert first is not None and first.placed == 0  # every level refused while halted
    await bot.state.resume()
    for _ in range(REPAIR_EVERY - 2):
        assert await bot.builder.maintain(D(100), now) is None
    repair = await bot.builder.maintain(D(100), now)
    assert repair is not None and repair.placed == 6
    bot.builder.on_reconciled(reconciled())  # nothing changed under the grid
    assert await bot.builder.maintain(D(100), now) is None
    bot.builder.on_reconciled(reconciled(settled_orders=1))  # an order went unseen
    asked = await bot.builder.maintain(D(100), now)
    assert asked is not None and (asked.placed, asked.canceled) == (0, 0)
    assert await bot.builder.maintain(D(100), now) is None


def reconciled(**changes: object) -> ReconcileReport:
    """A complete reconciliation pass that changed what ``changes`` says."""
    clean = ReconcileReport(0, 0, 0, 0, position_corrected=False, position_checked=True)
    return attrs.evolve(clean, **changes)


async def test_fill_is_replaced_one_level_away_on_the_other_side(make_env: EnvFactory) -> None:
    env = make_env(prices=[100, 99, 100])
    bot = await env.build()
    await bot.builder.build_and_place_grid(grid_at(bot, "100"), D(100))

    (bought,) = await next_price(env, bot)  # 100 → 99: the buy at level -1 fills
    assert (bought.fill.side, bought.fill.price, bought.order_status) == (
        BUY,
        D(99),
        OrderStatus.FILLED,
    )
    result = await bot.builder.on_fill(bought, D(99))
    assert result.placed == 1 and bot.builder.gap_index == -1
    sell = await env.exchange.order_status(client_id=client_order_id("b1", 0, 0))
    assert sell is not None and (sell.side, sell.price, sell.size) == (SELL, D(100), D("0.2"))

    (sold,) = await next_price(env, bot)  # 99 → 100: that sell fills; a buy goes back to 99
    assert (sold.fill.side, sold.fill.price) == (SELL, D(100))
    assert (await bot.builder.on_fill(sold, D(100))).placed == 1
    buy = await env.exchange.order_status(client_id=client_order_id("b1", -1, 1))
    assert buy is not None and (buy.side, buy.price, buy.size) == (BUY, D(99), D("0.2"))
    assert await env.book() == FULL
    assert bot.builder.check_drift() == 0


async def test_replacement_keeps_the_filled_size(make_env: EnvFactory) -> None:
    scaled = attrs.evolve(GRID, size_scaling_pct=D(50))  # 0.2 at ±1, 0.3 at ±2, 0.4 at ±3
    env = make_env(prices=[100, 98])
    bot = await env.build()
    await bot.builder.build_and_place_grid(grid_at(bot, "100", scaled), D(100))
    results = await next_price(env, bot)  # 100 → 98: buys at 99 (0.2) and 98 (0.3) fill
    assert len(results) == 2  # one batch, as the stream delivers it
    for result in results:
        await bot.builder.on_fill(result, D(98))
    # The state held both fills before the first on_fill ran: that is not drift.
    assert alerts(env, "position_drift") == []
    book = await env.book()
    # each replacement sells what its buy bought, one level up: 0.3 at 99, 0.2 at 100
    assert {(s, p, q) for s, p, q in book if s is SELL and p < 101} == {
        (SELL, D(99), D("0.3")),
        (SELL, D(100), D("0.2")),
    }


async def test_a_partial_fill_is_not_replaced(env: Env, bot: BotComponents) -> None:
    await bot.builder.build_and_place_grid(grid_at(bot, "100"), D(100))
    tracked = next(t for t in bot.gateway.ledger.live() if t.level == -1)
    half = Fill(
        "paper", "BTC", 1, tracked.exchange_id or 0, tracked.client_id, BUY, D(99), D("0.1"),
        D(0), T0 + 1,
    )  # fmt: skip
    result = bot.processor.process_fill(half)
    assert result.order_status is OrderStatus.PARTIALLY_FILLED
    assert (await bot.builder.on_fill(result, D(99))).placed == 0
    assert await env.book() == FULL


async def test_position_drift_over_ten_percent_raises_an_alert(
    env: Env, bot: BotComponents
) -> None:
    await bot.builder.build_and_place_grid(grid_at(bot, "100"), D(100))
    await bot.state.adjust_position(D("0.02"), D(100), "manual trade")  # 10 % of 0.2: tolerated
    assert bot.builder.check_drift() == D("0.1")
    assert alerts(env, "position_drift") == []
    await bot.state.adjust_position(D("0.05"), D(100), "manual trade")  # 25 %
    assert bot.builder.check_drift() == D("0.25")
    (alert,) = alerts(env, "position_drift")
    assert "0.05" in alert.message and "25.0%" in alert.message
    bot.builder.check_drift()  # still drifted: one alert, not one per check
    assert len(alerts(env, "position_drift")) == 1


async def test_an_unexplained_fill_is_drift(env: Env, bot: BotComponents) -> None:
    await bot.builder.build_and_place_grid(grid_at(bot, "100"), D(100))
    manual = Fill("paper", "BTC", 1, 999, "0x" + "5" * 32, BUY, D(100), D("0.1"), D(0), T0 + 1)
    result = bot.processor.process_fill(manual)
    assert (await bot.builder.on_fill(result, D(100))).placed == 0
    assert bot.builder.drift_ratio == D("0.5")
    assert len(alerts(env, "position_drift")) == 1
