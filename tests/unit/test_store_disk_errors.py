"""A journal write the disk refuses surfaces as ONE exception type, rolled back, memory untouched.

Issue 8, failure 8: disk full or a read-only data dir crash-looped the bot with raw sqlite3
errors. Every such failure now raises ``JournalWriteError`` (a ``StoreError``) with one line
naming the file, SQLite's reason and the fix; the orchestrator halts the bot on it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bot_kit import Env, EnvFactory

from gridtui.core.types import Fill, OrderRequest, Side
from gridtui.orchestrator.factory import BotComponents
from gridtui.state.store import JournalWriteError, Store, StoreError

D = Decimal
T0 = 1_700_000_000_000
CID = "0x" + "c" * 32


class FailingConnection:
    """The store's connection, but one chosen statement fails as the disk would make it."""

    def __init__(self, conn: sqlite3.Connection, fails: Callable[[str], bool], error: str):
        self._conn = conn
        self._fails = fails
        self._error = error

    def execute(self, sql: str, *args: Any) -> Any:
        if self._fails(sql):
            raise sqlite3.OperationalError(self._error)
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@pytest.fixture
def env(make_env: EnvFactory) -> Env:
    return make_env(start_ms=T0 + 5_000)


@pytest.fixture(autouse=True)
def resting(bot: BotComponents) -> None:
    """Every test's bot has one buy (exchange id 77) resting."""
    request = OrderRequest("BTC", Side.BUY, D("100"), D("5"), CID)
    bot.ledger.add_pending(request, level=-1, generation=0)
    bot.ledger.on_ack(CID, 77)


def in_memory(bot: BotComponents) -> tuple[object, ...]:
    return (bot.state.get_snapshot(), tuple(bot.ledger.live()), len(bot.dedup))


def on_disk(bot: BotComponents) -> tuple[object, ...]:
    with contextlib.closing(sqlite3.connect(bot.store.path)) as other, other:
        return (
            other.execute("SELECT COUNT(*) FROM fills").fetchone(),
            other.execute("SELECT position, fill_count, crc FROM state").fetchone(),
            other.execute("SELECT status, filled FROM orders").fetchall(),
        )


def fills() -> list[Fill]:
    return [
        Fill("paper", "BTC", tid, 77, CID, Side.BUY, D("100"), D("1"), D("0.01"), T0 + tid)
        for tid in (1, 2)
    ]


def small_fill(tid: int) -> Fill:
    return Fill("paper", "BTC", tid, 77, CID, Side.BUY, D("100"), D("0.01"), D("0"), T0 + tid)


def assert_one_line_naming(
    err: pytest.ExceptionInfo[JournalWriteError], bot: BotComponents, cause: str
) -> None:
    message = str(err.value)
    assert "\n" not in message
    assert str(bot.store.path) in message and cause in message
    assert isinstance(err.value, StoreError)


def test_disk_full_raises_journal_write_error_and_changes_nothing(bot: BotComponents) -> None:
    memory, disk = in_memory(bot), on_disk(bot)
    pages = bot.store._conn.execute("PRAGMA page_count").fetchone()[0]
    bot.store._conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk full"
    batch = [*fills(), *(small_fill(tid) for tid in range(3, 400))]
    with pytest.raises(JournalWriteError) as err:
        bot.processor.process_fills(batch)
    assert_one_line_naming(err, bot, "database or disk is full")
    assert "free space" in str(err.value)
    assert not bot.store._conn.in_transaction
    assert in_memory(bot) == memory and on_disk(bot) == disk

    bot.store._conn.execute(f"PRAGMA max_page_count = {10 * pages}")  # space freed: retry works
    assert all(r.applied for r in bot.processor.process_fills(batch))
    assert bot.state.get_snapshot().fill_count == len(batch)


def test_a_read_only_journal_raises_journal_write_error(bot: BotComponents) -> None:
    memory, disk = in_memory(bot), on_disk(bot)
    bot.store._conn.execute("PRAGMA query_only = ON")  # writes refused as on a read-only mount
    with pytest.raises(JournalWriteError) as err:
        bot.processor.process_fills(fills())
    assert_one_line_naming(err, bot, "readonly")
    assert in_memory(bot) == memory and on_disk(bot) == disk


@pytest.mark.parametrize("failing", ["COMMIT", "INSERT OR REPLACE INTO state", "UPDATE orders"])
def test_an_io_error_anywhere_in_the_transaction_rolls_it_back(
    bot: BotComponents, failing: str
) -> None:
    memory, disk = in_memory(bot), on_disk(bot)
    real = bot.store._conn
    bot.store._conn = FailingConnection(  # type: ignore[assignment]
        real, lambda sql: sql.startswith(failing), "disk I/O error"
    )
    with pytest.raises(JournalWriteError) as err:
        bot.processor.process_fills(fills())
    bot.store._conn = real
    assert_one_line_naming(err, bot, "disk I/O error")
    assert not real.in_transaction
    assert in_memory(bot) == memory and on_disk(bot) == disk


def test_order_and_state_writes_raise_the_same_type(bot: BotComponents) -> None:
    bot.store._conn.execute("PRAGMA query_only = ON")
    request = OrderRequest("BTC", Side.SELL, D("110"), D("1"), "0x" + "d" * 32)
    live = bot.ledger.live()
    with pytest.raises(JournalWriteError):
        bot.ledger.add_pending(request, level=1, generation=0)
    with pytest.raises(JournalWriteError):
        bot.ledger.on_cancel_requested(CID)
    assert bot.ledger.live() == live
    before = bot.state.get_snapshot()
    with pytest.raises(JournalWriteError):
        bot.state.store.save_state(before)
    assert bot.state.get_snapshot() is before


def test_a_journal_that_cannot_be_created_raises_journal_write_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the journal folder should be")
    with pytest.raises(JournalWriteError, match="not-a-folder"):
        Store(blocker / "b1.db", venue="paper", bot="b1", coin="BTC")
