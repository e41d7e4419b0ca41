"""Average-cost bookkeeping: every number below is worked out by hand."""

from __future__ import annotations

import decimal
import itertools
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridtui.core.clock import UTC_DAY_MS
from gridtui.core.types import Fill, Side
from gridtui.state.accounting import (
    BotState,
    PositionCorrection,
    apply_fill,
    apply_fills,
    from_canonical,
    replay,
    to_canonical,
)

D = Decimal
DAY = 19_700  # an arbitrary UTC day number
T0 = DAY * UTC_DAY_MS + 3_600_000
_tid = itertools.count(1)


def fill(
    side: Side, size: str, price: str, fee: str = "0", ts: int = T0, coin: str = "BTC"
) -> Fill:
    return Fill(
        venue="paper",
        coin=coin,
        trade_id=next(_tid),
        exchange_order_id=7,
        client_id=None,
        side=side,
        price=D(price),
        size=D(size),
        fee=D(fee),
        timestamp_ms=ts,
    )


def run(*fills: Fill) -> tuple[BotState, list[Decimal]]:
    state = BotState.fresh("b1", "BTC", T0)
    deltas = []
    for f in fills:
        state, delta = apply_fill(state, f)
        deltas.append(delta)
    return state, deltas


def test_fresh_state_is_flat_and_dated_today() -> None:
    state = BotState.fresh("b1", "BTC", T0)
    assert (state.position, state.avg_entry, state.fill_count) == (0, 0, 0)
    assert state.daily_day == DAY
    assert state.session_start_ms == T0
    assert not state.halted and state.grid_center is None


def test_open_long_sets_avg_to_fill_price() -> None:
    state, deltas = run(fill(Side.BUY, "0.5", "100.25"))
    assert state.position == D("0.5")
    assert state.avg_entry == D("100.25")
    assert deltas == [0]


def test_open_short_is_negative_position() -> None:
    state, _ = run(fill(Side.SELL, "2", "50"))
    assert state.position == D("-2")
    assert state.avg_entry == D("50")


def test_adding_moves_avg_to_size_weighted_mean() -> None:
    # (1 × 100 + 3 × 104) / 4 = 103
    state, deltas = run(fill(Side.BUY, "1", "100"), fill(Side.BUY, "3", "104"))
    assert state.position == D("4")
    assert state.avg_entry == D("103")
    assert deltas == [0, 0]


def test_adding_to_short_averages_too() -> None:
    # (2 × 100 + 2 × 90) / 4 = 95
    state, _ = run(fill(Side.SELL, "2", "100"), fill(Side.SELL, "2", "90"))
    assert state.position == D("-4")
    assert state.avg_entry == D("95")


def test_reducing_long_realizes_and_keeps_avg() -> None:
    state, deltas = run(fill(Side.BUY, "2", "100"), fill(Side.SELL, "0.5", "110"))
    assert deltas[1] == D("5")  # (110 − 100) × 0.5
    assert state.position == D("1.5")
    assert state.avg_entry == D("100")
    assert state.session_realized == state.all_time_realized == state.daily_realized == D("5")


def test_reducing_short_profits_when_price_falls() -> None:
    state, deltas = run(fill(Side.SELL, "2", "100"), fill(Side.BUY, "1", "90"))
    assert deltas[1] == D("10")
    assert state.position == D("-1")
    assert state.avg_entry == D("100")


def test_closing_at_a_loss_goes_flat_with_zero_avg() -> None:
    state, deltas = run(fill(Side.BUY, "1", "100"), fill(Side.SELL, "1", "95"))
    assert deltas[1] == D("-5")
    assert state.position == 0
    assert state.avg_entry == 0


def test_flip_closes_old_side_and_opens_rest_at_fill_price() -> None:
    state, deltas = run(fill(Side.BUY, "1", "100"), fill(Side.SELL, "3", "110"))
    assert deltas[1] == D("10")  # only the 1 closed realizes
    assert state.position == D("-2")
    assert state.avg_entry == D("110")
    # and back again: short 2 @ 110 bought back 5 @ 100 → +20, long 3 @ 100
    state, delta = apply_fill(state, fill(Side.BUY, "5", "100"))
    assert delta == D("20")
    assert state.position == D("3")
    assert state.avg_entry == D("100")
    assert state.all_time_realized == D("30")


