"""Supervisor.reconfigure: a running process takes new bot settings, new bots and disabled ones
(the cockpit's edit screen), on real run loops over a file-backed paper venue (bot_kit.supervised).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import attrs
import pytest
from bot_kit import (
    COIN,
    OTHER,
    D,
    EnvFactory,
    quoting,
    supervised,
)

from gridtui.config.schema import AppConfig, BotSettings, GridSettings, RiskLimits
from gridtui.core.events import BotStopped
from gridtui.core.types import Order, Side
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.supervisor import Reconfigured, ReconfigureRefused, Supervisor


def with_bot(config: AppConfig, name: str, **changes: object) -> AppConfig:
    bots = tuple(attrs.evolve(b, **changes) if b.name == name else b for b in config.bots)
    return attrs.evolve(config, bots=bots)


@pytest.fixture
async def stopped_after() -> AsyncIterator[list[Supervisor]]:
    """Supervisors appended here are stopped after the test, passed or failed (a failed
    assertion must not leave run loops behind to hang the test's teardown)."""
    made: list[Supervisor] = []
    yield made
    for supervisor in made:
        await supervisor.stop()


async def book(supervisor: Supervisor, coin: str) -> set[tuple[Side, D, D]]:
    return {(o.side, o.price, o.remaining) for o in await supervisor.exchange.open_orders(coin)}


async def test_new_settings_rebuild_the_grid_around_the_mid_and_keep_the_session(
    make_env: EnvFactory, stopped_after: list[Supervisor]
) -> None:
    supervisor = supervised(make_env())
    stopped_after.append(supervisor)
    await supervisor.start()
    await quoting(supervisor, COIN)
    first = supervisor.slots["b1"].bot
    assert first is not None
    session = first.c.state.get_snapshot().session_start_ms
    await first.c.state.set_grid_center(D(101))  # the new grid must not keep the old center
    wider = GridSettings(levels=2, spacing_pct=D(2), size=D("0.15"))
    done = await supervisor.reconfigure(with_bot(supervisor.config, "b1", grid=wider))
    assert done == Reconfigured(rebuilt=("b1",))
    new_book = {
        (Side.BUY, D(96), D("0.15")),
        (Side.BUY, D(98), D("0.15")),
        (Side.SELL, D(102), D("0.15")),
        (Side.SELL, D(104), D("0.15")),
    }
    slot = supervisor.slots["b1"]
    deadline = time.monotonic() + 5  # the old bot stops, the new one adopts, cancels, places
    while await book(supervisor, COIN) != new_book and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    assert await book(supervisor, COIN) == new_book
    assert slot.bot is not first and slot.bot is not None
    assert slot.bot.c.settings.grid == wider
    assert slot.bot.c.state.get_snapshot().session_start_ms == session
    report = await supervisor.stop()
    assert (report.open_orders, report.dead_man_disarmed) == (0, True)


async def test_a_disabled_bot_cancels_its_orders_and_leaves_the_others_trading(
    make_env: EnvFactory, stopped_after: list[Supervisor]
) -> None:
    env = make_env(with_eth_bot=True)
    supervisor = supervised(env)
    stopped_after.append(supervisor)
    await supervisor.start()
    await quoting(supervisor, COIN, OTHER)
    done = await supervisor.reconfigure(with_bot(supervisor.config, "e1", enabled=False))
    assert done == Reconfigured(retired=("e1",))
    assert await supervisor.exchange.open_orders(OTHER) == []
    assert list(supervisor.slots) == ["b1"]
    assert [e.open_orders for e in env.of_type(BotStopped, "e1")] == [0]
    assert await supervisor.exchange.open_orders(COIN)  # b1 untouched
    # Enabled again: it starts, and quotes ETH again.
    done = await supervisor.reconfigure(with_bot(supervisor.config, "e1", enabled=True))
    assert done == Reconfigured(started=("e1",))
    await quoting(supervisor, COIN, OTHER)
    assert list(supervisor.slots) == ["b1", "e1"]
    report = await supervisor.stop()
    assert (report.bots, report.open_orders) == (2, 0)


async def test_a_removed_bot_is_retired_and_an_added_one_starts(
    make_env: EnvFactory, stopped_after: list[Supervisor]
) -> None:
    env = make_env()
    supervisor = supervised(env)
    stopped_after.append(supervisor)
    await supervisor.start()
    await quoting(supervisor, COIN)
    eth = BotSettings(
        "e1", OTHER, GridSettings(levels=2, spacing_pct=D(1), size=D("0.01")), RiskLimits()
    )
    grown = attrs.evolve(supervisor.config, bots=(*supervisor.config.bots, eth))
    assert await supervisor.reconfigure(grown) == Reconfigured(started=("e1",))
    await quoting(supervisor, COIN, OTHER)
    shrunk = attrs.evolve(grown, bots=(eth,))
    assert await supervisor.reconfigure(shrunk) == Reconfigured(retired=("b1",))
    assert await supervisor.exchange.open_orders(COIN) == []
    assert supervisor.config == shrunk
    await supervisor.stop()


async def test_a_retirement_that_cannot_cancel_everything_keeps_the_bot_running(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch, stopped_after: list[Supervisor]
) -> None:
    env = make_env(with_eth_bot=True)
    supervisor = supervised(env)
    stopped_after.append(supervisor)
    await supervisor.start()
    await quoting(supervisor, COIN, OTHER)
    before = supervisor.config
    shutdown = BotOrchestrator.shutdown
    refused: list[str] = []

    async def refused_once(self: BotOrchestrator, deadline: float) -> list[Order]:
        """The venue never confirms one cancel: that order is reported left."""
        if self.name != "e1" or refused:
            return await shutdown(self, deadline)
        refused.append(self.name)
        kept = (await self.c.exchange.open_orders(OTHER))[:1]
        await shutdown(self, deadline)
        return kept

    monkeypatch.setattr(BotOrchestrator, "shutdown", refused_once)
    done = await supervisor.reconfigure(with_bot(before, "e1", enabled=False))
    assert done.refused == ("e1: 1 of its orders could not be canceled; it keeps running",)
    assert supervisor.config == before  # nothing else taken
    assert list(supervisor.slots) == ["b1", "e1"]
    await quoting(supervisor, COIN, OTHER)  # e1 back at work
    monkeypatch.setattr(BotOrchestrator, "shutdown", shutdown)
    report = await supervisor.stop()
    assert report.open_orders == 0


async def test_what_cannot_change_while_running_is_refused(
    make_env: EnvFactory, stopped_after: list[Supervisor]
) -> None:
    supervisor = supervised(make_env())
    stopped_after.append(supervisor)
    await supervisor.start()
    await quoting(supervisor, COIN)
    engine = attrs.evolve(supervisor.config.engine, shutdown_deadline_s=5.0)
    with pytest.raises(ReconfigureRefused, match="restart gridtui"):
        await supervisor.reconfigure(attrs.evolve(supervisor.config, engine=engine))
    with pytest.raises(ReconfigureRefused, match="b1 trades BTC: its coin cannot change"):
        await supervisor.reconfigure(with_bot(supervisor.config, "b1", coin=OTHER))
    await supervisor.stop()
