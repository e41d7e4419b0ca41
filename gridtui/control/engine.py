"""What a cockpit asks of the engine, and the engine in the cockpit's own process.

The cockpit shows bots and sends commands; it never holds a bot. Everything it needs goes through
``Engine``, by bot name: the views, the events, the commands, the config and the venue's markets.
Two engines answer it: ``LocalEngine``, the supervisor in the same process (``gridtui``, the
terminal cockpit), and ``RemoteEngine`` (gridtui.control.remote), the supervisor of a
``gridtui serve`` process reached over its control socket — one engine, however many cockpits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import attrs

from gridtui.config.edit import ConfigEditError, write_config
from gridtui.config.schema import AppConfig
from gridtui.core.account import AccountSummary
from gridtui.core.events import Event
from gridtui.core.types import AssetMeta
from gridtui.execution.position_closer import CloseResult
from gridtui.execution.reconciliation_service import ReconcileReport
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.orchestrator.view import BotView, EquityPoint, realized_history
from gridtui.supervisor import (
    Reconfigured,
    ReconfigureRefused,
    Runner,
    ShutdownReport,
    Supervisor,
)

Unsubscribe = Callable[[], None]


class Engine(Protocol):
    """The bots as a cockpit sees them. Reads answer at once (a remote engine answers from the
    newest state its server pushed); commands are awaited and raise what went wrong."""

    owns_bots: bool
    """True when closing the cockpit must stop the bots (they live in its process); False for
    a cockpit attached to ``gridtui serve``, whose bots outlive it."""

    @property
    def config(self) -> AppConfig:
        """The config the bots run with now (an edit applied by any cockpit changes it)."""
        ...

    @property
    def names(self) -> tuple[str, ...]:
        """Every bot the engine supervises, in config order."""
        ...

    def views(self) -> Sequence[BotView]:
        """One view per supervised bot, in config order."""
        ...

    def is_running(self, name: str) -> bool:
        """The bot is up (not crashed, between restarts or stopped): it takes commands."""
        ...

    def history(self, name: str) -> Sequence[EquityPoint]:
        """The bot's realized PnL after each fill of its journal, for the chart's start."""
        ...

    def account(self) -> AccountSummary | None:
        """The venue's account at its last reading."""
        ...

    def now_ms(self) -> int: ...

    def subscribe(self, callback: Callable[[Event], None]) -> Unsubscribe:
        """Every engine event, as it happens, until the returned function is called."""
        ...

    def meta_of(self, name: str) -> AssetMeta | None:
        """A running bot's coin's size rules."""
        ...

    async def start(self, runner: Runner) -> None:
        """Start the bots (a local engine, as the cockpit's workers) or attach to them."""
        ...

    async def stop(self) -> ShutdownReport | None:
        """An engine that owns its bots stops every one cleanly and reports; an attached one
        lets go of the engine (its bots go on) and returns None."""
        ...

    def stop_progress(self) -> str:
        """What a stop under way waits for."""
        ...

    async def halt(self, name: str, reason: str) -> None: ...

    async def resume(self, name: str, *, lift_daily_loss: bool = False) -> None: ...

    async def flatten(self, name: str) -> CloseResult: ...

    async def reconcile(self, name: str) -> ReconcileReport: ...

    async def cancel_all(self, name: str) -> int: ...

    async def mids(self) -> dict[str, Decimal]:
        """Every market's mid at the venue now."""
        ...

    def tradable(self, coins: set[str]) -> set[str]:
        """Which of these coins a bot can be added or enabled on live."""
        ...

    async def asset_meta(self, coin: str) -> AssetMeta: ...

    async def apply_edit(
        self, config: AppConfig, text: str, *, based_on: AppConfig, file_was: str
    ) -> EditApplied:
        """Run the bots with ``config`` and write ``text`` (the same settings, the file's
        comments kept) into the config file, one edit at a time whichever cockpit sent it.
        ``ReconfigureRefused`` when the bots no longer run ``based_on`` (another cockpit's edit
        came first: this one would undo it) or the file no longer reads ``file_was`` (edited by
        hand meanwhile: never written over)."""
        ...


