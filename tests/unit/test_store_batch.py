"""A burst of fills is one journal transaction: all of it or none of it, duplicates are no-ops.

Issue 8 (journal throughput): a burst from one exchange message is journaled with one commit, and a
failure anywhere in it leaves fills, position and orders as they were — on disk and in memory.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from gridtui.core.clock import SimClock
from gridtui.core.events import Event, EventBus, OrderFilled
from gridtui.core.types import Fill, OrderRequest, OrderStatus, Side
from gridtui.execution.fill_deduplicator import FillDeduplicator
from gridtui.execution.fill_processor import FillProcessor
from gridtui.execution.order_state_machine import OrderStateMachine
from gridtui.state.accounting import BotState, replay
from gridtui.state.shadow_ledger import ShadowLedger
from gridtui.state.state_manager import StateManager
from gridtui.state.store import JournalWriteError, Store

D = Decimal
T0 = 1_700_000_000_000
BUY_CID = "0x" + "b" * 32
SELL_CID = "0x" + "5" * 32


def fill(tid: int, side: Side = Side.BUY, size: str = "1", price: str = "100", **kw) -> Fill:  # type: ignore[no-untyped-def]
    cid, oid = (BUY_CID, 11) if side is Side.BUY else (SELL_CID, 22)
    base = Fill("paper", "BTC", tid, oid, cid, side, D(price), D(size), D("0.03"), T0 + tid)
    return attrs.evolve(base, **kw)


@attrs.define
class Rig:
    path: Path
    store: Store
    state: StateManager
    ledger: ShadowLedger
    dedup: FillDeduplicator
    processor: FillProcessor
    events: list[Event]


def build(path: Path, *, dedup_capacity: int | None = None) -> Rig:
    clock = SimClock(T0 + 10_000)
    store = Store(path, venue="paper", bot="b1", coin="BTC")
    state = StateManager(store, clock, bot="b1", coin="BTC")
    ledger = ShadowLedger(store, OrderStateMachine(), clock)
    if dedup_capacity is None:
        dedup = FillDeduplicator(store)
    else:
        dedup = FillDeduplicator(store, capacity=dedup_capacity)
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    processor = FillProcessor(state, dedup, ledger, bus, clock)
    for cid, side, price, oid in ((BUY_CID, Side.BUY, "100", 11), (SELL_CID, Side.SELL, "110", 22)):
        ledger.add_pending(
            OrderRequest("BTC", side, D(price), D("1000"), cid), level=None, generation=0
        )
        ledger.mark(cid, OrderStatus.OPEN, exchange_id=oid)
    return Rig(path, store, state, ledger, dedup, processor, events)


@pytest.fixture
def rig(tmp_path: Path):  # type: ignore[no-untyped-def]
    r = build(tmp_path / "b1.db")
    yield r
    r.store.close()


def on_disk(path: Path) -> tuple[int, tuple[object, ...], dict[str, str]]:
    """Fills, state row and orders' filled amounts as another process reads them."""
    with sqlite3.connect(path) as other:
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


def test_a_burst_is_journaled_with_one_commit(rig: Rig) -> None:
    statements: list[str] = []
    rig.store._conn.set_trace_callback(statements.append)
    results = rig.processor.process_fills(burst())
    rig.store._conn.set_trace_callback(None)
    assert [r.applied for r in results] == [True] * 4
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    # fills, state row and both orders' amounts are all in that one commit
    realized = str(rig.state.get_snapshot().all_time_realized)
    assert D(realized) == D("26.88")
    assert on_disk(rig.path) == (4, ("-1.5", "4", realized), {BUY_CID: "2.5", SELL_CID: "4"})


def test_burst_books_equal_fill_by_fill_replay(rig: Rig) -> None:
    fills = burst()
    results = rig.processor.process_fills(list(reversed(fills)))  # execution order is restored
    expected = replay("b1", "BTC", fills, rig.state.get_snapshot().session_start_ms)
    after = rig.state.get_snapshot()
    assert after.position == results[-1].position
    for name in ("position", "avg_entry", "all_time_realized", "fees_paid", "fill_count"):
        assert getattr(after, name) == getattr(expected, name)
    assert sum(r.realized_delta for r in results) == expected.all_time_realized
    assert [f.trade_id for f in rig.store.applied_fills()] == [1, 2, 3, 4]
    deltas = [e.realized_pnl for e in rig.events if isinstance(e, OrderFilled)]
    assert deltas == [r.realized_delta for r in results]


