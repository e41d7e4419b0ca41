"""The paper venue charges Hyperliquid's hourly funding on open positions: size × mid × the
hour's rate from the cash (longs pay a positive rate, shorts receive it), the total since each
position opened on the account page, hours the venue was down caught up, all of it kept across
a restart."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D
from pathlib import Path

from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import SimClock
from gridtui.core.types import OrderRequest, Side, Tif
from gridtui.exchanges.sim import SimExchange

HOUR_S = 3600
START = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000 + 60_000  # a minute past an hour
RATE = D("0.0001")
BTC = PaperMarket("BTC", D(100), 2, volatility=0.0)


def settings(path: Path) -> PaperSettings:
    return PaperSettings(
        state_file=path, markets=(BTC,), maker_fee=D(0), taker_fee=D(0), starting_balance=D(1000)
    )


def venue(path: Path, clock: SimClock, rate: D = RATE) -> SimExchange:
    return SimExchange(settings(path), clock, half_spread=D(0), funding=lambda: {"BTC": rate})


async def take(exchange: SimExchange, side: Side, size: str, n: int) -> None:
    price = D(200) if side is Side.BUY else D(50)
    request = OrderRequest("BTC", side, price, D(size), f"0x{n:032x}", Tif.IOC)
    (ack,) = await exchange.place_orders([request])
    assert ack.filled_size == D(size)


async def test_each_hour_an_open_position_pays_and_the_account_page_adds_it_up(
    tmp_path: Path,
) -> None:
    clock = SimClock(START)
    paper = venue(tmp_path / "p.db", clock)
    paper.step(0)  # the venue starts counting hours from here
    await take(paper, Side.BUY, "2", 1)
    mid = (await paper.all_mids())["BTC"]
    clock.advance(HOUR_S)  # into the next hour: its funding falls due
    paper.step(0)
    paid = 2 * mid * RATE
    assert paper.balance == D(1000) - paid
    (btc,) = (await paper.account()).positions
    assert btc.funding_since_open == paid
    paper.step(0)
    assert paper.balance == D(1000) - paid  # once per hour, not per step
    await paper.close()

    clock.advance(3 * HOUR_S)  # down for three hours: the positions were held all the same
    again = venue(tmp_path / "p.db", clock)
    again.step(0)
    assert again.balance == D(1000) - 4 * paid  # mid unchanged (no volatility)
    (btc,) = (await again.account()).positions
    assert btc.funding_since_open == 4 * paid

    await take(again, Side.SELL, "3", 2)  # flips short: a new position, its own funding
    (short,) = (await again.account()).positions
    assert (short.size, short.funding_since_open) == (D(-1), 0)
    clock.advance(HOUR_S)
    again.step(0)
    (short,) = (await again.account()).positions
    assert short.funding_since_open == -1 * mid * RATE  # a short receives a positive rate
    await again.close()


async def test_without_rates_nothing_is_charged_and_the_page_says_it_is_not_known(
    tmp_path: Path,
) -> None:
    clock = SimClock(START)
    paper = SimExchange(settings(tmp_path / "p.db"), clock, half_spread=D(0))
    await take(paper, Side.BUY, "1", 1)
    clock.advance(5 * HOUR_S)
    paper.step(0)
    assert paper.balance == D(1000)
    (btc,) = (await paper.account()).positions
    assert btc.funding_since_open is None
    await paper.close()


async def test_a_state_file_from_before_funding_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    paper = venue(path, SimClock(START))
    await take(paper, Side.BUY, "1", 1)
    await paper.close()
    with sqlite3.connect(path) as conn:  # as the version before funding wrote it
        conn.execute("DROP TABLE funding")
    assert SimExchange.open_readonly(path).positions["BTC"].size == D(1)
