"""Round trips on hand-computed fill sequences: a grid's buy-low-sell-one-level-higher pairs."""

from __future__ import annotations

from decimal import Decimal

from gridtui.core.types import Fill, Side
from gridtui.state.round_trips import RoundTrips, inventory_pnl

D = Decimal
BUY, SELL = Side.BUY, Side.SELL


def fills(*rows: tuple[Side, str, str, str]) -> list[Fill]:
    """(side, price, size, fee) per fill, in journal order."""
    return [
        Fill("paper", "BTC", i, 100 + i, None, side, D(p), D(s), D(f), 1_000 + i)
        for i, (side, p, s, f) in enumerate(rows)
    ]


def test_a_buy_and_the_sell_one_level_up_are_one_round_trip() -> None:
    book = RoundTrips().add_all(fills((BUY, "99", "0.2", "0.01"), (SELL, "100", "0.2", "0.01")))
    figures = book.figures()
    assert (figures.round_trips, figures.grid_profit, figures.inventory) == (1, D("0.18"), 0)
    assert figures.profit_per_round_trip == D("0.18")  # 1 × 0.2 − 0.01 − 0.01


def test_partial_fills_match_in_part_with_fees_pro_rata() -> None:
    book = RoundTrips()
    assert book.add(fills((BUY, "99", "0.2", "0.02"))[0]) == 0  # opens a leg
    first, second = fills((SELL, "100", "0.1", "0.01"), (SELL, "100", "0.1", "0.01"))
    assert book.add(first) == D("0.08")  # 0.1 × 1 − (0.1 + 0.1) × 0.1
    assert book.figures().round_trips == 0  # half of the buy is still open
    assert book.add(second) == D("0.08")
    assert (book.figures().round_trips, book.figures().inventory) == (1, 0)  # one trip, in parts


def test_a_short_round_trip_sells_high_and_buys_one_level_down() -> None:
    book = RoundTrips().add_all(fills((SELL, "101", "0.2", "0"), (BUY, "100", "0.2", "0")))
    assert (book.figures().round_trips, book.figures().grid_profit) == (1, D("0.2"))


def test_matching_by_price_holds_across_a_re_centering() -> None:
    """Grid at 100 buys at 99 and 98; the price falls, the grid re-centers at 95 and buys at 94;
    a sell at 95 closes the 94 buy, a later sell at 99.5 (the new grid's level) the 99 buy; the
    98 buy stays inventory."""
    book = RoundTrips().add_all(
        fills(
            (BUY, "99", "1", "0"),
            (BUY, "98", "1", "0"),
            (BUY, "94", "1", "0"),
            (SELL, "95", "1", "0"),
            (SELL, "99.5", "1", "0"),
        )
    )
    figures = book.figures()
    assert (figures.round_trips, figures.grid_profit, figures.inventory) == (2, D("1.5"), 1)


def test_a_sell_below_every_buy_closes_inventory_at_a_loss_without_a_round_trip() -> None:
    """A stop-loss sells the position below where it was bought: no round trip, and the open
    legs still add up to the position (flat)."""
    book = RoundTrips().add_all(
        fills((BUY, "99", "0.2", "0"), (BUY, "98", "0.2", "0"), (SELL, "96", "0.4", "0"))
    )
    figures = book.figures()
    assert (figures.round_trips, figures.grid_profit, figures.inventory) == (0, 0, 0)
    assert figures.profit_per_round_trip is None
    # The books' result is all inventory PnL: -0.6 - 0.4 realized, nothing unrealized.
    assert inventory_pnl(D("-1.0"), D(0), figures.grid_profit) == D("-1.0")