def test_a_state_write_failing_after_the_fills_were_inserted_leaves_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.processor.process_fills([fill(1, Side.BUY, "1", "100")])
    before_disk = on_disk(rig.path)
    before_state = rig.state.get_snapshot()
    before_orders = {o.client_id: o for o in rig.ledger.live()}

    write = rig.store._write_state

    def disk_full(state: BotState) -> None:
        if state.fill_count == 3:  # the state after the burst's last fill; inserts are done
            raise sqlite3.OperationalError("database or disk is full")
        write(state)

    monkeypatch.setattr(rig.store, "_write_state", disk_full)
    fills = [fill(2, Side.BUY, "1", "99"), fill(3, Side.SELL, "2", "112")]
    with pytest.raises(JournalWriteError):
        rig.processor.process_fills(fills)
    assert on_disk(rig.path) == before_disk
    assert rig.state.get_snapshot() is before_state
    assert {o.client_id: o for o in rig.ledger.live()} == before_orders
    assert not any(rig.dedup.seen(f.key) for f in fills)
    assert not [e for e in rig.events if isinstance(e, OrderFilled) and e.trade_id in (2, 3)]

    monkeypatch.undo()  # the same burst, retried, is applied whole
    assert [r.applied for r in rig.processor.process_fills(fills)] == [True, True]
    assert rig.state.get_snapshot().position == D(0)
    assert on_disk(rig.path)[0] == 3


def test_a_bad_fill_in_the_middle_of_a_burst_rolls_the_whole_burst_back(rig: Rig) -> None:
    before_disk = on_disk(rig.path)
    fills = [fill(1), fill(2, Side.SELL, "1", "110"), fill(3, size="0"), fill(4)]
    with pytest.raises(ValueError, match="size 0"):
        rig.processor.process_fills(fills)
    assert on_disk(rig.path) == before_disk
    assert rig.state.get_snapshot().fill_count == 0
    assert rig.ledger.get(BUY_CID).filled == 0  # type: ignore[union-attr]


def test_an_order_update_failing_rolls_back_fills_and_state(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    before_disk = on_disk(rig.path)

    def broken(*_args: object, **_kw: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(rig.store, "update_order", broken)
    with pytest.raises(JournalWriteError, match="disk I/O error"):
        rig.processor.process_fills(burst())
    assert on_disk(rig.path) == before_disk
    assert rig.state.get_snapshot().fill_count == 0
    assert rig.ledger.get(SELL_CID).status is OrderStatus.OPEN  # type: ignore[union-attr]


def test_duplicates_within_a_burst_and_across_bursts_are_no_ops(rig: Rig) -> None:
    first = rig.processor.process_fills([fill(1), fill(2, Side.SELL, "1", "110"), fill(1)])
    assert [(r.fill.trade_id, r.applied) for r in first] == [(1, True), (1, False), (2, True)]
    after_first = rig.state.get_snapshot()
    assert (after_first.position, after_first.fill_count) == (D(0), 2)

    second = rig.processor.process_fills([fill(2, Side.SELL, "1", "110"), fill(3)])
    assert [(r.fill.trade_id, r.applied) for r in second] == [(2, False), (3, True)]
    assert second[0].position == after_first.position  # a duplicate changes nothing
    assert second[0].realized_delta == 0
    assert rig.store.fill_count() == 3
    assert rig.ledger.get(BUY_CID).filled == D(2)  # type: ignore[union-attr]
    filled_events = [e.trade_id for e in rig.events if isinstance(e, OrderFilled)]
    assert filled_events == [1, 2, 3]


def test_a_duplicate_the_bounded_memory_forgot_is_caught_by_the_journal(tmp_path: Path) -> None:
    rig = build(tmp_path / "b1.db", dedup_capacity=2)
    try:
        rig.processor.process_fills([fill(i, price=str(100 + i)) for i in range(1, 6)])
        assert len(rig.dedup) == 2 and not rig.dedup.seen(fill(1).key)
        before = rig.state.get_snapshot()
        again = rig.processor.process_fills([fill(1, price="101"), fill(2, price="102")])
        assert [r.duplicate for r in again] == [True, True]
        assert rig.state.get_snapshot() == before
        assert rig.store.fill_count() == 5
    finally:
        rig.store.close()


def test_memory_only_moves_when_the_enclosing_transaction_commits(rig: Rig) -> None:
    before = rig.state.get_snapshot()
    with pytest.raises(RuntimeError), rig.store.transaction():
        rig.state.apply_fills_sync([fill(1)])
        rig.ledger.mark(BUY_CID, OrderStatus.PENDING_CANCEL)
        assert rig.ledger.get(BUY_CID).status is OrderStatus.PENDING_CANCEL  # type: ignore[union-attr]
        assert rig.state.get_snapshot() is before  # staged, not published
        raise RuntimeError("something later in the transaction failed")
    assert rig.state.get_snapshot() is before
    assert rig.ledger.get(BUY_CID).status is OrderStatus.OPEN  # type: ignore[union-attr]
    assert rig.ledger.live_count() == 2
    assert on_disk(rig.path)[0] == 0
