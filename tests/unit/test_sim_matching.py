"""The paper matching engine on hand-made ticks: priority, partial fills, fees, PnL, rejections."""

from __future__ import annotations

import itertools
from decimal import Decimal as D

import pytest

from gridtui.core.types import AssetMeta, OrderRequest, OrderStatus, PlaceStatus, Side, Tif
from gridtui.exchanges.sim.matching import MatchingEngine
from gridtui.exchanges.sim.price_path import MarketState, Tick
from gridtui.exchanges.sim.vocabulary import (
    ERR_CANCEL,
    ERR_INVALID_PRICE,
    ERR_INVALID_SIZE,
    ERR_IOC,
    ERR_MARGIN,
    ERR_MIN_VALUE,
    ERR_REDUCE_ONLY,
    ERR_TICK_SIZE,
    EngineConfig,
    EngineRecords,
    FillModel,
)

MAKER = D("0.0001")
TAKER = D("0.0005")
NOW = 1_700_000_000_000
_cloids = itertools.count(1)


def make_engine(
    balance: D = D(100_000),
    depth: D = D(5),
    *,
    half_spread: D = D("0.0001"),
    fill_model: FillModel = FillModel.TOUCH,
) -> MatchingEngine:
    """Coin X at mid 100 with sz_decimals 2: synthetic bbo 99.99 @ 100.01 (1 bp half spread)."""
    config = EngineConfig("paper", MAKER, TAKER, half_spread, fill_model)
    records = EngineRecords(balance, 1, 1, None, markets=(MarketState("X", D(100), depth, depth),))
    return MatchingEngine(config, {"X": AssetMeta("X", 0, 2)}, records)


def req(side: Side, price: str, size: str, *, tif: Tif = Tif.GTC, reduce_only: bool = False):
    cloid = f"0x{next(_cloids):032x}"
    return OrderRequest("X", side, D(price), D(size), cloid, tif=tif, reduce_only=reduce_only)


def tick(low: str, high: str, close: str, volume: str) -> Tick:
    return Tick(D(close), D(low), D(high), D(close), D(volume))


def test_buys_fill_best_price_first_then_earliest_within_the_tick_volume():
    engine = make_engine()
    a = engine.place(req(Side.BUY, "99.5", "1"), NOW).exchange_id
    b = engine.place(req(Side.BUY, "99.8", "1"), NOW).exchange_id
    c = engine.place(req(Side.BUY, "99.8", "1"), NOW).exchange_id
    d = engine.place(req(Side.BUY, "99", "1"), NOW).exchange_id
    engine.take_changes()

    engine.apply_tick("X", tick(low="99", high="100", close="99.5", volume="1.5"), NOW + 1)

    fills = engine.take_changes().fills
    assert [(f.exchange_order_id, f.size, f.price) for f in fills] == [
        (b, D(1), D("99.8")),
        (c, D("0.5"), D("99.8")),
    ]
    assert all(not f.is_taker and f.fee == f.price * f.size * MAKER for f in fills)
    assert engine.order(b).status is OrderStatus.FILLED
    assert engine.order(c).status is OrderStatus.PARTIALLY_FILLED
    assert engine.order(c).remaining == D("0.5")
    assert engine.order(a).status is OrderStatus.OPEN
    assert engine.order(d).status is OrderStatus.OPEN


def test_only_buys_at_or_above_the_lowest_trade_price_fill():
    engine = make_engine()
    near = engine.place(req(Side.BUY, "99.59", "1"), NOW).exchange_id
    far = engine.place(req(Side.BUY, "99.58", "1"), NOW).exchange_id
    # Lowest mid 99.6 -> lowest trade at the bid: 99.6 × 0.9999 = 99.59004, floored to 99.59.
    engine.apply_tick("X", tick(low="99.6", high="100", close="99.6", volume="10"), NOW)
    assert engine.order(near).status is OrderStatus.FILLED
    assert engine.order(far).status is OrderStatus.OPEN


@pytest.mark.parametrize(("model", "filled"), [(FillModel.TOUCH, True), (FillModel.STRICT, False)])
def test_a_candle_that_only_touches_a_level_fills_it_under_touch_only(
    model: FillModel, filled: bool
) -> None:
    engine = make_engine(half_spread=D(0), fill_model=model)  # candles: the low is a trade
    buy = engine.place(req(Side.BUY, "99", "1"), NOW).exchange_id
    sell = engine.place(req(Side.SELL, "101", "1"), NOW).exchange_id
    engine.apply_tick("X", tick(low="99", high="101", close="100", volume="10"), NOW)
    expected = OrderStatus.FILLED if filled else OrderStatus.OPEN
    assert (engine.order(buy).status, engine.order(sell).status) == (expected, expected)
    engine.apply_tick("X", tick(low="98.99", high="101.01", close="100", volume="10"), NOW + 1)
    assert engine.order(buy).status is OrderStatus.FILLED  # traded through: both models fill
    assert engine.order(sell).status is OrderStatus.FILLED