def test_fees_reduce_realized_and_rebates_add() -> None:
    state, deltas = run(
        fill(Side.BUY, "1", "100", fee="0.05"),
        fill(Side.SELL, "1", "101", fee="-0.01"),  # maker rebate
    )
    assert deltas == [D("-0.05"), D("1.01")]
    assert state.fees_paid == D("0.04")
    assert state.all_time_realized == D("0.96")


def test_round_trip_matches_hand_math() -> None:
    # buy 0.01 @ 50000 (fee 0.225) + buy 0.01 @ 49000 (fee 0.2205) → avg 49500
    # sell 0.02 @ 50500 (fee 0.4545): gross (50500 − 49500) × 0.02 = 20; fees 0.9 → 19.1
    state, deltas = run(
        fill(Side.BUY, "0.01", "50000", fee="0.225"),
        fill(Side.BUY, "0.01", "49000", fee="0.2205"),
        fill(Side.SELL, "0.02", "50500", fee="0.4545"),
    )
    assert state.position == 0
    assert state.all_time_realized == D("19.1")
    assert sum(deltas) == D("19.1")
    assert state.fees_paid == D("0.9")
    assert state.fill_count == 3


def test_daily_realized_resets_at_utc_midnight() -> None:
    last_ms_of_day = (DAY + 1) * UTC_DAY_MS - 1
    state, _ = run(
        fill(Side.BUY, "1", "100", ts=last_ms_of_day - 10),
        fill(Side.SELL, "1", "104", ts=last_ms_of_day),  # +4 on DAY
    )
    assert (state.daily_day, state.daily_realized) == (DAY, D("4"))
    state, _ = apply_fill(state, fill(Side.BUY, "1", "100", fee="1", ts=last_ms_of_day + 1))
    assert state.daily_day == DAY + 1
    assert state.daily_realized == D("-1")
    assert state.all_time_realized == D("3")
    assert state.daily_realized_for(DAY + 1) == D("-1")
    assert state.daily_realized_for(DAY + 2) == 0


def test_late_fill_of_previous_day_does_not_move_the_day_back() -> None:
    state, _ = run(fill(Side.BUY, "1", "100", fee="2", ts=T0 + UTC_DAY_MS))
    state, _ = apply_fill(state, fill(Side.SELL, "1", "100", fee="1", ts=T0))
    assert state.daily_day == DAY + 1
    assert state.daily_realized == D("-3")


def test_last_fill_time_never_moves_back() -> None:
    state, _ = run(fill(Side.BUY, "1", "100", ts=T0 + 5_000), fill(Side.BUY, "1", "100", ts=T0))
    assert state.last_fill_ms == T0 + 5_000


@pytest.mark.parametrize(
    "bad", [fill(Side.BUY, "1", "100", coin="ETH"), fill(Side.BUY, "0", "100")]
)
def test_foreign_or_empty_fill_is_refused(bad: Fill) -> None:
    with pytest.raises(ValueError):
        apply_fill(BotState.fresh("b1", "BTC", T0), bad)


def test_result_does_not_depend_on_the_callers_decimal_context() -> None:
    fills = [fill(Side.BUY, "1", "100"), fill(Side.BUY, "2", "101"), fill(Side.SELL, "1", "103")]
    expected = replay("b1", "BTC", fills, T0)
    with decimal.localcontext() as ctx:
        ctx.prec = 6
        ctx.rounding = decimal.ROUND_FLOOR
        assert replay("b1", "BTC", fills, T0) == expected
    # 302 / 3 is not exact: many digits kept, not the 6 of the caller's context
    assert len(expected.avg_entry.as_tuple().digits) > 30


