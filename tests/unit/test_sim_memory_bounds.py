"""The paper venue's memory stays flat however long it trades (issue 8, failure 11).

Ten paper bots grew ~2.8 MB a minute because the matching engine kept every order, cloid, cancel
reason and fill it ever made, and loaded them all back at start. Now it keeps the resting book and
a bounded window of recently finished orders; everything older is answered from the state file:
``order_status`` of the very first order, ``fills_since(0)`` and cloid uniqueness across all
orders ever placed. These tests measure container sizes, not RSS, so they are exact and fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
from collections.abc import Sized
from decimal import Decimal as D
from pathlib import Path

import pytest

from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import SimClock
from gridtui.core.types import (
    ExchangeError,
    Fill,
    OrderRequest,
    OrderStatus,
    PlaceStatus,
    Side,
    Tif,
)
from gridtui.exchanges.base import FillsReceived
from gridtui.exchanges.sim import SimExchange, StateFileError, read_state
from gridtui.exchanges.sim.matching import RECENT_ORDERS
from gridtui.exchanges.sim.persistence import SimStore
from gridtui.exchanges.sim.vocabulary import ERR_DUPLICATE_CLOID

BTC = PaperMarket("BTC", D(64000), 5)
SETTINGS = PaperSettings(seed=5, markets=(BTC,))
SIZE = D("0.01")


def cloids() -> itertools.count[int]:
    return itertools.count(1)


def request(side: Side, price: D, ids: itertools.count[int], *, tif: Tif = Tif.GTC) -> OrderRequest:
    return OrderRequest("BTC", side, price, SIZE, f"0x{next(ids):032x}", tif=tif)


def engine_container_sizes(venue: SimExchange) -> dict[str, int]:
    """Every sized collection the engine holds (whatever its name), by attribute."""
    engine = vars(venue)["_engine"]
    return {k: len(v) for k, v in vars(engine).items() if isinstance(v, Sized)}


def takers(venue: SimExchange, ids: itertools.count[int], pairs: int) -> list[OrderRequest]:
    """``pairs`` crossing IOC buys and sells: each fills at once and finishes."""
    bid, ask = venue.bbo("BTC")
    out = []
    for _ in range(pairs):
        out.append(request(Side.BUY, ask + 50, ids, tif=Tif.IOC))
        out.append(request(Side.SELL, bid - 50, ids, tif=Tif.IOC))
    return out


async def first_order_canceled_by_the_dead_man(
    venue: SimExchange, clock: SimClock, ids: itertools.count[int]
) -> OrderRequest:
    """The account's first order rests, then the dead-man switch cancels it: its final state
    and reason (scheduledCancel) must still be known after thousands of later orders."""
    bid, _ = venue.bbo("BTC")
    first = request(Side.BUY, bid - 500, ids, tif=Tif.ALO)
    [ack] = await venue.place_orders([first])
    assert ack.status is PlaceStatus.RESTING
    await venue.schedule_cancel(clock.now_ms() + 5_000)
    clock.advance(6)
    venue.step()
    assert await venue.open_orders() == []
    return first


async def test_thousands_of_fills_keep_the_engine_bounded_and_history_on_disk() -> None:
    """A resting grid re-placed every tick plus a taker pair per tick: > 4000 fills, > 8000
    orders. The engine's collections never exceed the live book + the recent window, while
    the venue still answers for the first order, every fill and every cloid ever used."""
    clock = SimClock()
    venue = SimExchange.in_memory(SETTINGS, clock)
    stream = venue.subscribe()
    ids = cloids()
    first = await first_order_canceled_by_the_dead_man(venue, clock, ids)
    streamed: list[Fill] = []
    largest: dict[str, int] = {}
    peak_live = 0
    for round_ in range(2_100):
        await venue.cancel_all("BTC")
        bid, ask = venue.bbo("BTC")
        grid = [request(Side.BUY, bid - 20, ids), request(Side.SELL, ask + 20, ids)]
        await venue.place_orders(grid + takers(venue, ids, 1))
        peak_live = max(peak_live, len(await venue.open_orders()))
        clock.advance(0.25)
        venue.step()
        while not stream.empty():
            event = stream.get_nowait()
            if isinstance(event, FillsReceived):
                streamed.extend(event.fills)
        if round_ >= 600:  # past the first window's worth of finished orders
            for name, size in engine_container_sizes(venue).items():
                largest[name] = max(largest.get(name, 0), size)

    assert len(streamed) > 4_000
    assert largest, "the engine exposes no collections to measure"
    assert max(largest.values()) <= RECENT_ORDERS + peak_live, largest

    stored = await venue.fills_since(0)
    assert stored == sorted(streamed, key=lambda f: (f.timestamp_ms, f.trade_id))
    middle = stored[len(stored) // 2].timestamp_ms
    assert await venue.fills_since(middle, "BTC") == [f for f in stored if f.timestamp_ms >= middle]

    by_cloid = await venue.order_status(client_id=first.client_id)
    assert by_cloid is not None and by_cloid.status is OrderStatus.CANCELED
    assert by_cloid.price == first.price
    assert await venue.order_status(exchange_id=by_cloid.exchange_id) == by_cloid
    assert venue.status_word(client_id=first.client_id) == "scheduledCancel"
    [again] = await venue.place_orders([same_cloid(first)])
    assert again.error == ERR_DUPLICATE_CLOID
    [cancel] = await venue.cancel_by_client_ids("BTC", [first.client_id])
    assert (cancel.success, cancel.exchange_id) == (False, by_cloid.exchange_id)
    await venue.close()


def same_cloid(req: OrderRequest) -> OrderRequest:
    """The same cloid again, at a price that would rest: only the cloid makes it a duplicate."""
    return OrderRequest(req.coin, req.side, req.price, req.size, req.client_id, tif=Tif.ALO)


async def test_a_reopened_venue_loads_only_the_live_book(tmp_path: Path) -> None:
    """A restart must not read the whole history into memory: the engine starts with the
    resting orders only, and the history is still answered from the file."""
    path = tmp_path / "paper.db"
    settings = PaperSettings(seed=5, state_file=path, markets=(BTC,))
    clock = SimClock()
    venue = SimExchange(settings, clock)
    ids = cloids()
    first = await first_order_canceled_by_the_dead_man(venue, clock, ids)
    for _ in range(30):  # 30 commits of 40 taker orders: 1200 finished orders and fills
        await venue.place_orders(takers(venue, ids, 20))
        clock.advance(0.25)
        venue.step()
    bid, _ = venue.bbo("BTC")
    resting = request(Side.BUY, bid - 300, ids, tif=Tif.ALO)
    await venue.place_orders([resting])
    fills = await venue.fills_since(0)
    assert len(fills) >= 1_200
    await venue.close()

    reopened = SimExchange(settings, clock)
    sizes = engine_container_sizes(reopened)
    assert max(sizes.values()) <= 1, sizes  # one resting order, one coin
    assert [o.client_id for o in await reopened.open_orders()] == [resting.client_id]
    assert await reopened.fills_since(0) == fills
    old = await reopened.order_status(client_id=first.client_id)
    assert old is not None and old.status is OrderStatus.CANCELED
    assert reopened.status_word(exchange_id=old.exchange_id) == "scheduledCancel"
    [dup] = await reopened.place_orders([same_cloid(first)])
    assert dup.error == ERR_DUPLICATE_CLOID
    await reopened.close()


def test_a_zero_length_state_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """SQLite reads an empty file as a new database: the venue would start over with no
    positions or orders. A truncated state file is an accident to repair, not a new account."""
    path = tmp_path / "paper.db"
    path.touch()
    before = path.stat()
    settings = PaperSettings(seed=5, state_file=path, markets=(BTC,))
    with pytest.raises(StateFileError) as refused:
        SimExchange(settings, SimClock())
    message = str(refused.value)
    assert "\n" not in message and str(path) in message
    assert "empty" in message and "backup" in message and "delete" in message
    with pytest.raises(StateFileError, match="empty"):
        read_state(path)
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (0, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["paper.db"]


def test_a_missing_state_file_is_still_created(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "paper.db"
    settings = PaperSettings(seed=5, state_file=path, markets=(BTC,))
    venue = SimExchange(settings, SimClock())
    asyncio.run(venue.close())
    assert path.stat().st_size > 0
    assert read_state(path).balance == settings.starting_balance


def _plan(conn: sqlite3.Connection, sql: str, *args: object) -> str:
    return " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))


def test_an_existing_file_gets_the_lookup_indexes_when_opened(tmp_path: Path) -> None:
    """A file written before the index existed: opening it adds it, so reconciliation's fill
    query (by coin, from a time) reads only the fills it returns, already in order."""
    path = tmp_path / "paper.db"
    SimStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")]
        for name in names:
            if not name.startswith("sqlite_autoindex"):
                conn.execute(f"DROP INDEX {name}")
    conn.close()

    SimStore(path).close()
    conn = sqlite3.connect(path)
    by_coin = _plan(
        conn,
        "SELECT * FROM fills WHERE coin = ? AND timestamp_ms >= ? ORDER BY timestamp_ms, trade_id",
        "BTC",
        0,
    )
    conn.close()
    assert "USING INDEX" in by_coin and "SCAN" not in by_coin, by_coin
    assert "TEMP B-TREE" not in by_coin, by_coin


async def test_a_failed_history_read_fails_the_call_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reads now reach the state file mid-operation (the cloid check of a batch): a read that
    fails must fail the call as a whole, like a failed write, with nothing half-placed."""
    clock = SimClock()
    venue = SimExchange.in_memory(SETTINGS, clock)
    ids = cloids()
    bid, _ = venue.bbo("BTC")
    [kept] = await venue.place_orders([request(Side.BUY, bid - 100, ids, tif=Tif.ALO)])

    def unreadable(*args: object, **kwargs: object) -> object:
        raise StateFileError("paper.db: unreadable paper orders (disk I/O error)")

    for method in ("client_ids_used", "archived_order", "fills_since"):
        monkeypatch.setattr(SimStore, method, unreadable)
    batch = [request(Side.BUY, bid - 200, ids, tif=Tif.ALO)]
    with pytest.raises(ExchangeError, match="disk I/O error"):
        await venue.place_orders(batch)
    never_placed = f"0x{next(ids):032x}"  # looked up in the file after the first cancel
    with pytest.raises(ExchangeError, match="disk I/O error"):
        await venue.cancel_by_client_ids("BTC", [str(kept.client_id), never_placed])
    with pytest.raises(ExchangeError, match="disk I/O error"):
        await venue.fills_since(0)
    assert [o.exchange_id for o in await venue.open_orders()] == [kept.exchange_id]

    monkeypatch.undo()
    [placed] = await venue.place_orders(batch)  # the same cloid was never taken
    assert placed.status is PlaceStatus.RESTING
    await venue.close()
