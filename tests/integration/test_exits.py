"""Exits on the paper venue: a stop-loss or take-profit price, or a trader's flatten, cancels the
grid, closes the position with reduce-only Ioc orders within the slippage cap, and halts."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest
from bot_kit import RISK, D, Env, EnvFactory, running, settle, supervised, wait_until

from gridtui.core.events import AlertKind, AlertRaised, Severity
from gridtui.core.types import BotStatus, ExchangeError, OrderStatus, Side, Tif
from gridtui.execution.execution_gateway import EXIT_LEVEL
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.state.accounting import HaltKind
from gridtui.state.records import OrderRecord
from gridtui.supervisor import Supervisor


def exits_of(bot: BotOrchestrator) -> list[OrderRecord]:
    return [o for o in bot.c.store.orders() if o.level == EXIT_LEVEL]


def exit_alerts(env: Env) -> list[AlertRaised]:
    return [a for a in env.of_type(AlertRaised) if a.kind is AlertKind.POSITION_EXIT]


async def walk(env: Env, bot: BotOrchestrator, prices: int) -> None:
    """The tape moves on ``prices`` prices; the bot sees each move and runs a cycle."""
    for _ in range(prices):
        env.next_price()
        await settle()
        await bot.cycle()


async def test_the_stop_loss_price_closes_the_position_reduce_only_within_the_cap(
    make_env: EnvFactory,
) -> None:
    risk = attrs.evolve(RISK, stop_loss_price=D("97.5"), max_slippage_pct=D(1))
    env = make_env(prices=[100, 99, 98, 97, 96], risk=risk)
    bot = await env.orchestrator()
    async with running(bot):
        await walk(env, bot, 2)  # 99, 98: two buys fill, the bot runs on
        assert bot.c.state.get_snapshot().position == D("0.4")
        assert bot.status is BotStatus.RUNNING
        await walk(env, bot, 1)  # 97: at or below 97.5
        state = bot.c.state.get_snapshot()
        assert (state.position, state.halted, state.halt_kind) == (0, True, HaltKind.STOP_LOSS)
        assert state.halt_reason == "stop_loss: mark 97 at or below stop_loss_price 97.5"
        assert await env.open_orders() == []  # the grid is gone, and nothing of the exit rests
        (order,) = exits_of(bot)
        assert (order.side, order.tif, order.reduce_only) == (Side.SELL, Tif.IOC, True)
        assert order.price == D("96.03")  # 97 less 1 %, rounded up: never below the cap
        assert order.status is OrderStatus.FILLED
        (fill,) = [f for f in bot.c.store.fills() if f.client_id == order.client_id]
        assert fill.price >= order.price and fill.size == D("0.6")
        (said,) = exit_alerts(env)
        assert (said.severity, said.message) == (
            Severity.WARNING,
            "position closed: 0.6 BTC in 1 orders",
        )
        await walk(env, bot, 1)  # halted: nothing is quoted again
        assert await env.open_orders() == []


async def test_the_take_profit_price_buys_back_a_short(make_env: EnvFactory) -> None:
    risk = attrs.evolve(RISK, take_profit_price=D("101.5"))
    env = make_env(prices=[100, 101, 102], risk=risk)
    bot = await env.orchestrator()
    async with running(bot):
        await walk(env, bot, 1)
        assert bot.c.state.get_snapshot().position == D("-0.2")
        await walk(env, bot, 1)
        state = bot.c.state.get_snapshot()
        assert (state.position, state.halt_kind) == (0, HaltKind.TAKE_PROFIT)
        (order,) = exits_of(bot)
        assert (order.side, order.reduce_only) == (Side.BUY, True)
        assert order.price <= D(102) * Decimal("1.005")


async def test_flatten_closes_what_a_halt_left_and_says_so(make_env: EnvFactory) -> None:
    env = make_env(prices=[100, 99, 98])
    bot = await env.orchestrator()
    async with running(bot):
        await walk(env, bot, 2)
        await bot.halt("operator")  # a halt cancels orders, the position stays
        assert bot.c.state.get_snapshot().position == D("0.4")
        result = await bot.flatten()
        assert (result.closed, result.left, result.orders) == (D("0.4"), 0, 1)
        state = bot.c.state.get_snapshot()
        assert (state.position, state.halt_kind, state.halt_reason) == (
            0,
            HaltKind.FLATTEN,
            "flattened by hand",
        )


async def test_an_exit_the_book_cannot_fill_within_the_cap_says_what_is_left(
    make_env: EnvFactory,
) -> None:
    """A cap tighter than the spread: every Ioc finds nothing at its price; the bot stays
    halted, nothing rests, and the alert is critical with the position left."""
    risk = attrs.evolve(RISK, max_slippage_pct=D("0.0001"))
    env = make_env(prices=[100, 99, 98], risk=risk)
    bot = await env.orchestrator()
    async with running(bot):
        await walk(env, bot, 2)
        result = await bot.flatten()
        assert result.left == D("0.4") and result.orders == 5
        assert result.error is not None and "could not immediately match" in result.error
        assert await env.open_orders() == []
        assert bot.status is BotStatus.HALTED
        (said,) = exit_alerts(env)
        assert said.severity is Severity.CRITICAL
        assert said.message.startswith("position not fully closed: 0.4 BTC left after 5 orders")


class FailOnce:
    """Makes the next bot cycle raise ``error`` once, when armed (``arm``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
        self.armed = False
        cycle = BotOrchestrator.cycle

        async def flaky(bot: BotOrchestrator) -> None:
            if self.armed:
                self.armed = False
                raise error
            await cycle(bot)

        monkeypatch.setattr(BotOrchestrator, "cycle", flaky)

    def arm(self) -> None:
        self.armed = True


async def running_bot(env: Env) -> tuple[Supervisor, BotOrchestrator]:
    """A supervised bot past its first few cycles."""
    supervisor = supervised(env)
    await supervisor.start()
    await wait_until(lambda: (b := supervisor.running("b1")) is not None and b.cycles > 2)
    first = supervisor.running("b1")
    assert first is not None
    return supervisor, first


async def test_a_crash_rebuild_keeps_what_the_risk_engine_learned(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash loop must not be a way around the limits: the rebuilt bot (same session)
    starts from the crashed one's peak equity, lifted daily loss and stop-loss base."""
    crash = FailOnce(monkeypatch, RuntimeError("a bug"))
    supervisor, first = await running_bot(make_env())
    first.c.risk._peak_equity = D(50)  # as if equity had been 50 above today's
    first.c.risk._daily_loss_lifted_day = 20_000
    crash.arm()
    slot = supervisor.slots["b1"]
    await wait_until(lambda: slot.restarts == 1 and supervisor.running("b1") not in (None, first))
    rebuilt = supervisor.running("b1")
    assert rebuilt is not None
    assert (rebuilt.c.risk.peak_equity, rebuilt.c.risk.memory().daily_loss_lifted_day) == (
        D(50),
        20_000,
    )
    await supervisor.stop()


async def test_an_exchange_error_out_of_a_running_bot_keeps_its_risk_memory_too(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail = FailOnce(monkeypatch, ExchangeError("HTTP 502"))
    supervisor, first = await running_bot(make_env())
    first.c.risk._peak_equity = D(50)
    fail.arm()
    await wait_until(lambda: supervisor.running("b1") not in (None, first))
    rebuilt = supervisor.running("b1")
    assert rebuilt is not None and rebuilt.c.risk.peak_equity == D(50)
    await supervisor.stop()