def test_a_burst_gives_each_fill_its_effect_and_the_books_of_fill_by_fill() -> None:
    fills = [fill(Side.BUY, "2", "100"), fill(Side.SELL, "3", "110", fee="1")]
    after, effects = apply_fills(BotState.fresh("b1", "BTC", T0), fills)
    # sell 3 @ 110 against a long of 2 @ 100: +20 realized, 1 fee, the last 1 opens a short
    assert [(e.position, e.realized_pnl) for e in effects] == [(D(2), D(0)), (D(-1), D(19))]
    one_by_one = BotState.fresh("b1", "BTC", T0)
    for f in fills:
        one_by_one, _ = apply_fill(one_by_one, f)
    assert after == one_by_one
    assert (after.avg_entry, after.fees_paid, after.fill_count) == (D(110), D(1), 2)


def test_replay_applies_a_correction_between_the_fills_it_followed() -> None:
    # buy 1 @ 100; the exchange then said 3 @ 100 (a correction after 1 fill); sell 1 @ 120
    fills = [fill(Side.BUY, "1", "100"), fill(Side.SELL, "1", "120")]
    corrected = replay("b1", "BTC", fills, T0, [PositionCorrection(1, D(3), D(100))])
    assert (corrected.position, corrected.avg_entry) == (D(2), D(100))
    assert corrected.all_time_realized == D(20)
    at_the_end = replay("b1", "BTC", fills, T0, [PositionCorrection(2, D(3), D(100))])
    assert (at_the_end.position, at_the_end.all_time_realized) == (D(3), D(20))


def test_canonical_form_round_trips_every_field() -> None:
    state, _ = run(fill(Side.BUY, "1.500", "100.10", fee="0.0100"))
    state = attrs.evolve(
        state, halted=True, halt_reason="daily loss", halted_at_ms=T0 + 1, grid_center=D("99.50")
    )
    text = to_canonical(state)
    assert text["position"] == "1.500"  # exact digits, not a normalised number
    assert text["halted"] == "1"
    assert text["grid_center"] == "99.50"
    assert from_canonical(text) == state
    assert to_canonical(BotState.fresh("b", "BTC", 0))["halt_reason"] is None


sizes = st.integers(min_value=1, max_value=5_000).map(lambda n: D(n) / 1000)
prices = st.integers(min_value=1_000, max_value=200_000).map(lambda n: D(n) / 100)
fees = st.integers(min_value=-50, max_value=200).map(lambda n: D(n) / 10_000)
fill_specs = st.lists(
    st.tuples(st.sampled_from([Side.BUY, Side.SELL]), sizes, prices, fees), max_size=30
)


def _fills(specs: list[tuple[Side, Decimal, Decimal, Decimal]]) -> list[Fill]:
    return [
        Fill("paper", "BTC", i, i, None, side, price, size, fee, T0 + i)
        for i, (side, size, price, fee) in enumerate(specs)
    ]


@settings(max_examples=150, deadline=None)
@given(fill_specs, st.randoms(use_true_random=False))
def test_position_is_sum_of_signed_sizes_in_any_order(specs, rnd) -> None:  # type: ignore[no-untyped-def]
    fills = _fills(specs)
    state = replay("b1", "BTC", fills, T0)
    assert state.position == sum((f.signed_size for f in fills), D(0))
    assert state.fill_count == len(fills)
    shuffled = list(fills)
    rnd.shuffle(shuffled)
    assert replay("b1", "BTC", shuffled, T0).position == state.position
    if state.position == 0:
        assert state.avg_entry == 0


@settings(max_examples=150, deadline=None)
@given(fill_specs)
def test_realized_plus_open_cost_equals_cash_flow(specs) -> None:  # type: ignore[no-untyped-def]
    """Conservation: what we paid and received, minus fees, is what we realized plus what the
    open position cost (position × avg entry). Wrong flip or average logic breaks this."""
    fills = _fills(specs)
    state = replay("b1", "BTC", fills, T0)
    with decimal.localcontext() as ctx:
        ctx.prec = 80  # the check's own arithmetic must not round
        cash = sum((-f.signed_size * f.price - f.fee for f in fills), D(0))
        error = cash - (state.all_time_realized - state.position * state.avg_entry)
    # only the 40-digit rounding of a non-terminating average entry may show
    assert abs(error) < D("1e-30")
    assert state.fees_paid == sum((f.fee for f in fills), D(0))
