"""DESIGN §4 safety invariants, one test each, on full bot graphs over the paper venue."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from decimal import Decimal

import attrs
import pytest
from bot_kit import (
    COIN,
    ENGINE,
    OTHER,
    T0,
    D,
    Env,
    EnvFactory,
    quoting,
    running,
    settle,
    supervised,
)

from gridtui.core.events import AlertRaised, BreakerTripped, OrderFilled, OrderPlaced, Severity
from gridtui.core.types import Fill, Level, Side
from gridtui.exchanges.base import FillsReceived
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.execution.grid_builder import REPAIR_EVERY
from gridtui.orchestrator.factory import BotComponents
from gridtui.risk.circuit_breaker import BreakerState
from gridtui.state.accounting import HaltKind
from gridtui.state.data_dir import PAPER, journal_path
from gridtui.state.store import SCHEMA_VERSION, JournalWriteError, Store, StoreCorrupted


def hand_fill(trade_id: int, side: Side, size: str, price: str, *, at_s: int) -> Fill:
    """A fill of no order of ours (a manual trade, as the venue would report it)."""
    cid = f"0x{trade_id:032x}"
    return Fill(
        "paper",
        COIN,
        trade_id,
        9_000 + trade_id,
        cid,
        side,
        D(price),
        D(size),
        D(0),
        T0 + at_s * 1000,
    )


def state_row(env: Env, name: str = "b1") -> tuple[object, ...]:
    """The journal's state row as another process would read it."""
    with (
        contextlib.closing(
            sqlite3.connect(journal_path(env.config.data_dir, PAPER, name))
        ) as other,
        other,
    ):
        row = other.execute("SELECT schema_version, position, fill_count, crc FROM state")
        return tuple(row.fetchone())


def fills_on_disk(env: Env, name: str = "b1") -> int:
    with (
        contextlib.closing(
            sqlite3.connect(journal_path(env.config.data_dir, PAPER, name))
        ) as other,
        other,
    ):
        return int(other.execute("SELECT COUNT(*) FROM fills").fetchone()[0])


class DiskFailure(sqlite3.OperationalError):
    pass


def fail_state_writes(c: BotComponents, monkeypatch: pytest.MonkeyPatch, *, after: bool) -> None:
    """Make the state-row write inside every journal transaction fail, before or after the row
    was written; the transaction then rolls back."""
    write = c.store._write_state

    def failing(state: object) -> None:
        if after:
            write(state)  # type: ignore[arg-type]
        raise DiskFailure("disk I/O error")

    monkeypatch.setattr(c.store, "_write_state", failing)


# ---- must always hold -----------------------------------------------------------------------


