"""The fill catch-up watermark: forward only, and journals of an older version (no table yet)
keep working."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gridtui.state.store import Store


def _store(path: Path) -> Store:
    return Store(path, venue="paper", bot="b1", coin="BTC")


def test_the_watermark_only_moves_forward(tmp_path: Path) -> None:
    store = _store(tmp_path / "b1.db")
    assert store.fills_confirmed_ms() is None
    store.confirm_fills_up_to(2_000)
    store.confirm_fills_up_to(1_000)
    assert store.fills_confirmed_ms() == 2_000
    store.close()
    assert _store(tmp_path / "b1.db").fills_confirmed_ms() == 2_000


def test_a_journal_without_the_watermark_table_reads_none_then_gets_it(tmp_path: Path) -> None:
    path = tmp_path / "b1.db"
    _store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE watermarks")  # as written by the previous version
    store = _store(path)
    assert store.fills_confirmed_ms() is None
    store.confirm_fills_up_to(5)
    assert store.fills_confirmed_ms() == 5
