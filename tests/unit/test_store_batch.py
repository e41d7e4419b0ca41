"""A burst of fills is one journal transaction: all of it or none of it, duplicates are no-ops.

Issue 8 (journal throughput): a burst from one exchange message is journaled with one commit, and a
failure anywhere in it leaves fills, position and orders as they were — on disk and in memory.
"""

from __future__ import annotations

import contextlib
import sqlite3
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from bot_kit import Env, EnvFactory, use_dedup

from gridtui.core.events import OrderFilled
from gridtui.core.types import Fill, OrderRequest, OrderStatus, Side
from gridtui.execution.fill_deduplicator import FillDeduplicator
from gridtui.orchestrator.factory import BotComponents
from gridtui.state.accounting import BotState, replay
from gridtui.state.store import JournalWriteError

D = Decimal
T0 = 1_700_000_000_000
BUY_CID = "0x" + "b" * 32
SELL_CID = "0x" + "5" * 32


def fill(tid: int, side: Side = Side.BUY, size: str = "1", price: str = "100", **kw) -> Fill:  # type: ignore[no-untyped-def]
    cid, oid = (BUY_CID, 11) if side is Side.BUY else (SELL_CID, 22)
    base = Fill("paper", "BTC", tid, oid, cid, side, D(price), D(size), D("0.03"), T0 + tid)
    return attrs.evolve(base, **kw)


@pytest.fixture
def env(make_env: EnvFactory) -> Env:
    return make_env(start_ms=T0 + 10_000)


@pytest.fixture(autouse=True)
def resting(bot: BotComponents) -> None:
    """Every test's bot has a buy at 100 (exchange id 11) and a sell at 110 (22) resting."""
    for cid, side, price, oid in ((BUY_CID, Side.BUY, "100", 11), (SELL_CID, Side.SELL, "110", 22)):
        bot.ledger.add_pending(
            OrderRequest("BTC", side, D(price), D("1000"), cid), level=None, generation=0
        )
        bot.ledger.on_ack(cid, oid)


def on_disk(path: Path) -> tuple[int, tuple[object, ...], dict[str, str]]:
    """Fills, state row and orders' filled amounts as another process reads them."""
    with contextlib.closing(sqlite3.connect(path)) as other, other:
        fills = other.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
        state = other.execute("SELECT position, fill_count, all_time_realized FROM state")
        orders = dict(other.execute("SELECT client_id, filled FROM orders").fetchall())
        return fills, tuple(state.fetchone()), orders


def burst() -> list[Fill]:
    return [
        fill(1, Side.BUY, "2", "100"),
        fill(2, Side.SELL, "1", "110"),
        fill(3, Side.BUY, "0.5", "99"),
        fill(4, Side.SELL, "3", "111"),
    ]


def test_a_burst_is_journaled_with_one_commit(bot: BotComponents) -> None:
    statements: list[str] = []
    bot.store._conn.set_trace_callback(statements.append)
    results = bot.processor.process_fills(burst())
    bot.store._conn.set_trace_callback(None)
    assert [r.applied for r in results] == [True] * 4
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    # fills, state row and both orders' amounts are all in that one commit
    realized = str(bot.state.get_snapshot().all_time_realized)
    assert D(realized) == D("26.88")
    assert on_disk(bot.store.path) == (4, ("-1.5", "4", realized), {BUY_CID: "2.5", SELL_CID: "4"})


def test_burst_books_equal_fill_by_fill_replay(env: Env, bot: BotComponents) -> None:
    fills = burst()
    results = bot.processor.process_fills(list(reversed(fills)))  # execution order is restored
    expected = replay("b1", "BTC", fills, bot.state.get_snapshot().session_start_ms)
    after = bot.state.get_snapshot()
    assert after.position == results[-1].position
    for name in ("position", "avg_entry", "all_time_realized", "fees_paid", "fill_count"):
        assert getattr(after, name) == getattr(expected, name)
    assert sum(r.realized_delta for r in results) == expected.all_time_realized
    assert [f.trade_id for f in bot.store.applied_fills()] == [1, 2, 3, 4]
    deltas = [e.realized_pnl for e in env.events if isinstance(e, OrderFilled)]
    assert deltas == [r.realized_delta for r in results]


