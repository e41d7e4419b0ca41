"""ReconciliationService against a real paper venue (BTC on a tape of flat candles)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from bot_kit import Env, EnvFactory

from gridtui.core.events import AlertRaised, Reconciled, Severity
from gridtui.core.types import (
    Fill,
    Level,
    OrderRequest,
    OrderStatus,
    PlaceStatus,
    Position,
    Side,
)
from gridtui.orchestrator.factory import BotComponents

D = Decimal
BUY_99 = Level(-1, D(99), Side.BUY, D("0.2"))
SELL_101 = Level(1, D(101), Side.SELL, D("0.2"))


def alerts(env: Env, severity: Severity) -> list[AlertRaised]:
    return [e for e in env.of_type(AlertRaised) if e.severity is severity]


async def test_missed_fill_is_applied_exactly_once(make_env: EnvFactory) -> None:
    env = make_env(prices=[100, 99])
    bot = await env.build()
    await bot.gateway.submit_levels([BUY_99, SELL_101])
    env.next_price()  # the buy fills; nobody processed the stream
    first = await bot.reconciliation.reconcile()
    second = await bot.reconciliation.reconcile()
    assert (first.missing_fills, second.missing_fills) == (1, 0)
    state = bot.state.get_snapshot()
    assert (state.position, state.avg_entry, state.fill_count) == (D("0.2"), D(99), 1)
    assert first.fill_results[0].order_status is OrderStatus.FILLED
    assert [e.missing_fills for e in env.events if isinstance(e, Reconciled)] == [1, 0]
    assert not first.position_corrected  # the fill explained the position


async def test_order_sent_but_never_acknowledged_is_adopted(env: Env, bot: BotComponents) -> None:
    request, generation = bot.gateway.request_for(BUY_99)
    bot.ledger.add_pending(request, level=-1, generation=generation)
    (ack,) = await env.exchange.place_orders([request])  # reached the venue; the ack was lost
    report = await bot.reconciliation.reconcile()
    assert (report.adopted_orders, report.canceled_unknown) == (1, 0)
    tracked = bot.ledger.get(request.client_id)
    assert tracked is not None
    assert (tracked.status, tracked.exchange_id) == (OrderStatus.OPEN, ack.exchange_id)
    assert len(await env.exchange.open_orders("BTC")) == 1  # kept, not canceled nor resent


async def test_order_journaled_but_never_sent_is_settled_as_rejected(
    env: Env, bot: BotComponents
) -> None:
    request, generation = bot.gateway.request_for(BUY_99)
    bot.ledger.add_pending(request, level=-1, generation=generation)  # crash before sending
    report = await bot.reconciliation.reconcile()
    assert report.settled_orders == 1
    assert bot.ledger.get(request.client_id).status is OrderStatus.REJECTED  # type: ignore[union-attr]
    assert bot.ledger.live() == []


async def test_unknown_order_on_the_coin_is_canceled_other_coins_untouched(
    env: Env, bot: BotComponents
) -> None:
    (ours,) = await bot.gateway.submit_levels([BUY_99])
    stranger = OrderRequest("BTC", Side.SELL, D(120), D("0.2"), "0x" + "1" * 32)
    no_cloid = OrderRequest("BTC", Side.BUY, D(80), D("0.2"), "")
    elsewhere = OrderRequest("ETH", Side.BUY, D(1900), D("0.01"), "0x" + "2" * 32)
    await env.exchange.place_orders([stranger, no_cloid, elsewhere])
    report = await bot.reconciliation.reconcile()
    assert report.canceled_unknown == 2
    assert [o.client_id for o in await env.exchange.open_orders("BTC")] == [ours.client_id]
    assert [o.client_id for o in await env.exchange.open_orders("ETH")] == [elsewhere.client_id]


async def test_our_order_resting_against_our_books_is_canceled(
    env: Env, bot: BotComponents
) -> None:
    request, generation = bot.gateway.request_for(BUY_99)
    bot.ledger.add_pending(request, level=-1, generation=generation)
    await env.exchange.place_orders([request])
    bot.ledger.on_cancel_ack(request.client_id, None)  # our books say it is gone
    report = await bot.reconciliation.reconcile()
    assert report.canceled_unknown == 1
    assert await env.exchange.open_orders("BTC") == []


async def test_position_difference_is_corrected_with_an_adjustment_and_an_alert(
    env: Env, bot: BotComponents
) -> None:
    manual = OrderRequest("BTC", Side.SELL, D(90), D("0.3"), "0x" + "3" * 32)
    (ack,) = await env.exchange.place_orders([manual])  # crosses: sells 0.3 at the bid
    assert ack.status is PlaceStatus.FILLED and ack.avg_price == D("99.99")
    report = await bot.reconciliation.reconcile()
    assert report.missing_fills == 0  # not our order: never journaled as our fill...
    assert report.position_corrected and report.position_checked  # ...but corrected
    state = bot.state.get_snapshot()
    assert (state.position, state.avg_entry, state.fill_count) == (D("-0.3"), D("99.99"), 0)
    (adjustment,) = bot.store.adjustments()
    assert (adjustment.field, adjustment.old_value, adjustment.new_value) == (
        "position",
        "0@0",
        "-0.3@99.99",
    )
    assert adjustment.reason == "exchange reports -0.3, journal had 0"
    (critical,) = alerts(env, Severity.CRITICAL)
    assert critical.kind == "reconciliation_correction"
    again = await bot.reconciliation.reconcile()
    assert not again.position_corrected and len(bot.store.adjustments()) == 1


async def test_failed_position_query_never_reads_as_flat(make_env: EnvFactory) -> None:
    env = make_env(prices=[100, 99])
    bot = await env.build()
    await bot.gateway.submit_levels([BUY_99])
    env.next_price()
    await bot.reconciliation.reconcile()
    assert bot.state.get_snapshot().position == D("0.2")
    env.exchange.fail_next(5, "info endpoint 500", calls={"positions"})
    report = await bot.reconciliation.reconcile()
    assert report.error == "info endpoint 500"
    assert (report.position_checked, report.position_corrected) == (False, False)
    assert bot.state.get_snapshot().position == D("0.2")
    assert bot.store.adjustments() == []
    assert alerts(env, Severity.CRITICAL) == []


async def test_fills_applied_before_a_failed_pass_are_still_reported(make_env: EnvFactory) -> None:
    env = make_env(prices=[100, 99])
    bot = await env.build()
    await bot.gateway.submit_levels([BUY_99])
    env.next_price()
    env.exchange.fail_next(1, "info endpoint 500", calls={"positions"})
    report = await bot.reconciliation.reconcile()
    assert report.error == "info endpoint 500"
    assert report.missing_fills == 1
    assert [r.fill.price for r in report.fill_results] == [D(99)]


async def test_a_reading_taken_while_a_fill_lands_is_not_trusted(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(prices=[100, 99])
    bot = await env.build()
    await bot.gateway.submit_levels([BUY_99])
    positions = env.exchange.positions
    readings: list[dict[str, Position]] = []

    async def racing() -> dict[str, Position]:
        reading = await positions()
        if not readings:
            env.next_price()  # our buy fills just after the venue answered "flat"
        readings.append(reading)
        return reading

    monkeypatch.setattr(env.exchange, "positions", racing)
    report = await bot.reconciliation.reconcile()
    assert [r.get("BTC") for r in readings] == [None, Position("BTC", D("0.2"), D(99))]
    assert report.missing_fills == 1 and report.position_checked
    assert not report.position_corrected  # the stale "flat" was not written into the books
    assert bot.state.get_snapshot().position == D("0.2")
    assert bot.store.adjustments() == []


async def test_a_fill_the_stream_journals_between_readings_is_not_corrected_away(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream consumer runs between the service's awaits: a fill it journals after the venue
    answered makes that answer stale, though the catch-up then finds nothing new."""
    env = make_env(prices=[100, 99])
    bot = await env.build()
    await bot.gateway.submit_levels([BUY_99])
    positions = env.exchange.positions
    readings: list[dict[str, Position]] = []

    async def stream_fill_lands() -> dict[str, Position]:
        reading = await positions()
        if not readings:
            env.next_price()  # our buy fills just after the venue answered "flat"...
            bot.processor.process_ours(await env.exchange.fills_since(0, "BTC"))  # ...streamed
        readings.append(reading)
        return reading

    monkeypatch.setattr(env.exchange, "positions", stream_fill_lands)
    report = await bot.reconciliation.reconcile()
    assert [r.get("BTC") for r in readings] == [None, Position("BTC", D("0.2"), D(99))]
    assert report.missing_fills == 0 and report.position_checked
    assert not report.position_corrected
    assert bot.state.get_snapshot().position == D("0.2")
    assert bot.store.adjustments() == []


async def test_a_fill_the_venue_lists_late_is_journaled_not_papered_over(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The position already holds a fill the fills listing does not show yet: one reading is not
    enough to correct; the next catch-up journals the fill itself (price, fee, PnL)."""
    env = make_env(prices=[100, 99])
    bot = await env.build()
    await bot.gateway.submit_levels([BUY_99])
    env.next_price()
    fills_since = env.exchange.fills_since
    listings = 0

    async def lagging(since_ms: int, coin: str | None = None) -> list[Fill]:
        nonlocal listings
        listings += 1
        return [] if listings <= 2 else await fills_since(since_ms, coin)

    monkeypatch.setattr(env.exchange, "fills_since", lagging)
    report = await bot.reconciliation.reconcile()
    assert report.missing_fills == 1 and report.position_checked
    assert not report.position_corrected
    assert bot.store.adjustments() == []
    state = bot.state.get_snapshot()
    assert (state.position, state.fill_count) == (D("0.2"), 1)
