"""The account page's figures: Hyperliquid's liquidation rule, the paper venue computing the same
figures, and where a position would stand once resting orders filled."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from gridtui.books import account_lines
from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.account import (
    AccountSummary,
    PositionRisk,
    distance_pct,
    exposure_after,
    liquidation_price,
    maintenance_margin,
)
from gridtui.core.clock import SimClock
from gridtui.core.types import OrderRequest, Side, Tif
from gridtui.exchanges.sim import SimExchange

NOW = 1_700_000_000_000


def test_at_the_liquidation_price_the_margin_left_is_the_maintenance() -> None:
    # A long of 1 at 100 on a 20 USD account (50x max): 1 USD maintenance, 19 above it.
    liquidation = liquidation_price(D(100), D(1), D(20) - D(1), 50)
    assert liquidation is not None
    value_then = D(20) + (liquidation - D(100))
    assert value_then == pytest.approx(maintenance_margin(D(1), liquidation, 50), abs=D("1e-20"))
    assert D(80) < liquidation < D(81)

    short = liquidation_price(D(100), D(-1), D(19), 50)
    assert short is not None and short > D(100)
    value_then = D(20) - (short - D(100))
    assert value_then == pytest.approx(maintenance_margin(D(-1), short, 50), abs=D("1e-20"))


def test_no_position_or_a_margin_that_covers_a_fall_to_zero_has_no_liquidation_price() -> None:
    assert liquidation_price(D(100), D(0), D(10), 50) is None
    assert liquidation_price(D(100), D(1), D(1000), 50) is None
    assert distance_pct(D(100), None) is None
    assert distance_pct(D(100), D(80)) == D(20)


def account(value: str, maintenance: str = "0") -> AccountSummary:
    return AccountSummary(D(value), D(0), D(value), D(maintenance), (), NOW)


def test_exposure_counts_every_resting_order_filled_and_the_price_at_the_farthest() -> None:
    # 100k account, flat; three buys of 2000 at 99, 98, 97 (the grid the risk gate sees).
    fills = [(D(2000), D(99)), (D(2000), D(98)), (D(2000), D(97))]
    exposure = exposure_after(
        account("100000"), coin="BTC", position=D(0), avg_entry=D(0), mark=D(100), fills=fills,
        max_leverage=50, leverage=None, cross=True,
    )  # fmt: skip
    assert (exposure.size, exposure.price) == (D(6000), D(97))
    # At 97 the account lost 2000×2 + 2000×1 = 6000; maintenance is 6000×97/100 = 5820.
    expected = liquidation_price(D(97), D(6000), D(94000) - D(5820), 50)
    assert exposure.liquidation_price == expected
    assert exposure.distance_pct is not None and D(15) < exposure.distance_pct < D(16)


def test_isolated_exposure_is_backed_by_its_own_margin_only() -> None:
    fills = [(D(-10), D(101))]
    cross = exposure_after(
        account("100000"), coin="BTC", position=D(0), avg_entry=D(0), mark=D(100), fills=fills,
        max_leverage=50, leverage=10, cross=True,
    )  # fmt: skip
    isolated = exposure_after(
        account("100000"), coin="BTC", position=D(0), avg_entry=D(0), mark=D(100), fills=fills,
        max_leverage=50, leverage=10, cross=False,
    )  # fmt: skip
    assert cross.liquidation_price is not None and isolated.liquidation_price is not None
    assert isolated.liquidation_price < cross.liquidation_price  # a short: nearer above
    # 10x isolated: 101 USD of margin, 10.1 maintenance: 90.9 / 10 / 1.01 = 9 above.
    assert isolated.liquidation_price == D(110)


async def test_the_paper_venue_computes_the_account_page() -> None:
    settings = PaperSettings(
        starting_balance=D(1000), markets=(PaperMarket("BTC", D(100), 2),), maker_fee=D(0),
        taker_fee=D(0),
    )  # fmt: skip
    venue = SimExchange.in_memory(settings, SimClock(NOW), half_spread=D(0))
    await venue.update_leverage("BTC", 10)
    (ack,) = await venue.place_orders(
        [OrderRequest("BTC", Side.BUY, D(100), D(20), "0x" + "1" * 32, Tif.IOC)]
    )
    assert ack.filled_size == D(20)
    summary = await venue.account()
    assert summary.account_value == D(1000)
    (btc,) = summary.positions
    assert (btc.size, btc.entry_price, btc.mark, btc.leverage) == (D(20), D(100), D(100), 10)
    assert btc.margin_used == D(200) == summary.margin_used  # 2000 USD at 10x
    assert summary.withdrawable == D(800)
    assert summary.maintenance_margin == maintenance_margin(D(20), D(100), 50)
    assert btc.funding_since_open is None  # the paper venue charges none: not a silent zero
    raw = liquidation_price(D(100), D(20), D(1000) - summary.maintenance_margin, 50)
    assert raw is not None and btc.liquidation_price is not None
    assert btc.liquidation_price >= raw  # on the price grid, rounded toward the mark
    assert btc.liquidation_price - raw < D("0.01")
    await venue.close()


def test_the_status_account_block_is_rounded_for_reading() -> None:
    btc = PositionRisk(
        "BTC", D("-0.015"), D("97042.51234"), D("97100"), 5, False, D("291.3"),
        D("116520.12345678"), D("1.23456"),
    )  # fmt: skip
    eth = PositionRisk("ETH", D("0.5"), D(3000), D(3010), 20, True, D("75.25"), None, None)
    reading = AccountSummary(D("100012.3456"), D("366.55"), D("99645.79"), D(1), (btc, eth), NOW)
    assert account_lines(reading, "MAINNET") == [
        "MAINNET account (read 2023-11-14T22:13:20.000+00:00): value 100,012.35, margin used "
        "366.55, withdrawable 99,645.79",
        "  BTC -0.015 entry 97,042.5 mark 97,100.0, 5x isolated, margin 291.30, liquidation "
        "116,520 (20.0% from the mark), funding paid since open 1.23",
        "  ETH +0.5 entry 3,000.00 mark 3,010.00, 20x cross, margin 75.25, no liquidation "
        "price, funding paid n/a",
    ]
    assert account_lines(None, "PAPER") == [
        "PAPER account: not read (no gridtui process is trading these books)"
    ]


def test_a_projection_past_liquidation_is_at_liquidation_not_far_from_it() -> None:
    # 6000 coins bought down to 97 on a 1000 USD account: nothing is left above maintenance,
    # so the formula's price would land on the wrong side (above 97) and read as far away.
    fills = [(D(2000), D(99)), (D(2000), D(98)), (D(2000), D(97))]
    exposure = exposure_after(
        account("1000"), coin="BTC", position=D(0), avg_entry=D(0), mark=D(100), fills=fills,
        max_leverage=50, leverage=None, cross=True,
    )  # fmt: skip
    assert exposure.liquidation_price == D(97)
    assert exposure.distance_pct == 0


def test_the_reading_of_the_coin_and_what_filled_since_both_count() -> None:
    # The reading saw 1000 coins at 100 (its maintenance 1000); 1000 more filled since at 99.
    held = PositionRisk("BTC", D(1000), D(100), D(100), 50, True, D(2000), None, D(0))
    reading = AccountSummary(D(50000), D(2000), D(48000), D(1000), (held,), NOW, D(40000))
    exposure = exposure_after(
        reading, coin="BTC", position=D(2000), avg_entry=D("99.5"), mark=D(99),
        fills=[(D(1000), D(98))], max_leverage=50, leverage=None, cross=True,
    )  # fmt: skip
    # Backing: the cross value 40000, less 1000×2 (the reading's position, 100 → 98), 1000×1
    # (the fills since, 99 → 98), 0 (the new fill at 98); maintenance: none of other coins,
    # 3000×98/100 for this one.
    value = D(40000) - 2000 - 1000
    expected = liquidation_price(D(98), D(3000), value - D(2940), 50)
    assert exposure.liquidation_price == expected