def test_a_state_write_failing_after_the_fills_were_inserted_leaves_nothing(
    env: Env, bot: BotComponents, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot.processor.process_fills([fill(1, Side.BUY, "1", "100")])
    before_disk = on_disk(bot.store.path)
    before_state = bot.state.get_snapshot()
    before_orders = {o.client_id: o for o in bot.ledger.live()}

    write = bot.store._write_state

    def disk_full(state: BotState) -> None:
        if state.fill_count == 3:  # the state after the burst's last fill; inserts are done
            raise sqlite3.OperationalError("database or disk is full")
        write(state)

    monkeypatch.setattr(bot.store, "_write_state", disk_full)
    fills = [fill(2, Side.BUY, "1", "99"), fill(3, Side.SELL, "2", "112")]
    with pytest.raises(JournalWriteError):
        bot.processor.process_fills(fills)
    assert on_disk(bot.store.path) == before_disk
    assert bot.state.get_snapshot() is before_state
    assert {o.client_id: o for o in bot.ledger.live()} == before_orders
    assert not any(bot.dedup.seen(f.key) for f in fills)
    assert not [e for e in env.events if isinstance(e, OrderFilled) and e.trade_id in (2, 3)]

    monkeypatch.undo()  # the same burst, retried, is applied whole
    assert [r.applied for r in bot.processor.process_fills(fills)] == [True, True]
    assert bot.state.get_snapshot().position == D(0)
    assert on_disk(bot.store.path)[0] == 3


def test_a_bad_fill_in_the_middle_of_a_burst_rolls_the_whole_burst_back(bot: BotComponents) -> None:
    before_disk = on_disk(bot.store.path)
    fills = [fill(1), fill(2, Side.SELL, "1", "110"), fill(3, size="0"), fill(4)]
    with pytest.raises(ValueError, match="size 0"):
        bot.processor.process_fills(fills)
    assert on_disk(bot.store.path) == before_disk
    assert bot.state.get_snapshot().fill_count == 0
    assert bot.ledger.get(BUY_CID).filled == 0  # type: ignore[union-attr]


def test_an_order_update_failing_rolls_back_fills_and_state(
    bot: BotComponents, monkeypatch: pytest.MonkeyPatch
) -> None:
    before_disk = on_disk(bot.store.path)

    def broken(*_args: object, **_kw: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(bot.store, "update_order", broken)
    with pytest.raises(JournalWriteError, match="disk I/O error"):
        bot.processor.process_fills(burst())
    assert on_disk(bot.store.path) == before_disk
    assert bot.state.get_snapshot().fill_count == 0
    assert bot.ledger.get(SELL_CID).status is OrderStatus.OPEN  # type: ignore[union-attr]


def test_duplicates_within_a_burst_and_across_bursts_are_no_ops(
    env: Env, bot: BotComponents
) -> None:
    first = bot.processor.process_fills([fill(1), fill(2, Side.SELL, "1", "110"), fill(1)])
    assert [(r.fill.trade_id, r.applied) for r in first] == [(1, True), (1, False), (2, True)]
    after_first = bot.state.get_snapshot()
    assert (after_first.position, after_first.fill_count) == (D(0), 2)

    second = bot.processor.process_fills([fill(2, Side.SELL, "1", "110"), fill(3)])
    assert [(r.fill.trade_id, r.applied) for r in second] == [(2, False), (3, True)]
    assert second[0].position == after_first.position  # a duplicate changes nothing
    assert second[0].realized_delta == 0
    assert bot.store.fill_count() == 3
    assert bot.ledger.get(BUY_CID).filled == D(2)  # type: ignore[union-attr]
    filled_events = [e.trade_id for e in env.events if isinstance(e, OrderFilled)]
    assert filled_events == [1, 2, 3]


def test_a_duplicate_the_bounded_memory_forgot_is_caught_by_the_journal(bot: BotComponents) -> None:
    dedup = use_dedup(bot, FillDeduplicator(bot.store, capacity=2))
    bot.processor.process_fills([fill(i, price=str(100 + i)) for i in range(1, 6)])
    assert len(dedup) == 2 and not dedup.seen(fill(1).key)
    before = bot.state.get_snapshot()
    again = bot.processor.process_fills([fill(1, price="101"), fill(2, price="102")])
    assert [r.duplicate for r in again] == [True, True]
    assert bot.state.get_snapshot() == before
    assert bot.store.fill_count() == 5


def test_memory_only_moves_when_the_enclosing_transaction_commits(bot: BotComponents) -> None:
    before = bot.state.get_snapshot()
    with pytest.raises(RuntimeError), bot.store.transaction():
        bot.state.apply_fills_sync([fill(1)])
        bot.ledger.on_cancel_requested(BUY_CID)
        assert bot.ledger.get(BUY_CID).status is OrderStatus.PENDING_CANCEL  # type: ignore[union-attr]
        assert bot.state.get_snapshot() is before  # staged, not published
        raise RuntimeError("something later in the transaction failed")
    assert bot.state.get_snapshot() is before
    assert bot.ledger.get(BUY_CID).status is OrderStatus.OPEN  # type: ignore[union-attr]
    assert bot.ledger.live_count() == 2
    assert on_disk(bot.store.path)[0] == 0