def test_sells_fill_lowest_price_first_up_to_the_highest_trade_price():
    engine = make_engine()
    high = engine.place(req(Side.SELL, "100.5", "1"), NOW).exchange_id
    low = engine.place(req(Side.SELL, "100.2", "1"), NOW).exchange_id
    out_of_reach = engine.place(req(Side.SELL, "100.7", "1"), NOW).exchange_id
    engine.take_changes()
    # Highest mid 100.6 -> highest trade at the ask: 100.6 × 1.0001 = 100.61006, ceiled to 100.62.
    engine.apply_tick("X", tick(low="100", high="100.6", close="100.6", volume="1.5"), NOW)
    fills = engine.take_changes().fills
    assert [(f.exchange_order_id, f.size) for f in fills] == [(low, D(1)), (high, D("0.5"))]
    assert engine.order(out_of_reach).remaining == D(1)


def test_a_large_order_fills_partially_across_ticks():
    engine = make_engine()
    oid = engine.place(req(Side.BUY, "99.9", "3"), NOW).exchange_id
    sizes = []
    for n in range(3):
        engine.apply_tick("X", tick(low="99.5", high="100", close="99.8", volume="1.25"), NOW + n)
        sizes.extend(f.size for f in engine.take_changes().fills)
        if n == 0:
            assert engine.order(oid).status is OrderStatus.PARTIALLY_FILLED
    assert sizes == [D("1.25"), D("1.25"), D("0.5")]
    assert engine.order(oid).status is OrderStatus.FILLED
    assert engine.open_orders() == []


def test_crossing_gtc_takes_the_touch_as_taker_and_rests_the_rest():
    engine = make_engine(balance=D(100_000), depth=D(5))
    ack = engine.place(req(Side.BUY, "101", "8"), NOW)
    assert ack.status is PlaceStatus.RESTING
    assert (ack.filled_size, ack.avg_price) == (D(5), D("100.01"))
    [fill] = engine.take_changes().fills
    assert fill.is_taker and fill.price == D("100.01") and fill.size == D(5)
    assert fill.fee == D("100.01") * 5 * TAKER
    assert engine.balance == D(100_000) - fill.fee
    order = engine.order(ack.exchange_id)
    assert (order.status, order.remaining) == (OrderStatus.PARTIALLY_FILLED, D(3))
    # The touch is used up until the next tick: another crossing order rests whole.
    second = engine.place(req(Side.BUY, "101", "1"), NOW)
    assert second.status is PlaceStatus.RESTING and second.filled_size == 0


def test_ioc_fills_what_crosses_and_cancels_the_rest():
    engine = make_engine(depth=D(2))
    ack = engine.place(req(Side.SELL, "99", "3", tif=Tif.IOC), NOW)
    assert ack.status is PlaceStatus.FILLED
    assert (ack.filled_size, ack.avg_price) == (D(2), D("99.99"))
    order = engine.order(ack.exchange_id)
    assert (order.status, order.remaining) == (OrderStatus.CANCELED, D(1))
    assert engine.open_orders() == []
    assert engine.positions()["X"].size == D(-2)


def test_ioc_that_crosses_nothing_is_rejected():
    engine = make_engine()
    ack = engine.place(req(Side.BUY, "99.9", "1", tif=Tif.IOC), NOW)
    assert (ack.status, ack.error) == (PlaceStatus.ERROR, ERR_IOC)
    assert engine.reason(engine.order_by_client_id(ack.client_id).exchange_id) == (
        "iocCancelRejected"
    )


def test_average_cost_pnl_and_fees_move_the_cash_balance():
    engine = make_engine(balance=D(1000))
    engine.place(req(Side.BUY, "99", "1"), NOW)
    engine.place(req(Side.BUY, "97", "1"), NOW)
    engine.apply_tick("X", tick(low="96", high="100", close="96", volume="10"), NOW)
    assert engine.positions()["X"].size == D(2)
    assert engine.positions()["X"].entry_price == D(98)

    engine.place(req(Side.SELL, "105", "1.5"), NOW)
    engine.apply_tick("X", tick(low="96", high="106", close="106", volume="10"), NOW)
    assert (engine.positions()["X"].size, engine.positions()["X"].entry_price) == (D("0.5"), D(98))

    engine.place(req(Side.SELL, "107", "1"), NOW)
    engine.apply_tick("X", tick(low="106", high="108", close="108", volume="10"), NOW)
    position = engine.positions()["X"]
    assert (position.size, position.entry_price) == (D("-0.5"), D(107))  # flipped short

    realized = D("1.5") * (105 - 98) + D("0.5") * (107 - 98)
    fees = MAKER * (99 + 97 + D("1.5") * 105 + 107)
    assert engine.balance == D(1000) + realized - fees
    assert engine.equity() == engine.balance + D("-0.5") * (108 - 107)


