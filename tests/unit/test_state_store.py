"""The SQLite journal: durability settings, atomic fill commits, checked state row, orders."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from gridtui.core.types import Fill, OrderRequest, OrderStatus, Side, Tif
from gridtui.state.accounting import BotState, apply_fill
from gridtui.state.store import JournalWriteError, Store, StoreCorrupted

D = Decimal
T0 = 1_700_000_000_000
CID_A = "0x" + "a" * 32
CID_B = "0x" + "b" * 32


def make_fill(
    trade_id: int, side: Side = Side.BUY, size: str = "1", price: str = "100", **kw
) -> Fill:  # type: ignore[no-untyped-def]
    values = dict(
        venue="paper",
        coin="BTC",
        trade_id=trade_id,
        exchange_order_id=500 + trade_id,
        client_id=CID_A,
        side=side,
        price=D(price),
        size=D(size),
        fee=D("0.0150"),
        timestamp_ms=T0 + trade_id,
        is_taker=True,
    )
    values.update(kw)
    return Fill(**values)  # type: ignore[arg-type]


def request(cid: str = CID_A, price: str = "100.5") -> OrderRequest:
    return OrderRequest("BTC", Side.BUY, D(price), D("0.01"), cid, Tif.ALO, False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "deep" / "dir" / "b1.db"


@pytest.fixture
def store(db: Path):  # type: ignore[no-untyped-def]
    s = Store(db, venue="paper", bot="b1", coin="BTC")
    yield s
    s.close()


def fresh() -> BotState:
    return BotState.fresh("b1", "BTC", T0)


def test_new_database_has_no_state_and_creates_parents(store: Store, db: Path) -> None:
    assert db.exists()
    assert store.load_state() is None


def test_wal_and_synchronous_full_are_in_effect(store: Store, db: Path) -> None:
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # 2 = FULL
    store.save_state(fresh())
    assert db.with_name(db.name + "-wal").exists()
    with sqlite3.connect(db) as other:  # WAL mode is a property of the file itself
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_state_round_trips_exactly(store: Store, db: Path) -> None:
    state = attrs.evolve(
        fresh(),
        position=D("-1.500"),
        avg_entry=D("100.6666666666666666666666666666666666667"),
        grid_center=D("99.50"),
        halted=True,
        halt_reason="drawdown",
        halted_at_ms=T0 + 9,
    )
    store.save_state(state)
    store.close()
    reopened = Store(db, venue="paper", bot="b1", coin="BTC")
    loaded = reopened.load_state()
    reopened.close()
    assert loaded == state
    assert str(loaded.position) == "-1.500"  # exponent kept: canonical text is exact


def test_commit_fill_writes_fill_and_state_together(store: Store) -> None:
    f = make_fill(1)
    new_state, _ = apply_fill(fresh(), f)
    assert store.commit_fill(f, new_state) is True
    assert store.load_state() == new_state
    assert store.fills() == [f]  # every field survives, Decimals exactly
    assert store.has_fill(f.key)
    assert store.fill_keys() == {("paper", "BTC", 1)}


def test_duplicate_fill_is_a_no_op(store: Store) -> None:
    f = make_fill(1)
    first, _ = apply_fill(fresh(), f)
    store.commit_fill(f, first)
    second, _ = apply_fill(first, f)  # what a double count would look like
    assert store.commit_fill(f, second) is False
    assert store.load_state() == first
    assert store.fill_count() == 1


def test_failed_state_write_rolls_back_the_fill(store: Store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store.save_state(fresh())

    def broken(_state: BotState) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "_write_state", broken)
    f = make_fill(1)
    with pytest.raises(JournalWriteError, match="disk I/O error"):
        store.commit_fill(f, apply_fill(fresh(), f)[0])
    assert store.fill_count() == 0
    assert not store.has_fill(f.key)
    monkeypatch.undo()
    assert store.load_state() == fresh()
    assert store.commit_fill(f, apply_fill(fresh(), f)[0]) is True  # nothing half-done left


def test_fill_for_another_journal_is_refused(store: Store) -> None:
    f = make_fill(1, venue="hyperliquid")
    with pytest.raises(ValueError):
        store.commit_fill(f, fresh())
    assert store.fill_count() == 0


def test_fills_since_is_inclusive_and_ordered_while_applied_order_is_kept(store: Store) -> None:
    state = fresh()
    late = make_fill(3, timestamp_ms=T0 + 10)
    early_b = make_fill(9, timestamp_ms=T0 + 20)
    early_a = make_fill(8, timestamp_ms=T0 + 20)
    for f in (early_b, late, early_a):
        state, _ = apply_fill(state, f)
        store.commit_fill(f, state)
    assert [f.trade_id for f in store.fills()] == [3, 8, 9]
    assert [f.trade_id for f in store.fills(since_ms=T0 + 20)] == [8, 9]
    assert store.fills(since_ms=T0 + 21) == []
    assert [f.trade_id for f in store.applied_fills()] == [9, 3, 8]


def test_tampered_state_value_is_detected(store: Store, db: Path) -> None:
    store.save_state(attrs.evolve(fresh(), position=D("1.25")))
    store._conn.execute("UPDATE state SET position = '1.35'")
    with pytest.raises(StoreCorrupted, match="checksum") as err:
        store.load_state()
    assert str(db) in str(err.value)


def test_tampered_byte_in_the_file_is_detected(db: Path) -> None:
    store = Store(db, venue="paper", bot="b1", coin="BTC")
    store.save_state(attrs.evolve(fresh(), halted=True, halt_reason="reason-MARKER-xyz"))
    store.close()  # checkpoints the WAL into the main file
    raw = db.read_bytes()
    assert b"MARKER" in raw
    db.write_bytes(raw.replace(b"MARKER", b"MARKEQ"))
    reopened = Store(db, venue="paper", bot="b1", coin="BTC")
    with pytest.raises(StoreCorrupted, match="checksum"):
        reopened.load_state()
    reopened.close()


def test_wrong_schema_version_is_refused(store: Store) -> None:
    store.save_state(fresh())
    store._conn.execute("UPDATE state SET schema_version = 99")
    with pytest.raises(StoreCorrupted, match="schema version 99"):
        store.load_state()


def test_another_bots_database_is_refused(store: Store, db: Path) -> None:
    store.save_state(fresh())
    store.close()
    other = Store(db, venue="paper", bot="b2", coin="BTC")
    with pytest.raises(StoreCorrupted, match="b1"):
        other.load_state()
    other.close()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreCorrupted, match=r"junk\.db"):
        Store(path, venue="paper", bot="b1", coin="BTC")


def test_intent_is_durable_before_send_with_a_pending_order_row(store: Store, db: Path) -> None:
    store.record_intent(request(), level=-2, generation=3, created_ms=T0)
    # Another connection (as after a crash) sees it without the store being closed.
    with sqlite3.connect(db) as other:
        rows = other.execute("SELECT client_id, level, generation FROM intents").fetchall()
    assert rows == [(CID_A, -2, 3)]
    reopened = Store(db, venue="paper", bot="b1", coin="BTC")
    record = reopened.order(CID_A)
    reopened.close()
    assert record is not None
    assert record.status is OrderStatus.PENDING_SUBMIT
    assert record.request == request()
    assert (record.level, record.generation, record.filled, record.exchange_id) == (-2, 3, 0, None)


def test_resend_is_idempotent_but_reusing_a_client_id_is_refused(store: Store) -> None:
    store.record_intent(request(), level=1, generation=0, created_ms=T0)
    store.update_order(CID_A, status=OrderStatus.OPEN, exchange_id=77, updated_ms=T0 + 1)
    store.record_intent(request(), level=1, generation=0, created_ms=T0 + 2)
    assert store.order(CID_A).status is OrderStatus.OPEN  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        store.record_intent(request(price="101"), level=1, generation=0, created_ms=T0 + 3)
    intents = store._conn.execute("SELECT COUNT(*) FROM intents").fetchone()[0]
    assert intents == 2
    assert store.order(CID_A).price == D("100.5")  # type: ignore[union-attr]


def test_update_order_keeps_what_is_not_given(store: Store) -> None:
    store.record_intent(request(), level=1, generation=0, created_ms=T0)
    store.update_order(CID_A, status=OrderStatus.OPEN, exchange_id=77, updated_ms=T0 + 1)
    store.update_order(
        CID_A, status=OrderStatus.PARTIALLY_FILLED, filled=D("0.004"), updated_ms=T0 + 2
    )
    store.update_order(CID_A, status=OrderStatus.CANCELED, updated_ms=T0 + 3, last_error="gone")
    record = store.order(CID_A)
    assert record is not None
    assert (record.status, record.exchange_id, record.filled) == (
        OrderStatus.CANCELED,
        77,
        D("0.004"),
    )
    assert (record.updated_ms, record.last_error, record.created_ms) == (T0 + 3, "gone", T0)
    assert store.order_by_exchange_id(77) == record
    with pytest.raises(KeyError):
        store.update_order(CID_B, status=OrderStatus.OPEN, updated_ms=T0)


def test_live_only_lists_non_terminal_orders(store: Store) -> None:
    store.record_intent(request(CID_A), level=1, generation=0, created_ms=T0)
    store.record_intent(request(CID_B), level=2, generation=0, created_ms=T0 + 1)
    store.update_order(CID_A, status=OrderStatus.FILLED, updated_ms=T0 + 2)
    assert [o.client_id for o in store.orders()] == [CID_A, CID_B]
    assert [o.client_id for o in store.orders(live_only=True)] == [CID_B]


def test_next_generation_is_one_past_the_highest_ever_journaled(store: Store) -> None:
    assert store.next_generation(2) == 0
    store.record_intent(request("0x" + "1" * 32), level=2, generation=0, created_ms=T0)
    store.record_intent(request("0x" + "2" * 32), level=2, generation=4, created_ms=T0)
    store.record_intent(request("0x" + "3" * 32), level=-2, generation=9, created_ms=T0)
    store.update_order("0x" + "2" * 32, status=OrderStatus.CANCELED, updated_ms=T0)
    assert store.next_generation(2) == 5
    assert store.next_generation(-2) == 10
    assert store.next_generation(3) == 0


def test_adjustment_and_state_are_written_together(store: Store) -> None:
    store.save_state(fresh())
    new = attrs.evolve(fresh(), position=D("0.3"), avg_entry=D("101"))
    store.commit_adjustment("position", "0@0", "0.3@101", "exchange says so", T0 + 5, new)
    assert store.load_state() == new
    (adj,) = store.adjustments()
    assert (adj.field, adj.old_value, adj.new_value, adj.reason, adj.timestamp_ms) == (
        "position",
        "0@0",
        "0.3@101",
        "exchange says so",
        T0 + 5,
    )
