"""The paper venue on a live venue's prices: fills only through printed trades, silence is stale.

A fake ``PriceSource`` lists the markets and hands the test the handlers the venue installs, so
each test says exactly which mids and trades the "real" market sent between two steps.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import attrs
import pytest

from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import SimClock
from gridtui.core.types import AssetMeta, ExchangeError, OrderRequest, PlaceStatus, Side, Tif
from gridtui.exchanges.base import FillsReceived, MidUpdated
from gridtui.exchanges.sim import SimExchange, StateFileError
from gridtui.exchanges.sim.live_market import Listing, MidsHandler, TradePrint, TradesHandler
from gridtui.exchanges.sim.vocabulary import FillModel

MAKER = D("0.00015")
START = 1_700_000_000_000
SETTINGS = PaperSettings(maker_fee=MAKER, markets=())
_ids = itertools.count(1)


class FakeSource:
    """Lists BTC (3 size decimals, 20x) at 100 and lets the test speak for the market; the
    clock moves a millisecond before each message, as real time would."""

    def __init__(
        self,
        clock: SimClock,
        mid: D = D(100),
        *,
        fail: ExchangeError | None = None,
        name: str = "fake venue",
    ) -> None:
        self.clock = clock
        self.mid = mid
        self.fail = fail
        self.name = name
        self.asked: list[str] = []
        self.on_mids: MidsHandler | None = None
        self.on_trades: TradesHandler | None = None
        self.closed = False

    async def start(
        self, coins: Collection[str], on_mids: MidsHandler, on_trades: TradesHandler
    ) -> dict[str, Listing]:
        if self.fail is not None:
            raise self.fail
        self.asked = list(coins)
        self.on_mids, self.on_trades = on_mids, on_trades
        return {"BTC": Listing(AssetMeta("BTC", 0, 3, 20), self.mid)} if "BTC" in coins else {}

    async def close(self) -> None:
        self.closed = True

    def mids(self, prices: Mapping[str, str]) -> None:
        assert self.on_mids is not None
        self.clock.advance(0.001)
        self.on_mids({coin: D(px) for coin, px in prices.items()})

    def trades(self, *prints: tuple[str, str]) -> None:
        assert self.on_trades is not None
        self.clock.advance(0.001)
        self.on_trades([TradePrint("BTC", D(px), D(sz)) for px, sz in prints])


def paper(source: FakeSource, settings: PaperSettings = SETTINGS, **kwargs: Any) -> SimExchange:
    """The paper venue on ``source``'s prices for a BTC bot (a state file if ``settings``
    names one)."""
    live: dict[str, Any] = {"source": source, "live_coins": {"BTC"}, "silence_s": 10.0}
    if settings.state_file == SETTINGS.state_file:
        return SimExchange.in_memory(settings, source.clock, **live, **kwargs)
    return SimExchange(settings, source.clock, **live, **kwargs)


def order(side: Side, price: str, size: str, *, tif: Tif = Tif.ALO, reduce_only: bool = False):
    cid = f"0x{next(_ids):032x}"
    return OrderRequest("BTC", side, D(price), D(size), cid, tif=tif, reduce_only=reduce_only)


def drain(queue: asyncio.Queue) -> list:
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


@pytest.fixture
async def live():
    source = FakeSource(SimClock(START))
    venue = paper(source, fill_model=FillModel.STRICT)
    await venue.start()
    yield venue, source
    await venue.close()
    assert source.closed


async def test_the_venues_listing_gives_the_markets_rules(live) -> None:
    venue, _ = live
    meta = await venue.asset_meta("BTC")
    assert (meta.sz_decimals, meta.max_leverage) == (3, 20)
    assert await venue.all_mids() == {"BTC": D(100)}
    (ack,) = await venue.place_orders([order(Side.BUY, "99", "0.0001")])
    assert ack.status is PlaceStatus.ERROR  # below the venue's size precision (3 decimals)
    with pytest.raises(ExchangeError, match="ETH is not listed on fake venue") as refused:
        await venue.asset_meta("ETH")  # the settings' markets are not the venue's
    assert not refused.value.retryable


async def test_a_buy_fills_only_on_trades_printed_below_it_up_to_their_size(live) -> None:
    venue, source = live
    (ack,) = await venue.place_orders([order(Side.BUY, "99", "1")])
    assert ack.status is PlaceStatus.RESTING

    source.mids({"BTC": "98.5"})  # the mid moves through the order, but nobody traded there
    source.trades(("99", "5"), ("99.5", "2"))  # trades at and above the price: the queue held
    venue.step()
    assert await venue.fills_since(0) == []

    source.trades(("98.9", "0.4"))
    venue.step()
    (fill,) = await venue.fills_since(0)
    assert (fill.side, fill.price, fill.size, fill.is_taker) == (Side.BUY, D(99), D("0.4"), False)
    assert fill.fee == D(99) * D("0.4") * MAKER

    source.trades(("98.8", "0.3"), ("98.8", "0.2"), ("97", "9"))
    venue.step()
    fills = await venue.fills_since(0)
    assert sum(f.size for f in fills) == D(1)
    assert {f.price for f in fills} == {D(99)}  # the limit, never the lower trade price
    assert (await venue.positions())["BTC"].size == D(1)


async def test_a_sell_fills_only_on_trades_printed_above_it(live) -> None:
    venue, source = live
    await venue.place_orders([order(Side.SELL, "101", "0.5")])
    source.trades(("101", "3"))
    venue.step()
    assert await venue.fills_since(0) == []
    source.trades(("101.2", "3"))
    venue.step()
    (fill,) = await venue.fills_since(0)
    assert (fill.side, fill.price, fill.size) == (Side.SELL, D(101), D("0.5"))


async def test_touch_fills_at_the_price_strict_does_not() -> None:
    for model, fills in ((FillModel.STRICT, 0), (FillModel.TOUCH, 1)):
        source = FakeSource(SimClock(START))
        venue = paper(source, fill_model=model)
        await venue.start()
        await venue.place_orders([order(Side.BUY, "99", "1")])
        source.trades(("99", "5"))
        venue.step()
        assert len(await venue.fills_since(0)) == fills, model
        await venue.close()


async def test_a_silent_market_streams_no_mid_and_fills_nothing(live) -> None:
    venue, source = live
    queue = venue.subscribe()
    await venue.place_orders([order(Side.BUY, "99", "1")])
    drain(queue)
    venue.step()
    venue.step()
    assert drain(queue) == []  # nothing heard: no mid, so the bots' feed goes stale

    source.mids({"BTC": "100.5"})
    venue.step()
    (event,) = drain(queue)
    assert isinstance(event, MidUpdated) and event.price == D("100.5")
    venue.step()
    assert drain(queue) == []  # one mid, one update: silence again after it

    source.trades(("98", "2"))
    venue.step()
    events = drain(queue)
    assert any(isinstance(e, FillsReceived) for e in events)
    assert [e.price for e in events if isinstance(e, MidUpdated)] == [D("100.5")]


async def test_a_taker_exit_finds_depth_however_small_the_last_trade(live) -> None:
    venue, source = live
    await venue.place_orders([order(Side.BUY, "99", "2")])
    source.trades(("98", "2"))
    venue.step()
    source.mids({"BTC": "99"})
    source.trades(("99", "0.001"))  # a tiny print: the book behind it is still there
    venue.step()
    close = order(Side.SELL, "90", "2", tif=Tif.IOC, reduce_only=True)
    (ack,) = await venue.place_orders([close])
    assert (ack.status, ack.filled_size) == (PlaceStatus.FILLED, D(2))
    assert ack.avg_price is not None and ack.avg_price < D(99)  # at the synthetic bid


async def test_a_venue_that_cannot_list_its_markets_fails_start_and_can_retry() -> None:
    source = FakeSource(SimClock(START), fail=ExchangeError("HTTP 502"))
    venue = paper(source)
    with pytest.raises(ExchangeError, match="HTTP 502"):
        await venue.start()
    source.fail = None
    await venue.start()
    assert await venue.all_mids() == {"BTC": D(100)}
    await venue.close()


async def test_a_restart_keeps_the_account_and_takes_todays_price(tmp_path: Path) -> None:
    settings = PaperSettings(maker_fee=MAKER, state_file=tmp_path / "live.db")
    source = FakeSource(SimClock(START))
    venue = paper(source, settings, fill_model=FillModel.STRICT)
    await venue.start()
    await venue.place_orders([order(Side.BUY, "99", "1"), order(Side.BUY, "95", "1")])
    source.trades(("98", "1"))
    venue.step()
    await venue.close()

    again = paper(FakeSource(SimClock(START), D(120)), settings)
    await again.start()
    assert (await again.positions())["BTC"].size == D(1)
    assert [o.price for o in await again.open_orders("BTC")] == [D(95)]
    assert await again.all_mids() == {"BTC": D(120)}
    assert again.account_value() == settings.starting_balance - D(99) * MAKER + D(21)
    await again.close()


async def test_one_state_file_never_mixes_simulated_and_real_prices(tmp_path: Path) -> None:
    simulated = PaperSettings(
        state_file=tmp_path / "paper.db", markets=(PaperMarket("BTC", D(64000), 5),)
    )
    await SimExchange(simulated, SimClock()).close()
    with pytest.raises(StateFileError, match=r"paper\.db: this paper account traded BTC at "
                       r"simulated prices; .*own state file"):  # fmt: skip
        paper(FakeSource(SimClock(START)), simulated)

    real = PaperSettings(state_file=tmp_path / "live.db")
    venue = paper(FakeSource(SimClock(START), name="Hyperliquid mainnet"), real)
    await venue.start()
    await venue.close()
    with pytest.raises(StateFileError, match="traded BTC at Hyperliquid mainnet prices"):
        SimExchange(attrs.evolve(real, markets=simulated.markets), SimClock())
    # Another network's (or a mock's) prices are another account's too.
    testnet = FakeSource(SimClock(START), name="Hyperliquid testnet")
    with pytest.raises(StateFileError, match="at Hyperliquid testnet prices needs its own"):
        paper(testnet, real)
    same = paper(FakeSource(SimClock(START), name="Hyperliquid mainnet"), real)
    await same.start()
    await same.close()


async def test_memory_between_steps_is_bounded_by_prices_not_trades(live) -> None:
    venue, _ = live
    market = venue._live["BTC"]
    for _ in range(10_000):  # a burst heard within one millisecond
        market.on_trade(D("99.5"), D("0.001"), START + 5)
        market.on_trade(D("100.5"), D("0.001"), START + 5)
    assert len(market._printed) == 2
    ticks: Sequence = market.drain()
    assert [t.volume for t in ticks] == [D(10), D(10), D(0)]


async def test_a_trade_heard_before_an_order_was_placed_never_fills_it(live) -> None:
    venue, source = live
    source.trades(("98", "5"))  # printed (and heard) while no order rested there...
    await venue.place_orders([order(Side.BUY, "99", "1")])  # ...then the buy goes in
    venue.step()
    assert await venue.fills_since(0) == []
    source.trades(("98", "5"))  # the same price again, now behind the resting buy
    venue.step()
    assert [f.size for f in await venue.fills_since(0)] == [D(1)]


async def test_a_market_silent_too_long_has_no_price_and_no_taker_liquidity(live) -> None:
    venue, source = live
    await venue.place_orders([order(Side.BUY, "99", "2")])
    source.trades(("98", "2"))
    venue.step()
    source.clock.advance(11)  # nothing heard for longer than silence_s (10 s)
    venue.step()
    assert await venue.all_mids() == {}  # a poll gets no frozen price to quote around
    close = order(Side.SELL, "90", "2", tif=Tif.IOC, reduce_only=True)
    (refused,) = await venue.place_orders([close])
    assert refused.status is PlaceStatus.ERROR  # nothing fills at a price nobody quotes
    assert (await venue.positions())["BTC"].size == D(2)
    source.mids({"BTC": "99"})  # the venue speaks again
    venue.step()
    assert await venue.all_mids() == {"BTC": D(99)}
    (closed,) = await venue.place_orders([attrs.evolve(close, client_id=f"0x{9:032x}")])
    assert (closed.status, closed.filled_size) == (PlaceStatus.FILLED, D(2))


async def test_coins_the_account_holds_are_listed_even_without_a_bot(tmp_path: Path) -> None:
    settings = PaperSettings(state_file=tmp_path / "live.db")
    venue = paper(FakeSource(SimClock(START)), settings)
    await venue.start()
    await venue.place_orders([order(Side.BUY, "95", "1")])
    await venue.close()
    source = FakeSource(SimClock(START))  # the BTC bot is gone from the config
    again = SimExchange(settings, source.clock, source=source, live_coins={"ETH"})
    await again.start()
    assert source.asked == ["BTC", "ETH"]  # its resting order keeps BTC listed...
    assert await again.cancel_all("BTC") == 1  # ...so it can be swept
    await again.close()


async def test_a_listing_that_cannot_be_written_changes_nothing_and_start_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = FakeSource(SimClock(START))
    venue = paper(source)
    commit = venue._store.commit

    def failing(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(venue._store, "commit", failing)
    with pytest.raises(StateFileError, match="cannot write"):
        await venue.start()
    monkeypatch.setattr(venue._store, "commit", commit)
    await venue.start()  # listed this time, not skipped as if it had been
    assert (await venue.asset_meta("BTC")).sz_decimals == 3
    (ack,) = await venue.place_orders([order(Side.BUY, "99", "1")])
    assert ack.status is PlaceStatus.RESTING  # the engine knows the market too
    await venue.close()