def test_validation_messages():
    engine = make_engine()
    cases = [
        (req(Side.BUY, "0", "1"), ERR_INVALID_PRICE),
        (req(Side.BUY, "99.1234", "1"), ERR_TICK_SIZE),  # 6 significant figures
        (req(Side.BUY, "99", "0.001"), ERR_INVALID_SIZE),  # sz_decimals = 2
        (req(Side.BUY, "99", "0"), ERR_INVALID_SIZE),
        (req(Side.BUY, "99", "0.1"), ERR_MIN_VALUE),  # $9.90
        (req(Side.SELL, "101", "1", reduce_only=True), ERR_REDUCE_ONLY),  # flat
    ]
    for request, message in cases:
        ack = engine.place(request, NOW)
        assert (ack.status, ack.error) == (PlaceStatus.ERROR, message), request
        assert engine.order_by_client_id(request.client_id).status is OrderStatus.REJECTED
    assert engine.place(req(Side.BUY, "99", "0.11"), NOW).status is PlaceStatus.RESTING


def test_reduce_only_is_sized_down_to_the_position_and_refused_when_it_would_increase():
    engine = make_engine()
    engine.place(req(Side.BUY, "101", "2"), NOW)  # taker: long 2
    assert engine.place(req(Side.BUY, "99", "1", reduce_only=True), NOW).error == ERR_REDUCE_ONLY
    ack = engine.place(req(Side.SELL, "102", "5", reduce_only=True), NOW)
    assert ack.status is PlaceStatus.RESTING
    assert engine.order(ack.exchange_id).size == D(2)


def test_resting_reduce_only_order_is_canceled_once_the_position_is_gone():
    engine = make_engine()
    engine.place(req(Side.BUY, "101", "1"), NOW)  # long 1
    plain = engine.place(req(Side.SELL, "103", "1"), NOW).exchange_id
    reducer = engine.place(req(Side.SELL, "104", "1", reduce_only=True), NOW).exchange_id
    engine.apply_tick("X", tick(low="100", high="105", close="105", volume="10"), NOW)
    assert engine.order(plain).status is OrderStatus.FILLED
    assert engine.order(reducer).status is OrderStatus.CANCELED
    assert engine.reason(reducer) == "reduceOnlyCanceled"
    assert "X" not in engine.positions()


def test_margin_counts_open_orders_and_positions_against_equity_times_leverage():
    engine = make_engine(balance=D(100))  # 100 × 50x = 5000 of notional
    assert engine.place(req(Side.BUY, "99", "40"), NOW).status is PlaceStatus.RESTING  # 3960
    ack = engine.place(req(Side.BUY, "99", "20"), NOW)  # 3960 + 1980 > 5000
    assert (ack.status, ack.error) == (PlaceStatus.ERROR, ERR_MARGIN)
    assert engine.place(req(Side.BUY, "99", "10"), NOW).status is PlaceStatus.RESTING  # 4950


def test_cancel_of_an_order_that_is_not_open_reports_the_hyperliquid_message():
    engine = make_engine()
    oid = engine.place(req(Side.BUY, "99", "1"), NOW).exchange_id
    assert engine.cancel("X", oid).success
    again = engine.cancel("X", oid)
    assert (again.success, again.error) == (False, ERR_CANCEL)
    assert engine.cancel("X", 999).error == ERR_CANCEL
    assert engine.cancel_by_client_id("X", "0x" + "f" * 32).error == ERR_CANCEL


def test_a_better_order_placed_after_a_tick_is_the_one_the_next_tick_reaches():
    """The best resting price is remembered between ticks: placing a better order, or taking
    away the best one, must be seen by the next tick."""
    engine = make_engine(half_spread=D(0))
    engine.place(req(Side.BUY, "98", "1"), NOW)
    engine.apply_tick("X", tick("98.5", "100", "99", "5"), NOW)  # reaches nothing
    better = engine.place(req(Side.BUY, "99", "1"), NOW).exchange_id
    engine.apply_tick("X", tick("98.5", "100", "99", "5"), NOW)
    assert engine.order(better).status is OrderStatus.FILLED
    engine.place(req(Side.SELL, "101", "1"), NOW)
    best = engine.place(req(Side.SELL, "100.5", "1"), NOW).exchange_id
    assert engine.reaches("X", D(99), D("100.6"))
    engine.cancel("X", best)
    assert not engine.reaches("X", D(99), D("100.6"))


@pytest.mark.parametrize(
    ("model", "low", "high", "reached"),
    [
        (FillModel.STRICT, "98", "102", False),  # touching both orders does not fill them
        (FillModel.TOUCH, "98", "102", True),
        (FillModel.STRICT, "97.99", "101.9", True),  # trading through the buy does
        (FillModel.STRICT, "98.1", "102.01", True),  # trading through the sell does
        (FillModel.TOUCH, "98.01", "101.99", False),
    ],
)
def test_reaches_answers_what_apply_tick_would_do(model, low, high, reached):
    """``reaches`` is the look-ahead the backtest's quiet candles rely on: it must agree with
    the fill ``apply_tick`` then makes, under both fill models."""
    engine = make_engine(half_spread=D(0), fill_model=model)
    engine.place(req(Side.BUY, "98", "1"), NOW)
    engine.place(req(Side.SELL, "102", "1"), NOW)
    assert engine.reaches("X", D(low), D(high)) is reached
    engine.take_changes()
    engine.apply_tick("X", Tick(D(100), D(low), D(high), D(100), D(5)), NOW)
    assert bool(engine.take_changes().fills) is reached
