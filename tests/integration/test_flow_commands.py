"""BotOrchestrator commands (halt, resume, cancel_all, reconcile) and the Supervisor's lifecycle:
clean stop and restart of a crashed bot."""

from __future__ import annotations

import attrs
import pytest
from bot_kit import (
    COIN,
    ENGINE,
    OTHER,
    D,
    EnvFactory,
    quoting,
    running,
    settle,
    supervised,
    wait_until,
)

from gridtui.core.events import BotCrashed, BotHalted, BotResumed, OrderPlaced
from gridtui.core.types import BotStatus, Side
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.execution.reconciliation_service import ReconcileReport
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.state.data_dir import PAPER, journal_path

GRID_BOOK = {
    (side, D(price), D("0.2"))
    for side, price in [
        (Side.BUY, 97),
        (Side.BUY, 98),
        (Side.BUY, 99),
        (Side.SELL, 101),
        (Side.SELL, 102),
        (Side.SELL, 103),
    ]
}


async def test_halt_cancels_everything_and_places_nothing_until_resumed(
    make_env: EnvFactory,
) -> None:
    env = make_env(prices=[100, 99, 98, 100, 102, 100])
    bot = await env.orchestrator()
    async with running(bot):
        assert await env.book() == GRID_BOOK
        await bot.halt("operator")
        assert await env.open_orders() == []
        assert bot.status is BotStatus.HALTED
        placed = len(env.of_type(OrderPlaced))
        for _ in range(5):  # the market moves through the old grid: nothing is quoted
            env.next_price()
            await settle()
            await bot.cycle()
            assert await env.open_orders() == []
        assert len(env.of_type(OrderPlaced)) == placed
        assert bot.c.state.get_snapshot().fill_count == 0
        assert bot.c.state.get_snapshot().halt_reason == "operator"

        await bot.resume()
        await bot.cycle()
        # the grid again, around the last center: the mid (100) is inside it
        assert await env.book() == GRID_BOOK
        assert bot.status is BotStatus.RUNNING
    assert [e.reason for e in env.of_type(BotHalted)] == ["operator"]
    assert len(env.of_type(BotResumed)) == 1


async def test_a_halted_bot_stays_halted_after_a_restart(make_env: EnvFactory) -> None:
    env = make_env()
    bot = await env.orchestrator()
    async with running(bot):
        await bot.halt("operator")
    again = await env.orchestrator()
    async with running(again):
        await again.cycle()
        assert again.status is BotStatus.HALTED
        assert await env.open_orders() == []


async def test_cancel_all_leaves_no_order_on_the_coin(make_env: EnvFactory) -> None:
    env = make_env()
    bot = await env.orchestrator()
    elsewhere = await env.place_foreign(Side.BUY, "1900", "0.01", coin=OTHER)
    async with running(bot):
        canceled = await bot.cancel_all()
        assert canceled == 6
        assert await env.open_orders(COIN) == []
        assert [o.exchange_id for o in await env.open_orders(OTHER)] == [elsewhere.exchange_id]
        assert bot.c.ledger.live() == []
        await bot.cycle()  # not halted: the next cycle quotes again
        assert await env.book() == GRID_BOOK


async def test_reconcile_command_returns_its_report(make_env: EnvFactory) -> None:
    env = make_env()
    bot = await env.orchestrator()
    async with running(bot):
        await env.place_foreign(Side.SELL, "150", "0.2")
        report = await bot.reconcile()
    assert isinstance(report, ReconcileReport)
    assert (report.canceled_unknown, report.missing_fills, report.error) == (1, 0, None)
    assert report.position_checked and not report.position_corrected
    assert await env.book() == GRID_BOOK


# ---- Supervisor: real run loops, real clock, file-backed venue (see conftest.supervised) ----


async def test_supervisor_stop_leaves_no_order_and_disarms_the_dead_man_switch(
    make_env: EnvFactory,
) -> None:
    env = make_env(with_eth_bot=True)
    supervisor = supervised(env)
    await supervisor.start()
    await quoting(supervisor, COIN, OTHER)
    assert supervisor.dead_man.armed
    report = await supervisor.stop()
    assert (report.bots, report.open_orders, report.dead_man_disarmed) == (2, 0, True)
    stored = SimExchange.open_readonly(env.tmp_path / "sup.db")  # the venue's own record
    assert stored.open_orders == ()
    assert stored.records.schedule_cancel_ms is None
    assert all(bot.status is BotStatus.STOPPED for bot in supervisor.bots)


async def test_supervisor_restarts_a_bot_whose_run_raised(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env()
    cycle = BotOrchestrator.cycle
    failures = iter([RuntimeError("boom")])

    async def flaky(self: BotOrchestrator) -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        await cycle(self)

    monkeypatch.setattr(BotOrchestrator, "cycle", flaky)
    supervisor = supervised(env)
    await supervisor.start()
    slot = supervisor.slots["b1"]
    await wait_until(lambda: slot.restarts == 1)
    crashed = slot.bot
    await wait_until(lambda: slot.bot is not crashed and slot.bot.cycles >= 1)  # type: ignore[union-attr]
    await quoting(supervisor, COIN)
    (event,) = env.of_type(BotCrashed)
    assert (event.bot, event.error) == ("b1", "RuntimeError: boom")
    assert crashed is not None and crashed.status is BotStatus.CRASHED
    # The rebuilt bot goes on with the process's session (its PnL, its stop_loss_pnl).
    session = slot.bot.c.state.get_snapshot().session_start_ms  # type: ignore[union-attr]
    assert session == crashed.c.state.get_snapshot().session_start_ms
    report = await supervisor.stop()
    assert (report.open_orders, report.dead_man_disarmed) == (0, True)


async def test_supervisor_stop_during_a_restart_backoff_leaves_no_order(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(engine=attrs.evolve(ENGINE, restart_backoff_s=0.3, restart_backoff_max_s=1.0))
    cycle = BotOrchestrator.cycle

    async def quote_then_die(self: BotOrchestrator) -> None:
        await cycle(self)
        raise RuntimeError("died after quoting")

    monkeypatch.setattr(BotOrchestrator, "cycle", quote_then_die)
    supervisor = supervised(env)
    await supervisor.start()
    await wait_until(lambda: supervisor.slots["b1"].restarts == 1)
    assert len(await supervisor.exchange.open_orders(COIN)) == 6  # left by the dead bot
    report = await supervisor.stop()  # while the bot waits out its backoff
    assert (report.open_orders, report.dead_man_disarmed) == (0, True)
    stored = SimExchange.open_readonly(env.tmp_path / "sup.db")
    assert stored.open_orders == ()


async def test_a_bot_with_a_corrupted_journal_stays_down_and_says_why(
    make_env: EnvFactory,
) -> None:
    env = make_env(with_eth_bot=True)
    journal = journal_path(env.config.data_dir, PAPER, "b1")
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_bytes(b"this is not a journal" * 100)
    supervisor = supervised(env)
    await supervisor.start()
    await wait_until(lambda: bool(env.of_type(BotCrashed)))
    await quoting(supervisor, OTHER)  # the healthy bot trades on
    (event,) = env.of_type(BotCrashed)
    assert event.bot == "b1" and event.restart_in_s is None
    assert "b1.db" in event.error
    assert supervisor.slots["b1"].restarts == 0
    report = await supervisor.stop()
    assert report.open_orders == 0