async def test_position_updates_are_atomic(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    c = await env.build()
    c.processor.process_fill(hand_fill(1, Side.BUY, "0.2", "100", at_s=1))
    before = c.state.get_snapshot()
    fail_state_writes(c, monkeypatch, after=False)  # the fill row is in, the state row fails
    with pytest.raises(JournalWriteError):
        c.processor.process_fill(hand_fill(2, Side.BUY, "0.3", "99", at_s=2))
    # all or nothing: neither the fill nor the position moved, on disk or in memory
    assert c.state.get_snapshot() == before
    assert state_row(env)[1:3] == ("0.2", "1")
    assert fills_on_disk(env) == 1
    monkeypatch.undo()

    # concurrent writers (stream fills, commands, corrections) never lose each other's update
    fills = [hand_fill(10 + i, Side.BUY, "0.01", "100", at_s=10 + i) for i in range(20)]

    async def apply(fill: Fill) -> None:
        await c.state.apply_fill(fill)

    await asyncio.gather(
        *(apply(f) for f in fills),
        c.state.set_grid_center(D(101)),
        c.state.halt(HaltKind.MANUAL, "test"),
    )
    after = c.state.get_snapshot()
    assert (after.position, after.fill_count) == (D("0.4"), 21)
    assert (after.grid_center, after.halted) == (D(101), True)
    assert c.store.load_state() == after


async def test_fill_is_durable_before_the_position_changes(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(prices=[100, 99])
    bot = await env.orchestrator()
    c = bot.c
    seen: list[tuple[Decimal, tuple[object, ...], int]] = []
    publish = c.state._publish  # memory takes a committed state here, and only here

    def observed() -> None:
        staged = c.state._staged
        if staged is not None and staged.fill_count != c.state.get_snapshot().fill_count:
            # committed: another connection sees fill and state; memory has not moved yet
            snapshot = c.state.get_snapshot()
            seen.append((snapshot.position, state_row(env)[1:3], fills_on_disk(env)))
        publish()

    monkeypatch.setattr(c.state, "_publish", observed)
    async with running(bot):
        env.next_price()  # the buy at 99 fills and arrives on the stream
        await settle()
    assert seen == [(D(0), ("0.2", "1"), 1)]
    assert c.state.get_snapshot().position == D("0.2")


async def test_circuit_breaker_trip_cancels_all_orders(make_env: EnvFactory) -> None:
    env = make_env()
    bot = await env.orchestrator()
    threshold = env.config.breaker.error_threshold
    async with running(bot):
        assert len(await env.open_orders()) == 6
        env.exchange.fail_next(threshold, "venue 502", calls={"place_orders"})
        far = Level(-3, D(90), Side.BUY, D("0.2"))
        for _ in range(threshold):
            result = await bot.c.gateway.submit_level(far)
            assert not result.success
        assert bot.c.breaker.state is BreakerState.OPEN
        assert await env.open_orders() == []  # the trip canceled every order
        (trip,) = env.of_type(BreakerTripped)
        assert (trip.consecutive_errors, trip.last_error) == (threshold, "venue 502")

        placed = len(env.of_type(OrderPlaced))
        for _ in range(REPAIR_EVERY):  # a periodic grid repair among them...
            await bot.cycle()
        assert len(env.of_type(OrderPlaced)) == placed  # ...nothing passes an open breaker
        assert await env.open_orders() == []

        env.clock.advance(env.config.breaker.cooldown_s)
        for _ in range(REPAIR_EVERY):  # after the cooldown the repair is the probe, and it succeeds
            await bot.cycle()
        assert bot.c.breaker.state is BreakerState.CLOSED
        assert len(await env.open_orders()) == 6


async def test_dead_man_switch_is_refreshed_every_cycle(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env()
    bot = await env.orchestrator()
    deadlines: list[tuple[int, int | None]] = []
    schedule = env.exchange.schedule_cancel

    async def recorded(at_ms: int | None) -> None:
        deadlines.append((env.clock.now_ms(), at_ms))
        await schedule(at_ms)

    monkeypatch.setattr(env.exchange, "schedule_cancel", recorded)
    timeout_ms = round(env.config.dead_man.timeout_s * 1000)
    async with running(bot):  # start-up and the first cycle
        for _ in range(11):
            env.step(10)  # 10 s per cycle: 110 s in all, well past the 60 s timeout
            await settle()
            await bot.cycle()
        assert bot.cycles == 12
        assert len(deadlines) == 12
        assert all(at == now + timeout_ms for now, at in deadlines)
        assert len(await env.open_orders()) == 6  # refreshed in time: the switch never fired

        def broken() -> None:
            raise RuntimeError("later step of the cycle failed")

        monkeypatch.setattr(bot.c.gateway, "heal", broken)
        env.step(10)
        with pytest.raises(RuntimeError):
            await bot.cycle()
        assert deadlines[-1] == (env.clock.now_ms(), env.clock.now_ms() + timeout_ms)


async def test_fill_timestamps_only_move_forward(env: Env) -> None:
    c = await env.build()
    seen = []
    for trade_id, at_s in [(1, 50), (2, 30), (3, 70), (4, 70), (5, 10)]:  # reordered delivery
        c.processor.process_fill(hand_fill(trade_id, Side.BUY, "0.01", "100", at_s=at_s))
        seen.append(c.state.get_snapshot().last_fill_ms - T0)
    assert seen == [50_000, 50_000, 70_000, 70_000, 70_000]
    assert c.store.load_state().last_fill_ms == T0 + 70_000  # type: ignore[union-attr]
    assert c.state.get_snapshot().fill_count == 5  # late fills still count


async def test_state_row_carries_version_and_checksum(make_env: EnvFactory) -> None:
    env = make_env(prices=[100, 99])
    bot = await env.orchestrator()
    async with running(bot):
        env.next_price()
        await settle()
    version, position, fill_count, crc = state_row(env)
    assert (version, position, fill_count) == (SCHEMA_VERSION, "0.2", "1")
    assert isinstance(crc, int)
    bot.c.close()

    path = journal_path(env.config.data_dir, PAPER, "b1")
    with (
        contextlib.closing(sqlite3.connect(path)) as other,
        other,
    ):  # someone edits the position by hand
        other.execute("UPDATE state SET position = '5'")
    with pytest.raises(StoreCorrupted, match="checksum"):
        await env.build()
    with (
        contextlib.closing(sqlite3.connect(path)) as other,
        other,
    ):  # or the row comes from another schema
        other.execute(
            "UPDATE state SET position = '0.2', schema_version = ?", (SCHEMA_VERSION + 1,)
        )
    with pytest.raises(StoreCorrupted, match="schema version"):
        await env.build()
    with contextlib.closing(sqlite3.connect(path)) as other, other:
        other.execute("UPDATE state SET schema_version = ?", (SCHEMA_VERSION,))
    assert (await env.build()).state.get_snapshot().position == D("0.2")


# ---- must never happen ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drifts", "alerts"),
    [
        (["0.02"], 0),  # exactly 10 % of the 0.2 grid size: tolerated
        (["0.021"], 1),  # just over 10 %
        (["0.01", "0.01", "0.01"], 1),  # creeping up: alerts once it passes 10 %
        (["-0.2"], 1),  # the other direction
    ],
)
async def test_position_drift_over_ten_percent_always_alerts(
    env: Env, drifts: list[str], alerts: int
) -> None:
    bot = await env.orchestrator()
    await bot.start()
    await bot.cycle()
    mark = D(100)
    for i, size in enumerate(drifts, start=1):
        amount = D(size)
        side = Side.BUY if amount > 0 else Side.SELL
        result = bot.c.processor.process_fill(hand_fill(i, side, str(abs(amount)), "100", at_s=i))
        await bot.c.builder.on_fill(result, mark)
    drift = [a for a in env.of_type(AlertRaised) if a.kind == "position_drift"]
    assert len(drift) == alerts
    assert all(a.severity is Severity.WARNING for a in drift)


async def test_position_drift_alerts_again_after_it_had_cleared(env: Env) -> None:
    bot = await env.orchestrator()
    await bot.start()
    await bot.cycle()
    trades = [(Side.BUY, "0.05"), (Side.SELL, "0.05"), (Side.SELL, "0.05")]  # 25 %, 0 %, 25 %
    for i, (side, size) in enumerate(trades, start=1):
        result = bot.c.processor.process_fill(hand_fill(i, side, size, "100", at_s=i))
        await bot.c.builder.on_fill(result, D(100))
    assert len([a for a in env.of_type(AlertRaised) if a.kind == "position_drift"]) == 2


async def test_no_silent_exception_in_fill_processing(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(prices=[100, 99], engine=attrs.evolve(ENGINE, cycle_interval_s=0.01))
    bot = await env.orchestrator()
    task = asyncio.create_task(bot.run())
    await asyncio.sleep(0.05)
    assert not task.done() and len(await env.open_orders()) == 6

    def disk_full(fills: list[Fill]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(bot.c.state, "apply_fills_sync", disk_full)
    env.next_price()  # the buy at 99 fills; processing it fails
    with pytest.raises(OSError, match="disk full"):
        await asyncio.wait_for(task, timeout=5)  # the failure ends the run: the supervisor sees it
    (alert,) = [a for a in env.of_type(AlertRaised) if a.kind == "fill_processing_error"]
    assert alert.severity is Severity.CRITICAL and "disk full" in alert.message
    assert bot.c.state.get_snapshot().fill_count == 0

    monkeypatch.undo()  # restarted, the fill that failed is not lost
    bot.detach()
    again = await env.orchestrator()
    async with running(again):
        assert again.c.state.get_snapshot().position == D("0.2")


async def test_no_orphan_orders_after_shutdown(make_env: EnvFactory) -> None:
    env = make_env(prices=[100, 99, 98, 99, 100, 101], with_eth_bot=True)
    supervisor = supervised(env)
    await supervisor.start()
    await quoting(supervisor, COIN, OTHER)
    fills = env.of_type(OrderFilled)
    deadline = asyncio.get_running_loop().time() + 5
    while len(fills) < 3:  # trade a little first: fills, replacements, a moved grid
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
        fills = env.of_type(OrderFilled)
    report = await supervisor.stop()
    assert (report.open_orders, report.dead_man_disarmed) == (0, True)
    stored = SimExchange.open_readonly(env.tmp_path / "sup.db")
    assert stored.open_orders == ()
    assert stored.records.schedule_cancel_ms is None


async def test_no_fill_counted_twice(make_env: EnvFactory) -> None:
    env = make_env(prices=[100, 99])
    bot = await env.orchestrator()
    await bot.start()
    await bot.cycle()
    env.next_price()  # the fill is queued on the stream; nobody has read it yet
    env.clock.advance(env.config.engine.stream_stale_after_s)  # the stream looks silent...
    await bot.cycle()  # ...so the REST poller fetches the fill first
    assert bot.c.poller.polls >= 1 and bot.c.state.get_snapshot().fill_count == 1
    report = await bot.reconcile()  # reconciliation sees it too
    assert report.missing_fills == 0
    async with running(bot):  # now the stream delivers its (late) copy
        venue_fill = (await env.exchange.fills_since(0, COIN))[0]
        env.streams["b1"].put_nowait(FillsReceived((venue_fill,)))  # and the venue repeats it
        await settle()
    again = await env.orchestrator()  # a restart reconciles from the journal's last fill
    async with running(again):
        pass
    state = again.c.state.get_snapshot()
    assert (state.position, state.fill_count) == (D("0.2"), 1)
    assert again.c.store.fill_count() == 1
    assert len(env.of_type(OrderFilled)) == 1
    sells_at_100 = [o for o in await env.open_orders() if o.price == D(100)]
    assert len(sells_at_100) == 1  # and its replacement was placed once


async def test_state_not_corrupted_by_a_failure_in_the_middle_of_a_commit(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = await env.build()
    c.processor.process_fill(hand_fill(1, Side.BUY, "0.2", "100", at_s=1))
    await c.state.set_grid_center(D(100))
    before = c.state.get_snapshot()
    fail_state_writes(c, monkeypatch, after=True)  # both rows written, then the commit fails
    with pytest.raises(JournalWriteError):
        c.processor.process_fill(hand_fill(2, Side.SELL, "0.1", "101", at_s=2))
    with pytest.raises(JournalWriteError):
        await c.state.halt(HaltKind.MANUAL, "never saved")
    # the process dies here; a new process opens the same journal
    store = Store(
        journal_path(env.config.data_dir, PAPER, "b1"), venue="paper", bot="b1", coin=COIN
    )
    try:
        assert store.load_state() == before  # checksum fine, previous state intact
        assert store.fill_count() == 1
    finally:
        store.close()
    monkeypatch.undo()
    restarted = await env.build()
    assert restarted.state.get_snapshot().position == D("0.2")
    assert not restarted.state.get_snapshot().halted
    assert restarted.processor.process_fill(hand_fill(2, Side.SELL, "0.1", "101", at_s=2)).applied
    assert restarted.state.get_snapshot().position == D("0.1")
