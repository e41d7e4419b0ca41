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
    wait_until,
)

from gridtui.config.schema import AppConfig, BotSettings, GridSettings, RiskLimits
from gridtui.core.events import BotStopped
from gridtui.core.types import AssetMeta, ExchangeError, Order, Side
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.supervisor import Reconfigured, ReconfigureRefused, Supervisor

NEW_BOOK = {
    (Side.BUY, D(96), D("0.15")),
    (Side.BUY, D(98), D("0.15")),
    (Side.SELL, D(102), D("0.15")),
    (Side.SELL, D(104), D("0.15")),
}
"""b1's grid with 2 levels of 2 % and 0.15 BTC around the mid, 100."""


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


async def started(supervisor: Supervisor, stopped_after: list[Supervisor]) -> BotOrchestrator:
    """``supervisor`` running and quoting BTC (stopped after the test); its b1 bot."""
    stopped_after.append(supervisor)
    await supervisor.start()
    await quoting(supervisor, COIN)
    bot = supervisor.slots["b1"].bot
    assert bot is not None
    return bot


async def book(supervisor: Supervisor, coin: str) -> set[tuple[Side, D, D]]:
    return {(o.side, o.price, o.remaining) for o in await supervisor.exchange.open_orders(coin)}


async def test_new_settings_rebuild_the_grid_around_the_mid_and_keep_the_session(
    make_env: EnvFactory, stopped_after: list[Supervisor]
) -> None:
    supervisor = supervised(make_env())
    first = await started(supervisor, stopped_after)
    session = first.c.state.get_snapshot().session_start_ms
    await first.c.state.set_grid_center(D(101))  # the new grid must not keep the old center
    wider = GridSettings(levels=2, spacing_pct=D(2), size=D("0.15"))
    done = await supervisor.reconfigure(with_bot(supervisor.config, "b1", grid=wider))
    assert done == Reconfigured(rebuilt=("b1",))
    slot = supervisor.slots["b1"]
    deadline = time.monotonic() + 5  # the old bot stops, the new one adopts, cancels, places
    while await book(supervisor, COIN) != NEW_BOOK and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    assert await book(supervisor, COIN) == NEW_BOOK
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
    eth_book = await book(supervisor, OTHER)
    shutdown = BotOrchestrator.shutdown

    async def venue_refuses(self: BotOrchestrator, deadline: float) -> list[Order]:
        """The venue confirms none of e1's cancels: its orders stay on the book."""
        if self.name == "e1":
            return await self.c.exchange.open_orders(OTHER)
        return await shutdown(self, deadline)

    monkeypatch.setattr(BotOrchestrator, "shutdown", venue_refuses)
    wider = GridSettings(levels=2, spacing_pct=D(2), size=D("0.15"))
    change = with_bot(with_bot(before, "e1", enabled=False), "b1", grid=wider)
    done = await supervisor.reconfigure(change)
    assert done.refused == (
        f"e1: {len(eth_book)} of its orders could not be canceled; it keeps running",
    )
    assert supervisor.config == before  # b1's new grid not taken either
    assert list(supervisor.slots) == ["b1", "e1"]
    slot = supervisor.slots["e1"]
    await wait_until(lambda: slot.bot is not None and slot.bot.cycles >= 1)  # e1 back at work
    assert await book(supervisor, OTHER) == eth_book  # its own orders, adopted
    assert supervisor.slots["b1"].bot is not None
    assert supervisor.slots["b1"].bot.c.settings == before.bots[0]
    monkeypatch.setattr(BotOrchestrator, "shutdown", shutdown)
    report = await supervisor.stop()
    assert report.open_orders == 0


async def test_an_unexpected_error_while_retiring_keeps_the_bot_running(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch, stopped_after: list[Supervisor]
) -> None:
    supervisor = supervised(make_env(with_eth_bot=True))
    stopped_after.append(supervisor)
    await supervisor.start()
    await quoting(supervisor, COIN, OTHER)
    shutdown = BotOrchestrator.shutdown

    async def broken(self: BotOrchestrator, deadline: float) -> list[Order]:
        if self.name == "e1":
            raise RuntimeError("database is locked")
        return await shutdown(self, deadline)

    monkeypatch.setattr(BotOrchestrator, "shutdown", broken)
    done = await supervisor.reconfigure(with_bot(supervisor.config, "e1", enabled=False))
    assert done.refused == (
        "e1: its orders could not be canceled (database is locked); it keeps running",
    )
    slot = supervisor.slots["e1"]
    await wait_until(lambda: slot.bot is not None and slot.bot.cycles >= 1)
    assert not slot.retiring and await supervisor.exchange.open_orders(OTHER)
    monkeypatch.setattr(BotOrchestrator, "shutdown", shutdown)
    assert (await supervisor.stop()).open_orders == 0


