"""Paper venue ids never repeat, even when the state file loses its newest transactions.

Losing ``paper.db-wal`` (or a crash that loses it) rolls the state file back to its last
checkpoint, counters included; the bots' journals still hold the trade ids handed out since, and
drop any fill that reuses one as "already journaled". The tests roll a state file back exactly
that way: they copy the main database file while the venue still holds its WAL (nothing is
checkpointed before 1000 pages or a clean close), then reopen the copy later on the clock.
"""

from __future__ import annotations

import shutil
import sqlite3
from decimal import Decimal as D
from pathlib import Path

from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import SimClock
from gridtui.core.types import Fill, OrderRequest, PlaceAck, Side, Tif
from gridtui.exchanges.sim import SimExchange

T0 = 1_700_000_000_000
MAX_WIRE_ID = 2**53 - 1
"""The largest integer every JSON consumer (a double) reads exactly."""
MARKETS = (PaperMarket("BTC", D(64000), 5),)


def settings(path: Path) -> PaperSettings:
    return PaperSettings(seed=5, state_file=path, markets=MARKETS)


async def trade(venue: SimExchange, clock: SimClock, n: int) -> tuple[list[PlaceAck], list[Fill]]:
    """``n`` resting buys below the market and ``n`` taker buys (a fill each), then a few steps
    so the market can fill resting ones as maker too; returns the acks and the new fills."""
    known = {f.trade_id for f in await venue.fills_since(0)}
    below = [OrderRequest("BTC", Side.BUY, D(63990 - i), D("0.001"), "") for i in range(n)]
    takers = [
        OrderRequest("BTC", Side.BUY, D(65000), D("0.001"), "", tif=Tif.IOC) for _ in range(n)
    ]
    acks = await venue.place_orders(below + takers)
    for _ in range(20):
        clock.advance(0.5)
        venue.step()
    fills = [f for f in await venue.fills_since(0) if f.trade_id not in known]
    return acks, fills


def ids(acks: list[PlaceAck], fills: list[Fill]) -> tuple[set[int], set[int]]:
    oids = {a.exchange_id for a in acks if a.exchange_id is not None}
    return oids, {f.trade_id for f in fills}


async def test_a_lost_wal_never_makes_the_venue_reuse_trade_or_order_ids(tmp_path: Path) -> None:
    path, rolled_back = tmp_path / "paper.db", tmp_path / "lost" / "paper.db"
    clock = SimClock(T0)
    first = SimExchange(settings(path), clock)
    checkpointed = ids(*await trade(first, clock, 3))
    await first.close()  # a clean close checkpoints: this part survives anything

    second = SimExchange(settings(path), clock)
    lost_oids, lost_tids = ids(*await trade(second, clock, 60))  # many ids in a few ms
    assert lost_tids and lost_oids  # the scenario really traded after the checkpoint
    rolled_back.parent.mkdir()
    shutil.copyfile(path, rolled_back)  # the main file alone: what is left without its WAL
    await second.close()
    with sqlite3.connect(rolled_back) as conn:  # it really lost the second session
        stored = {row[0] for row in conn.execute("SELECT trade_id FROM fills")}
    assert stored == checkpointed[1]

    clock.advance(1.0)  # the restart happens later than the lost work, as restarts do
    third = SimExchange(settings(rolled_back), clock)
    new_oids, new_tids = ids(*await trade(third, clock, 3))
    await third.close()
    assert new_tids and new_oids
    assert not new_tids & (lost_tids | checkpointed[1])
    assert not new_oids & (lost_oids | checkpointed[0])


async def test_ids_are_deterministic_under_a_simulated_clock_and_fit_json(tmp_path: Path) -> None:
    """Same settings, same clock: the same ids (backtests and tests replay exactly); every id
    is an int a JSON consumer reads exactly (< 2**53) and ids only grow."""
    runs = []
    for name in ("a", "b"):
        clock = SimClock(T0)
        venue = SimExchange(settings(tmp_path / name / "paper.db"), clock)
        acks, fills = await trade(venue, clock, 4)
        acks2, fills2 = await trade(venue, clock, 4)
        await venue.close()
        runs.append(([a.exchange_id for a in acks + acks2], [f.trade_id for f in fills + fills2]))
    assert runs[0] == runs[1]
    oids, tids = runs[0]
    for sequence in (oids, tids):
        assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)
        assert all(isinstance(i, int) and 0 < i <= MAX_WIRE_ID for i in sequence)
