"""The ladder view says why a level is empty: an order lost ("missing") or a post-only level held
back because it would cross the mid ("would cross", issue 8 item 6)."""

from __future__ import annotations

from decimal import Decimal

from gridtui.core.types import OrderStatus, Side
from gridtui.orchestrator.view import LevelStatus, ladder

PRICES = tuple(Decimal(p) for p in ("98", "99", "100", "101", "102"))
SIZES = (Decimal("0.01"),) * 5


def _statuses(
    mark: Decimal | None, live: dict[tuple[int, Side], OrderStatus]
) -> dict[int, tuple[Side | None, LevelStatus]]:
    rows = ladder(PRICES, SIZES, 0, live, {}, mark, now_ms=1_000_000)
    return {row.index: (row.side, row.status) for row in rows}


def test_an_empty_level_that_would_cross_the_mid_says_so() -> None:
    # The mid moved up past the first sell (stale center): a post-only sell at 101 would take.
    live = {(-2, Side.BUY): OrderStatus.OPEN, (2, Side.SELL): OrderStatus.OPEN}
    rows = _statuses(Decimal("101.5"), live)
    assert rows[1] == (Side.SELL, LevelStatus.WOULD_CROSS)
    assert rows[-1] == (Side.BUY, LevelStatus.MISSING)  # below the mid: an order belongs there
    assert rows[2] == (Side.SELL, LevelStatus.RESTING)
    assert LevelStatus.WOULD_CROSS.value == "would cross"


def test_a_buy_at_the_mid_would_cross_and_an_order_there_still_shows() -> None:
    rows = _statuses(Decimal("99"), {(-1, Side.BUY): OrderStatus.OPEN})
    assert rows[-1] == (Side.BUY, LevelStatus.RESTING)  # what rests is shown as it is
    rows = _statuses(Decimal("99"), {})
    assert rows[-1] == (Side.BUY, LevelStatus.WOULD_CROSS)  # at the mid: Alo would be refused
    assert rows[-2] == (Side.BUY, LevelStatus.MISSING)
    assert rows[0] == (None, LevelStatus.MISSING)  # the gap holds no order by design


def test_without_a_mid_nothing_is_said_to_cross() -> None:
    rows = _statuses(None, {})
    assert {status for _, status in rows.values()} == {LevelStatus.MISSING}


def test_a_sell_a_long_grid_does_not_hold_inventory_for_says_not_held() -> None:
    wanted = frozenset({(-2, Side.BUY), (-1, Side.BUY), (1, Side.SELL)})  # holds one level's worth
    rows = ladder(PRICES, SIZES, 0, {}, {}, Decimal(100), now_ms=1_000_000, wanted=wanted)
    by_index = {row.index: row.status for row in rows}
    assert by_index[2] is LevelStatus.NOT_HELD  # nothing to sell there: not an order lost
    assert by_index[1] is LevelStatus.MISSING and by_index[-1] is LevelStatus.MISSING


def test_a_halted_bots_levels_read_canceled_even_just_after_a_fill() -> None:
    filled = {-1: 1_000_000 - 5_000}  # filled 5 s ago, then the bot halted
    rows = ladder(PRICES, SIZES, 0, {}, filled, Decimal(100), 1_000_000, halted=True)
    by_index = {row.index: row.status for row in rows}
    assert {by_index[i] for i in (-2, -1, 1, 2)} == {LevelStatus.CANCELED}


def test_a_level_risk_refused_says_which_limit() -> None:
    refused = {(-2, Side.BUY): "position limit"}
    rows = ladder(PRICES, SIZES, 0, {}, {}, Decimal(100), 1_000_000, None, refused)
    by_index = {row.index: (row.status, row.why) for row in rows}
    assert by_index[-2] == (LevelStatus.MISSING, "position limit")
    assert by_index[-1] == (LevelStatus.MISSING, None)