async def test_a_stop_during_a_refused_retirement_still_cancels_every_order(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(with_eth_bot=True)
    supervisor = supervised(env)
    engine = attrs.evolve(supervisor.config.engine, shutdown_deadline_s=1.0)
    supervisor.config = attrs.evolve(supervisor.config, engine=engine)
    await supervisor.start()
    await quoting(supervisor, COIN, OTHER)
    shutdown = BotOrchestrator.shutdown
    refusals: list[str] = []

    async def refused_while_retiring(self: BotOrchestrator, deadline: float) -> list[Order]:
        if self.name == "e1" and not refusals:  # the retirement's cancels: never confirmed
            refusals.append(self.name)
            while time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return await self.c.exchange.open_orders(OTHER)
        return await shutdown(self, deadline)

    monkeypatch.setattr(BotOrchestrator, "shutdown", refused_while_retiring)
    retiring = asyncio.create_task(
        supervisor.reconfigure(with_bot(supervisor.config, "e1", enabled=False))
    )
    await asyncio.sleep(0.1)
    report = await supervisor.stop()  # waits for the retirement, then has its own deadline
    assert (await retiring).refused
    assert (report.open_orders, report.dead_man_disarmed) == (0, True)


async def test_a_reconfigure_queued_behind_another_is_refused_once_a_stop_began(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    supervisor = supervised(make_env(with_eth_bot=True))
    await supervisor.start()
    await quoting(supervisor, COIN, OTHER)
    shutdown = BotOrchestrator.shutdown

    async def slow(self: BotOrchestrator, deadline: float) -> list[Order]:
        await asyncio.sleep(0.3)
        return await shutdown(self, deadline)

    monkeypatch.setattr(BotOrchestrator, "shutdown", slow)
    first = asyncio.create_task(
        supervisor.reconfigure(with_bot(supervisor.config, "e1", enabled=False))
    )
    await asyncio.sleep(0.02)
    wider = GridSettings(levels=2, spacing_pct=D(2), size=D("0.15"))
    queued = asyncio.create_task(
        supervisor.reconfigure(with_bot(supervisor.config, "b1", grid=wider))
    )
    await asyncio.sleep(0.02)
    report = await supervisor.stop()
    assert (await first).retired == ("e1",)
    with pytest.raises(ReconfigureRefused, match="stopping"):
        await queued
    assert report.open_orders == 0


async def test_a_rebuild_whose_first_build_fails_still_recenters(
    make_env: EnvFactory, stopped_after: list[Supervisor]
) -> None:
    supervisor = supervised(make_env())
    first = await started(supervisor, stopped_after)
    await first.c.state.set_grid_center(D(101))
    meta = supervisor.exchange.asset_meta
    failed: list[str] = []

    async def fails_once(coin: str) -> AssetMeta:
        if not failed:
            failed.append(coin)
            raise ExchangeError("timeout")
        return await meta(coin)

    supervisor.exchange.asset_meta = fails_once  # type: ignore[method-assign]
    wider = GridSettings(levels=2, spacing_pct=D(2), size=D("0.15"))
    await supervisor.reconfigure(with_bot(supervisor.config, "b1", grid=wider))
    deadline = time.monotonic() + 5
    while await book(supervisor, COIN) != NEW_BOOK and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    assert failed == [COIN]
    assert await book(supervisor, COIN) == NEW_BOOK


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


async def test_only_coins_the_venue_client_streams_can_start_live(
    make_env: EnvFactory, stopped_after: list[Supervisor]
) -> None:
    supervisor = supervised(make_env(with_eth_bot=True))
    stopped_after.append(supervisor)
    supervisor.streamed = {COIN, OTHER}  # as a live client made for both bots streams
    await supervisor.start()
    await quoting(supervisor, COIN, OTHER)
    on = supervisor.config
    off = with_bot(on, "e1", enabled=False)
    assert await supervisor.reconfigure(off) == Reconfigured(retired=("e1",))
    assert await supervisor.reconfigure(on) == Reconfigured(started=("e1",))  # still streamed
    await quoting(supervisor, COIN, OTHER)
    assert await supervisor.reconfigure(off) == Reconfigured(retired=("e1",))
    supervisor.streamed = {COIN}  # a client made for BTC alone
    with pytest.raises(ReconfigureRefused, match="streams no ETH prices"):
        await supervisor.reconfigure(on)