@attrs.frozen(slots=True)
class EditApplied:
    done: Reconfigured
    unwritten: str | None = None
    """Why the file was not written (the bots run the new settings all the same)."""


def tradable(streamed: frozenset[str] | set[str] | None, coins: set[str]) -> set[str]:
    """The coins a bot can be added or enabled on live: the venue client streams prices of
    ``streamed`` only (None: of any market)."""
    return set(coins) if streamed is None else set(streamed) & coins


def _read(source: Path) -> str | None:
    """The file's text; None when it cannot be read (which no edit began from)."""
    try:
        return source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


class BotNotRunning(Exception):
    """A command for a bot that is not up (stopped, crashed, between restarts, removed)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not running")


class LocalEngine:
    """The supervisor in the cockpit's process: closing the cockpit stops its bots."""

    owns_bots = True

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self._editing = asyncio.Lock()

    @property
    def config(self) -> AppConfig:
        return self.supervisor.config

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.supervisor.slots)

    def views(self) -> Sequence[BotView]:
        return self.supervisor.views()

    def is_running(self, name: str) -> bool:
        return self.supervisor.running(name) is not None

    def history(self, name: str) -> Sequence[EquityPoint]:
        bot = self.supervisor.running(name)
        return realized_history(bot) if bot is not None else []

    def account(self) -> AccountSummary | None:
        return self.supervisor.account.latest

    def now_ms(self) -> int:
        return self.supervisor.clock.now_ms()

    def subscribe(self, callback: Callable[[Event], None]) -> Unsubscribe:
        return self.supervisor.bus.subscribe(callback)

    def meta_of(self, name: str) -> AssetMeta | None:
        bot = self.supervisor.running(name)
        return bot.c.strategy.meta if bot is not None else None

    async def start(self, runner: Runner) -> None:
        await self.supervisor.start(runner=runner)

    async def stop(self) -> ShutdownReport:
        return await self.supervisor.stop()

    def stop_progress(self) -> str:
        return self.supervisor.stop_progress()

    def _bot(self, name: str) -> BotOrchestrator:
        bot = self.supervisor.running(name)
        if bot is None:
            raise BotNotRunning(name)
        return bot

    async def halt(self, name: str, reason: str) -> None:
        await self._bot(name).halt(reason)

    async def resume(self, name: str, *, lift_daily_loss: bool = False) -> None:
        await self._bot(name).resume(lift_daily_loss=lift_daily_loss)

    async def flatten(self, name: str) -> CloseResult:
        return await self._bot(name).flatten()

    async def reconcile(self, name: str) -> ReconcileReport:
        return await self._bot(name).reconcile()

    async def cancel_all(self, name: str) -> int:
        return await self._bot(name).cancel_all()

    async def mids(self) -> dict[str, Decimal]:
        return await self.supervisor.exchange.all_mids()

    def tradable(self, coins: set[str]) -> set[str]:
        return tradable(self.supervisor.streamed, coins)

    async def asset_meta(self, coin: str) -> AssetMeta:
        return await self.supervisor.exchange.asset_meta(coin)

    async def apply_edit(
        self, config: AppConfig, text: str, *, based_on: AppConfig, file_was: str
    ) -> EditApplied:
        source = config.source
        if source is None:
            raise ReconfigureRefused("no config file to edit (the bots were not started from one)")
        async with self._editing:
            if self.supervisor.config != based_on:
                raise ReconfigureRefused(
                    "the bots' settings changed while this edit was open (another cockpit "
                    "applied an edit): nothing applied; edit again"
                )
            if _read(source) != file_was:
                raise ReconfigureRefused(
                    f"{source} changed while the edit screen was open: nothing applied; edit again"
                )
            done = await self.supervisor.reconfigure(config)
            if done.refused:
                return EditApplied(done)
            if _read(source) != file_was:  # edited by hand while the bots were rebuilt
                return EditApplied(done, unwritten=f"{source} was changed by hand meanwhile")
            try:
                write_config(source, text)
            except ConfigEditError as exc:
                return EditApplied(done, unwritten=str(exc))
            return EditApplied(done)
