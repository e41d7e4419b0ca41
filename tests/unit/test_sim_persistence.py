"""The paper venue's state file: exact resume, SIGKILL safety, read-only inspection, bad files."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import SimClock
from gridtui.core.types import ExchangeError, OrderRequest, Side
from gridtui.exchanges.sim import SimExchange, StateFileError, read_state
from gridtui.exchanges.sim.persistence import SimStore

MARKETS = (PaperMarket("BTC", D(64000), 5), PaperMarket("ETH", D(3000), 4))


def settings(path: Path) -> PaperSettings:
    return PaperSettings(seed=21, state_file=path, markets=MARKETS)


def grid() -> list[OrderRequest]:
    levels = [("BTC", Side.BUY, "63950"), ("BTC", Side.BUY, "63900"), ("BTC", Side.SELL, "64050")]
    levels += [("BTC", Side.SELL, "64100"), ("ETH", Side.BUY, "2995"), ("ETH", Side.SELL, "3100")]
    levels += [("BTC", Side.BUY, "64500")]  # crosses: an immediate taker fill
    return [
        OrderRequest(coin, side, D(price), D("0.01"), f"0x{i:032x}")
        for i, (coin, side, price) in enumerate(levels, start=1)
    ]


async def trade(venue: SimExchange, clock: SimClock, steps: int) -> None:
    await venue.place_orders(grid())
    for _ in range(steps):
        clock.advance(0.25)
        venue.step()


async def snapshot(venue: SimExchange) -> tuple:
    return (
        await venue.open_orders(),
        await venue.fills_since(0),
        await venue.positions(),
        venue.balance,
        await venue.all_mids(),
    )


async def test_reopened_venue_is_exactly_as_left_and_continues_the_same_market(tmp_path):
    path = tmp_path / "paper.db"
    clock = SimClock()
    first = SimExchange(settings(path), clock)
    await trade(first, clock, 60)
    before = await snapshot(first)
    open_orders, fills, positions = before[:3]
    assert open_orders and len(fills) > 1 and positions  # the scenario really traded
    await first.close()

    reopened_clock = SimClock(clock.now_ms())
    reopened = SimExchange(settings(path), reopened_clock)
    assert await snapshot(reopened) == before

    reference_clock = SimClock()
    reference = SimExchange.in_memory(settings(path), reference_clock)
    await trade(reference, reference_clock, 60)
    assert await snapshot(reference) == before
    for _ in range(60):
        reference_clock.advance(0.25)
        reopened_clock.advance(0.25)
        reference.step()
        reopened.step()
        assert await reopened.all_mids() == await reference.all_mids()
    assert await snapshot(reopened) == await snapshot(reference)
    await reopened.close()
    await reference.close()


async def test_dead_man_switch_and_status_words_survive_a_restart(tmp_path):
    path = tmp_path / "paper.db"
    clock = SimClock()
    first = SimExchange(settings(path), clock)
    acks = await first.place_orders(grid()[:2])
    await first.cancel_orders("BTC", [acks[0].exchange_id])
    await first.schedule_cancel(clock.now_ms() + 30_000)
    await first.close()

    clock.advance(31)
    second = SimExchange(settings(path), clock)
    assert second.status_word(exchange_id=acks[0].exchange_id) == "canceled"
    second.step()
    assert await second.open_orders() == []
    assert second.status_word(exchange_id=acks[1].exchange_id) == "scheduledCancel"
    await second.close()


KILLED_RUN = """
import asyncio, json, os, signal, sys
from decimal import Decimal as D
from pathlib import Path
from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import SimClock
from gridtui.core.types import OrderRequest, Side
from gridtui.exchanges.sim import SimExchange

async def main():
    clock = SimClock()
    markets = (PaperMarket("BTC", D(64000), 5),)
    venue = SimExchange(PaperSettings(seed=5, state_file=Path(sys.argv[1]), markets=markets), clock)
    acks = await venue.place_orders([
        OrderRequest("BTC", Side.BUY, D(price), D("0.01"), "0x" + str(n) * 32)
        for n, price in ((1, "63980"), (2, "64500"), (3, "63000"))
    ])
    for _ in range(40):
        clock.advance(0.25)
        venue.step()
    fills = await venue.fills_since(0)
    report = {
        "orders": [a.exchange_id for a in acks],
        "fills": [f.trade_id for f in fills],
        "balance": str(venue.balance),
        "mid": str((await venue.all_mids())["BTC"]),
    }
    print(json.dumps(report), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def test_sigkill_after_acknowledgement_loses_nothing(tmp_path):
    path = tmp_path / "paper.db"
    run = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(path)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    acked = json.loads(run.stdout)
    assert acked["fills"]

    stored = read_state(path)
    assert [f.trade_id for f in stored.fills] == acked["fills"]
    assert str(stored.balance) == acked["balance"]
    assert str(stored.mids["BTC"]) == acked["mid"]
    assert {o.exchange_id for o in stored.records.orders} == set(acked["orders"])


async def test_read_only_view_shows_positions_orders_and_fills(tmp_path):
    path = tmp_path / "paper.db"
    clock = SimClock()
    venue = SimExchange(settings(path), clock)
    await trade(venue, clock, 10)
    expected = await snapshot(venue)
    view = SimExchange.open_readonly(path)  # while the venue still has it open
    assert list(view.open_orders) == expected[0]
    assert list(view.fills) == expected[1]
    assert view.positions == expected[2]
    assert view.balance == expected[3]
    await venue.close()


def test_unusable_state_files_are_one_line_errors(tmp_path):
    with pytest.raises(StateFileError, match="no such paper state file"):
        read_state(tmp_path / "missing.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateFileError, match=r"garbage\.db"):
        read_state(garbage)
    with pytest.raises(StateFileError, match=r"garbage\.db"):
        SimExchange(settings(garbage), SimClock())
    future = tmp_path / "future.db"
    SimStore(future).close()
    with sqlite3.connect(future) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StateFileError, match="schema version 99, expected 1") as info:
        SimExchange(settings(future), SimClock())
    assert "\n" not in str(info.value)


async def test_a_failed_write_acknowledges_nothing_and_rolls_the_venue_back(tmp_path, monkeypatch):
    path = tmp_path / "paper.db"
    venue = SimExchange(settings(path), SimClock())
    [kept] = await venue.place_orders(grid()[:1])
    queue = venue.subscribe()
    real_commit = SimStore.commit

    def failing_commit(self, records, path_states):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(SimStore, "commit", failing_commit)
    with pytest.raises(ExchangeError, match="disk I/O error") as info:
        await venue.place_orders(grid()[1:3])
    assert info.value.retryable
    assert queue.empty()
    assert [o.exchange_id for o in await venue.open_orders()] == [kept.exchange_id]
    with pytest.raises(ExchangeError):
        venue.step()
    assert await venue.all_mids() == {"BTC": D(64000), "ETH": D(3000)}

    monkeypatch.setattr(SimStore, "commit", real_commit)
    acks = await venue.place_orders(grid()[1:3])
    assert [a.exchange_id for a in acks] == [kept.exchange_id + 1, kept.exchange_id + 2]
    await venue.close()
