"""A journal written before the state row kept its halt kind (schema version 1) still opens: the
row is read with its own checksum, the kind taken from the old reason prefix, nothing written by
reading, and the first write upgrades table and row together (all or nothing)."""

from __future__ import annotations

import json
import sqlite3
import zlib
from pathlib import Path

import pytest

from gridtui.state.accounting import BotState, HaltKind
from gridtui.state.store import SCHEMA_VERSION, JournalWriteError, Store, StoreCorrupted

V1_FIELDS = (
    "bot coin position avg_entry session_realized all_time_realized daily_realized daily_day "
    "fees_paid fill_count last_fill_ms grid_center session_start_ms halted halt_reason "
    "halted_at_ms"
).split()


def _v1_journal(path: Path, *, halted: bool, reason: str | None) -> None:
    """A journal as version 1 left it: no ``halt_kind`` column, a version-1 row and checksum."""
    Store(path, venue="paper", bot="b1", coin="BTC").close()
    values = {
        "bot": "b1",
        "coin": "BTC",
        "position": "0.5",
        "avg_entry": "100",
        "session_realized": "0",
        "all_time_realized": "-3",
        "daily_realized": "0",
        "daily_day": "19700",
        "fees_paid": "0.1",
        "fill_count": "2",
        "last_fill_ms": "5",
        "grid_center": "100",
        "session_start_ms": "1",
        "halted": "1" if halted else "0",
        "halt_reason": reason,
        "halted_at_ms": "7" if halted else None,
    }
    crc = zlib.crc32(
        json.dumps([1, [[k, values[k]] for k in V1_FIELDS]], separators=(",", ":")).encode()
    )
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("ALTER TABLE state DROP COLUMN halt_kind")
        conn.execute("DELETE FROM state")
        conn.execute(
            f"INSERT INTO state (id, schema_version, {', '.join(V1_FIELDS)}, crc) "
            f"VALUES (1, 1, {', '.join('?' * len(V1_FIELDS))}, ?)",
            (*(values[k] for k in V1_FIELDS), crc),
        )
    finally:
        conn.close()


def _columns(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[1] for row in conn.execute("PRAGMA table_info(state)")}
    finally:
        conn.close()


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT schema_version FROM state").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("halted", "reason", "kind"),
    [
        (
            True,
            "daily_loss: today's result -400.00 is beyond daily_loss_limit 300",
            HaltKind.DAILY_LOSS,
        ),
        (True, "drawdown: equity 10 is 600 below its peak", HaltKind.DRAWDOWN),
        (True, "manual halt", HaltKind.MANUAL),
        (False, None, None),
    ],
)
def test_a_version_1_row_reads_with_its_halt_kind_and_reading_writes_nothing(
    tmp_path: Path, halted: bool, reason: str | None, kind: HaltKind | None
) -> None:
    path = tmp_path / "b1.db"
    _v1_journal(path, halted=halted, reason=reason)
    store = Store(path, venue="paper", bot="b1", coin="BTC")
    try:
        state = store.load_state()
    finally:
        store.close()
    assert state is not None
    assert (state.halted, state.halt_reason, state.halt_kind) == (halted, reason, kind)
    assert state.fill_count == 2 and str(state.all_time_realized) == "-3"
    assert "halt_kind" not in _columns(path) and _version(path) == 1


def test_the_first_write_upgrades_table_and_row(tmp_path: Path) -> None:
    path = tmp_path / "b1.db"
    _v1_journal(path, halted=True, reason="daily_loss: -400")
    store = Store(path, venue="paper", bot="b1", coin="BTC")
    try:
        old = store.load_state()
        assert old is not None
        store.save_state(old)
        assert store.load_state() == old
    finally:
        store.close()
    assert "halt_kind" in _columns(path) and _version(path) == SCHEMA_VERSION == 2
    again = Store(path, venue="paper", bot="b1", coin="BTC")
    try:
        assert again.load_state() == old
    finally:
        again.close()


def test_a_failed_first_write_leaves_version_1_and_a_later_write_upgrades(
    tmp_path: Path,
) -> None:
    path = tmp_path / "b1.db"
    _v1_journal(path, halted=False, reason=None)
    store = Store(path, venue="paper", bot="b1", coin="BTC")
    try:
        old = store.load_state()
        assert old is not None
        with pytest.raises(JournalWriteError), store.transaction():
            store.save_state(old)
            raise sqlite3.OperationalError("disk I/O error")  # the rest of the burst failed
        assert "halt_kind" not in _columns(path) and _version(path) == 1
        assert store.load_state() == old
        store.save_state(BotState.fresh("b1", "BTC", 9))
        assert _version(path) == 2
    finally:
        store.close()


def test_a_version_1_row_altered_after_the_fact_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b1.db"
    _v1_journal(path, halted=False, reason=None)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE state SET position = '5'")
    conn.close()
    store = Store(path, venue="paper", bot="b1", coin="BTC")
    try:
        with pytest.raises(StoreCorrupted, match="checksum"):
            store.load_state()
    finally:
        store.close()
