"""StateManager: memory follows the journal, never leads it."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from gridtui.core.clock import UTC_DAY_MS, SimClock
from gridtui.core.types import Fill, Side
from gridtui.state.accounting import HaltKind
from gridtui.state.state_manager import ResumeRefused, StateManager
from gridtui.state.store import JournalWriteError, Store

D = Decimal
T0 = 19_700 * UTC_DAY_MS + 3_600_000


def fill(tid: int, side: Side, size: str, price: str, fee: str = "0") -> Fill:
    return Fill("paper", "BTC", tid, 900 + tid, None, side, D(price), D(size), D(fee), T0 + tid)


def open_manager(path: Path, clock: SimClock) -> StateManager:
    return StateManager(
        Store(path, venue="paper", bot="b1", coin="BTC"), clock, bot="b1", coin="BTC"
    )


@pytest.fixture
def clock() -> SimClock:
    return SimClock(T0)


@pytest.fixture
def manager(tmp_path: Path, clock: SimClock):  # type: ignore[no-untyped-def]
    m = open_manager(tmp_path / "b1.db", clock)
    yield m
    m.store.close()


def test_new_bot_starts_flat_and_is_saved(manager: StateManager) -> None:
    state = manager.get_snapshot()
    assert (state.position, state.fill_count, state.session_start_ms) == (0, 0, T0)
    assert manager.store.load_state() == state


def test_several_fills_move_position_and_pnl(manager: StateManager) -> None:
    manager.apply_fill_sync(fill(1, Side.BUY, "2", "100", fee="0.1"))
    manager.apply_fill_sync(fill(2, Side.BUY, "2", "104", fee="0.1"))  # avg 102
    result = manager.apply_fill_sync(fill(3, Side.SELL, "3", "105", fee="0.2"))
    assert result is not None
    state, delta = result
    assert delta == D("8.8")  # (105 − 102) × 3 − 0.2
    assert (state.position, state.avg_entry) == (D("1"), D("102"))
    assert state.session_realized == state.all_time_realized == D("8.6")  # 8.8 − 0.1 − 0.1
    assert manager.get_snapshot() == state == manager.store.load_state()


def test_duplicate_fill_is_ignored(manager: StateManager) -> None:
    f = fill(1, Side.BUY, "1", "100")
    assert manager.apply_fill_sync(f) is not None
    before = manager.get_snapshot()
    assert manager.apply_fill_sync(f) is None
    assert manager.get_snapshot() == before
    assert manager.store.fill_count() == 1


def test_memory_is_untouched_when_the_commit_fails(manager: StateManager, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    manager.apply_fill_sync(fill(1, Side.BUY, "1", "100"))
    before = manager.get_snapshot()

    def failing_write(*_args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(manager.store, "_write_state", failing_write)
    with pytest.raises(JournalWriteError):
        manager.apply_fill_sync(fill(2, Side.BUY, "5", "90"))
    assert manager.get_snapshot() is before
    monkeypatch.undo()
    state, _ = manager.apply_fill_sync(fill(3, Side.SELL, "1", "110"))  # type: ignore[misc]
    assert state.position == 0 and state.all_time_realized == D("10")


def test_reload_from_disk_gives_the_same_books(tmp_path: Path, clock: SimClock) -> None:
    first = open_manager(tmp_path / "b1.db", clock)
    first.apply_fill_sync(fill(1, Side.BUY, "1", "100"))
    first.apply_fill_sync(fill(2, Side.SELL, "0.4", "105", fee="0.01"))
    before = first.get_snapshot()
    first.store.close()  # or a crash: everything was committed already

    clock.advance(60)
    second = open_manager(tmp_path / "b1.db", clock)
    after = second.get_snapshot()
    second.store.close()
    assert (after.position, after.avg_entry, after.all_time_realized) == (
        before.position,
        before.avg_entry,
        before.all_time_realized,
    )
    assert (after.fill_count, after.last_fill_ms, after.daily_realized) == (
        before.fill_count,
        before.last_fill_ms,
        before.daily_realized,
    )
    assert before.session_realized == D("1.99")
    assert after.session_realized == 0  # a new session
    assert after.session_start_ms == T0 + 60_000


def test_restart_on_a_later_day_starts_a_new_daily_figure(tmp_path: Path, clock: SimClock) -> None:
    first = open_manager(tmp_path / "b1.db", clock)
    first.apply_fill_sync(fill(1, Side.BUY, "1", "100", fee="3"))
    first.store.close()
    clock.advance(UTC_DAY_MS / 1000)
    second = open_manager(tmp_path / "b1.db", clock)
    state = second.get_snapshot()
    second.store.close()
    assert state.daily_realized == 0
    assert state.all_time_realized == D("-3")


async def test_async_fill_and_halt_survive_a_restart(tmp_path: Path, clock: SimClock) -> None:
    first = open_manager(tmp_path / "b1.db", clock)
    assert await first.apply_fill(fill(1, Side.SELL, "1", "100")) is not None
    assert await first.apply_fill(fill(1, Side.SELL, "1", "100")) is None
    clock.advance(5)
    await first.halt(HaltKind.DAILY_LOSS, "daily loss limit")
    await first.set_grid_center(D("100.5"))
    first.store.close()

    second = open_manager(tmp_path / "b1.db", clock)
    state = second.get_snapshot()
    assert (state.halted, state.halt_kind, state.halt_reason, state.halted_at_ms) == (
        True,
        HaltKind.DAILY_LOSS,
        "daily loss limit",
        T0 + 5_000,
    )
    assert state.grid_center == D("100.5")
    assert state.position == D("-1")
    await second.resume()
    await second.set_grid_center(None)
    resumed = second.store.load_state()
    second.store.close()
    assert resumed is not None
    assert (resumed.halted, resumed.halt_reason, resumed.halted_at_ms) == (False, None, None)
    assert resumed.grid_center is None


async def test_a_disk_halt_lives_in_memory_and_ends_with_a_restart(
    tmp_path: Path, clock: SimClock
) -> None:
    """The journal refused a write: the halt cannot be recorded there, and a later write that
    does get through (a fill) must not make it outlive the restart that tries the disk again."""
    first = open_manager(tmp_path / "b1.db", clock)
    await first.halt(HaltKind.DISK, "journal write failed: disk full")
    assert first.get_snapshot().halt_kind is HaltKind.DISK
    assert first.store.load_state().halted is False  # type: ignore[union-attr]
    with pytest.raises(ResumeRefused, match="disk full; free the disk"):
        await first.resume()
    assert first.get_snapshot().halted
    assert await first.apply_fill(fill(1, Side.BUY, "1", "100")) is not None  # written with it
    first.store.close()

    second = open_manager(tmp_path / "b1.db", clock)
    state = second.get_snapshot()
    assert (state.halted, state.halt_kind, state.position) == (False, None, D(1))
    second.store.close()


async def test_adjust_position_writes_adjustment_and_state(manager: StateManager) -> None:
    manager.apply_fill_sync(fill(1, Side.BUY, "1", "100", fee="0.5"))
    await manager.adjust_position(D("1.2"), D("99"), "exchange reports 1.2")
    state = manager.get_snapshot()
    assert (state.position, state.avg_entry) == (D("1.2"), D("99"))
    assert state.all_time_realized == D("-0.5")  # a correction is not a trade
    assert manager.store.load_state() == state
    (adj,) = manager.store.adjustments()
    assert (adj.old_value, adj.new_value, adj.reason) == ("1@100", "1.2@99", "exchange reports 1.2")


async def test_impossible_adjustment_is_refused(manager: StateManager) -> None:
    with pytest.raises(ValueError):
        await manager.adjust_position(D("0"), D("100"), "flat but with an entry price?")
    assert manager.store.adjustments() == []


def test_store_of_another_bot_is_refused(tmp_path: Path, clock: SimClock) -> None:
    store = Store(tmp_path / "x.db", venue="paper", bot="b1", coin="BTC")
    with pytest.raises(ValueError):
        StateManager(store, clock, bot="b1", coin="ETH")
    store.close()


async def test_a_rebuild_in_the_same_process_continues_the_session(
    tmp_path: Path, clock: SimClock
) -> None:
    first = open_manager(tmp_path / "b1.db", clock)
    await first.apply_fill(fill(1, Side.BUY, "1", "100", fee="0.5"))
    started = first.get_snapshot().session_start_ms
    first.store.close()
    clock.advance(60)
    store = Store(tmp_path / "b1.db", venue="paper", bot="b1", coin="BTC")
    again = StateManager(store, clock, bot="b1", coin="BTC", continue_session=True)
    state = again.get_snapshot()
    assert (state.session_start_ms, state.session_realized) == (started, D("-0.5"))
    store.close()
    fresh = open_manager(tmp_path / "b1.db", clock)  # a new process: a new session
    state = fresh.get_snapshot()
    assert (state.session_start_ms, state.session_realized) == (T0 + 60_000, 0)
    fresh.store.close()
