"""Runs every bot of a config: start, restart a crashed bot with backoff, stop everything cleanly.

One exchange client and one dead-man switch per venue account are shared by the bots. Nothing here
gives up on the venue: connecting and building a bot are retried with capped backoff while the bot
shows "waiting for exchange". A clean stop means: every bot cancels its orders until the exchange
confirms none is left (retried up to ``engine.shutdown_deadline_s``), then the exchange is asked
how many orders are still open — the figure ``shutdown_complete`` reports — and only if that is 0
is the dead-man switch disarmed; otherwise it is re-armed so the exchange cancels what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import attrs

from gridtui.config.schema import AppConfig, BotSettings, GridSettings, RiskLimits
from gridtui.core.clock import Clock, RealClock
from gridtui.core.events import BotCrashed, EventBus, Severity
from gridtui.core.types import BotStatus, ExchangeError, Order
from gridtui.exchanges.base import Exchange
from gridtui.execution.account_watch import AccountWatch
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics
from gridtui.monitoring.notifier import Notice, Notifier
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.orchestrator.factory import build_bot
from gridtui.orchestrator.view import BotView, bot_view, idle_view
from gridtui.risk.dead_man_switch import DeadManSwitch
from gridtui.risk.risk_engine import RiskMemory
from gridtui.state.data_dir import (
    DataDirError,
    adopt_legacy_journals,
    journal_dir,
    journal_owner,
    journal_path,
    list_journals,
    prepare_journal_dir,
)
from gridtui.state.live_status import REFRESH_S, LiveBot, remove_live_status, write_live_status
from gridtui.state.store import JournalWriteError, StoreCorrupted
from gridtui.venues import identity_of, make_exchange, streamed_coins

log = logging.getLogger(__name__)

ACCOUNT_EVERY_S = 2.0
"""How often the displays' account reading is renewed (each read serves every bot too)."""

DISARM_MIN_S = 5.0
"""Counting what is left and disarming the dead-man switch get at least this long at a stop."""
ALERTS_FLUSH_S = 10.0
"""At a stop, the alerts still queued (the last digest, orders left) get this long to go out."""


@attrs.frozen(slots=True)
class ShutdownReport:
    bots: int
    open_orders: int
    """Orders of ours still open on the exchange; -1 when the exchange could not tell."""
    dead_man_disarmed: bool
    duration_s: float
    left: tuple[str, ...] = ()
    """The orders still open, one description each, for the log."""

    @property
    def clean(self) -> bool:
        return self.open_orders == 0 and self.dead_man_disarmed


class Cancellable(Protocol):
    def cancel(self) -> object: ...


Runner = Callable[[Coroutine[Any, Any, None], str], Cancellable]
"""Starts a bot's supervision loop: ``asyncio.create_task`` headless, a Textual worker in the
TUI. Either way the supervisor only needs to cancel it."""


def _as_task(coro: Coroutine[Any, Any, None], name: str) -> Cancellable:
    return asyncio.create_task(coro, name=name)


@attrs.define
class BotSlot:
    """A bot and what runs it; ``bot`` is replaced by a fresh one on every restart."""

    name: str
    coin: str
    bot: BotOrchestrator | None = None
    handle: Cancellable | None = None
    done: asyncio.Event = attrs.Factory(asyncio.Event)
    restarts: int = 0
    last_error: str | None = None
    waiting: str | None = None
    """Why the bot cannot be built yet (the venue does not answer), with the next retry."""
    built: bool = False
    """Built once in this process: a rebuild continues its session (PnL, stop_loss_pnl)."""
    risk_memory: RiskMemory | None = None
    """What the last bot's risk engine learned, for the next rebuild of this session."""
    rebuild: bool = False
    """New settings were applied: the running bot stops and a fresh one is built over the same
    journal (``Supervisor.reconfigure``)."""
    recenter: bool = False
    """The next bot built builds its grid around the mid (cleared once one is built)."""
    broken: str | None = None
    """Why the loop ended for good (an unreadable journal): nothing runs or cancels for it."""
    retiring: bool = False
    """Disabled or removed: the loop ends and the bot's orders are canceled."""
    wake: asyncio.Event = attrs.Factory(asyncio.Event)
    """Cuts a restart backoff short (a rebuild or a retirement was asked for)."""


class ReconfigureRefused(Exception):
    """The new config cannot be taken while running: one line saying why and what to do."""


@attrs.frozen(slots=True)
class Reconfigured:
    """What ``Supervisor.reconfigure`` did, by bot name."""

    rebuilt: tuple[str, ...] = ()
    """New settings: a fresh grid around the mid."""
    started: tuple[str, ...] = ()
    """Added or enabled."""
    retired: tuple[str, ...] = ()
    """Disabled or removed, every order of theirs canceled."""
    refused: tuple[str, ...] = ()
    """One line per bot that could not be retired (its orders not all canceled): it keeps
    running as before, and nothing else of the new config was taken."""


class Supervisor:
    def __init__(
        self,
        config: AppConfig,
        *,
        clock: Clock | None = None,
        bus: EventBus | None = None,
        metrics: Metrics | None = None,
        exchange: Exchange | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or RealClock()
        self.bus = bus or EventBus()
        self.metrics = metrics or Metrics()
        self.exchange = exchange or make_exchange(config, self.clock)
        self.identity = identity_of(config, self.exchange)
        for line in adopt_legacy_journals(config.data_dir, self.identity):
            log.warning(line)
        prepare_journal_dir(config.data_dir, self.identity)
        self.account = AccountWatch(self.exchange, self.clock)
        """The venue's account, shared by every bot's risk gate and the displays."""
        self.dead_man = DeadManSwitch(
            self.exchange,
            config.dead_man,
            self.clock,
            Alerter(self.bus, self.clock),
            self.metrics,
        )
        self.slots: dict[str, BotSlot] = {}
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._venue_lock = asyncio.Lock()
        self._venue_up = False
        self.report: ShutdownReport | None = None
        self._runner: Runner = _as_task
        self.streamed = streamed_coins(config)
        """The coins the venue client streams prices of, fixed when it was made (None: any
        market of the config): a bot can be added or enabled live on these only."""
        self._reconfiguring = asyncio.Lock()
        self._live_status: asyncio.Task[None] | None = None
        self._account_reader: asyncio.Task[None] | None = None
        self.bus.subscribe(self.metrics.on_event)
        self.notifier = Notifier(config.alerts) if config.alerts.urls else None
        if self.notifier is not None:
            self.bus.subscribe(self.notifier.on_event)

    @property
    def bots(self) -> list[BotOrchestrator]:
        return [s.bot for s in self.slots.values() if s.bot is not None]

    async def start(self, runner: Runner = _as_task) -> None:
        """Start every enabled bot's supervision loop and return at once: connecting to the
        venue happens inside the loops, so a venue that does not answer shows as "waiting"."""
        self._runner = runner
        for settings in self.config.bots:
            if settings.enabled:
                self._add_slot(settings)
        self._live_status = asyncio.create_task(self._publish_statuses(), name="statuses")
        self._account_reader = asyncio.create_task(self._read_account(), name="account")
        if self.notifier is not None:
            self.notifier.start()

    def _add_slot(self, settings: BotSettings) -> BotSlot:
        slot = BotSlot(settings.name, settings.coin)
        self.slots[settings.name] = slot
        slot.handle = self._runner(self._supervise(slot), f"bot-{settings.name}")
        return slot

    async def _wait(self, seconds: float, slot: BotSlot | None = None) -> None:
        """Sleep, but wake at once when a stop is requested (or the slot is woken)."""
        waits = [asyncio.ensure_future(self._stop_requested.wait())]
        if slot is not None:
            waits.append(asyncio.ensure_future(slot.wake.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        if slot is not None:
            slot.wake.clear()

    async def _venue_ready(self) -> bool:
        """Start the shared venue client once, retrying with capped backoff; False if a stop
        came first. Every waiting slot shows why."""
        engine = self.config.engine
        backoff = engine.restart_backoff_s
        async with self._venue_lock:
            while not self._venue_up and not self._stopping:
                try:
                    await self.exchange.start()
                    self._venue_up = True
                    await self._sweep_orphans()
                except ExchangeError as exc:
                    why = f"{exc}, retry in {backoff:g} s"
                    for slot in self.slots.values():
                        slot.waiting = why
                    log.warning("waiting for exchange: %s", why)
                    await self._wait(backoff)
                    backoff = min(backoff * 2, engine.restart_backoff_max_s)
        return self._venue_up

    def running(self, name: str) -> BotOrchestrator | None:
        """The bot if it is up (not crashed, not between restarts, not stopped)."""
        slot = self.slots.get(name)
        if slot is None or slot.bot is None:
            return None
        if slot.bot.status in (BotStatus.CRASHED, BotStatus.STOPPED):
            return None
        return slot.bot

    def bots_running(self) -> list[BotOrchestrator]:
        return [bot for name in self.slots if (bot := self.running(name)) is not None]

    def views(self) -> list[BotView]:
        """One immutable view per bot, in config order, for displays."""
        now = self.clock.now_ms()
        out = []
        for slot in self.slots.values():
            bot = self.running(slot.name)
            if bot is not None:
                out.append(bot_view(bot))
                continue
            status, why = self._idle_status(slot)
            out.append(idle_view(slot.name, slot.coin, self.exchange.venue, status, why, now))
        return out

    def _idle_status(self, slot: BotSlot) -> tuple[BotStatus, str | None]:
        """What a bot that is not running is doing, and why."""
        if self.report is not None:
            return BotStatus.STOPPED, slot.last_error
        if slot.retiring:
            return BotStatus.STOPPING, "canceling its orders"
        if slot.waiting is not None:
            return BotStatus.WAITING, slot.waiting
        return (BotStatus.CRASHED if slot.last_error else BotStatus.STARTING), slot.last_error

    def live_statuses(self) -> dict[str, LiveBot]:
        """Each bot's status and why, for ``gridtui status`` in another shell (cheaper than
        ``views``: no ladder, no figures)."""
        out = {}
        for slot in self.slots.values():
            bot = self.running(slot.name)
            if bot is None:
                status, why = self._idle_status(slot)
            else:
                status, why = bot.status, bot.status_detail()
            out[slot.name] = LiveBot(status.value, why)
        return out

    async def _publish_statuses(self) -> None:
        """Every bot's status, for the readers outside the engine: /metrics (a crashed,
        restarting or stopping bot runs no cycle that could say so) and the live-status file,
        kept current on every change and every ``REFRESH_S`` so a reader can tell a live writer
        from a stuck one. A disk that refuses the file is logged once; the bots trade on (the
        journals, not this file, are the books)."""
        folder = journal_dir(self.config.data_dir, self.identity)
        written: dict[str, LiveBot] | None = None
        written_at = 0.0
        failing = False
        while True:
            try:
                current = self.live_statuses()
                for name, bot in current.items():
                    self.metrics.set_status(name, self.slots[name].coin, BotStatus(bot.status))
                if current != written or time.monotonic() - written_at >= REFRESH_S:
                    write_live_status(folder, current, self.account.latest)
                    written, written_at = current, time.monotonic()
                failing = False
            except Exception as exc:  # a display's failure is logged once, and tried again
                if not failing:
                    log.warning("bot statuses for /metrics and `gridtui status`: %s", exc)
                failing = True
            await asyncio.sleep(0.5)

    async def _read_account(self) -> None:
        """Keep the displays' account reading fresh while the venue is up and no stop is under
        way (a stop's queries come first); a failed read leaves the last one, whose time the
        displays show. Its own task: a venue that does not answer delays nothing else."""
        while not self._stopping:
            if self._venue_up:
                try:
                    await self.account.current()
                except ExchangeError as exc:
                    log.debug("reading the account failed: %s", exc)
            await self._wait(ACCOUNT_EVERY_S)

    async def _new_bot(
        self,
        name: str,
        settings: BotSettings | None = None,
        *,
        continue_session: bool = False,
        recenter: bool = False,
    ) -> BotOrchestrator:
        settings = settings or next(b for b in self.config.bots if b.name == name)
        slot = self.slots.get(name)
        if slot is not None and slot.bot is not None:
            slot.risk_memory = slot.bot.c.risk.memory()
        memory = slot.risk_memory if slot is not None and continue_session else None
        components = await build_bot(
            settings,
            config=self.config,
            exchange=self.exchange,
            dead_man=self.dead_man,
            bus=self.bus,
            clock=self.clock,
            metrics=self.metrics,
            identity=self.identity,
            continue_session=continue_session,
            account_watch=self.account,
            risk_memory=memory,
        )
        if recenter:
            components.builder.recenter()
        return BotOrchestrator(components, self.config.engine)

    async def _supervise(self, slot: BotSlot) -> None:
        """Crash-only restarts: a failed bot is dropped whole and rebuilt from its journal."""
        try:
            await self._restart_loop(slot)
        finally:
            slot.done.set()

    async def _restart_loop(self, slot: BotSlot) -> None:
        engine = self.config.engine
        backoff = engine.restart_backoff_s
        while not (self._stopping or slot.retiring):
            if not await self._venue_ready():
                return
            started = time.monotonic()
            try:
                slot.rebuild = False
                slot.wake.clear()
                slot.bot = await self._new_bot(
                    slot.name, continue_session=slot.built, recenter=slot.recenter
                )
                slot.recenter = False
                slot.built = True
                slot.waiting = None
                if self._stopping or slot.retiring:
                    return
                if not slot.rebuild:
                    await slot.bot.run()
                if not slot.rebuild or self._stopping or slot.retiring:
                    return
                # New settings: the same journal, a fresh graph; its orders are adopted and
                # the ones the new grid does not want are canceled before it places its own.
                old, slot.bot = slot.bot, None  # no new command reaches the old bot
                slot.risk_memory = old.c.risk.memory()
                try:
                    await old.idle()  # a command under way (a halt, a flatten) finishes first
                finally:
                    old.detach()
                continue
            except asyncio.CancelledError:
                raise
            except ExchangeError as exc:
                # The venue did not answer while building the bot (asset metadata): not a crash.
                slot.waiting = f"{exc}, retry in {backoff:g} s"
                log.warning("bot %s: waiting for exchange: %s", slot.name, slot.waiting)
                if slot.bot is not None:
                    slot.risk_memory = slot.bot.c.risk.memory()  # the rebuild goes on from it
                    slot.bot.detach()
                    slot.bot = None
            except Exception as exc:
                slot.last_error = f"{type(exc).__name__}: {exc}"
                if slot.bot is not None:
                    slot.bot.crashed()
                    slot.bot.detach()
                if isinstance(exc, StoreCorrupted):
                    # Restarting cannot mend a journal; trading on a wrong book is worse than
                    # not trading. The bot stays down and says why.
                    log.error("bot %s stopped for good: %s", slot.name, exc)
                    slot.broken = str(exc)
                    self._publish_crash(slot, None)
                    return
                slot.restarts += 1
                if isinstance(exc, JournalWriteError):  # the disk, not a bug: no traceback
                    log.error("bot %s cannot start: %s; retrying in %.1fs", slot.name, exc, backoff)
                else:
                    log.exception("bot %s crashed; restarting in %.1fs", slot.name, backoff)
                self._publish_crash(slot, backoff)
            if time.monotonic() - started > engine.restart_backoff_max_s:
                backoff = engine.restart_backoff_s  # it ran a good while: start over
            await self._wait(backoff, slot)
            backoff = min(backoff * 2, engine.restart_backoff_max_s)

    async def reconfigure(self, config: AppConfig) -> Reconfigured:
        """Run the bots of ``config`` (validated, as check-config validates a file) instead of
        the current ones, without a restart: the cockpit's edit screen, one change at a time.
        A bot no longer enabled is retired first (its loop ended, its orders canceled until
        the exchange confirms none is left); a bot whose settings changed is rebuilt over its
        journal (crash-only: the restart path, its orders adopted, the ones the new grid does
        not want canceled before it places its own, around the mid); a bot newly enabled
        starts. A retirement that cannot cancel every order leaves that bot running and the
        config as it was (bots retired before it in the same call stay retired). Only the bots
        may differ, and only on coins the venue client streams."""
        self._refuse_reconfigure(config)
        async with self._reconfiguring:
            self._refuse_reconfigure(config)  # a stop may have come while this call waited
            wanted = {b.name: b for b in config.bots if b.enabled}
            retired, refused = [], []
            for name in [n for n in self.slots if n not in wanted]:
                why = "disabled" if any(b.name == name for b in config.bots) else "removed"
                problem = await self._retire(self.slots[name], why)
                (retired if problem is None else refused).append(problem or name)
            if refused:
                return Reconfigured(retired=tuple(retired), refused=tuple(refused))
            before = {b.name: b for b in self.config.bots}
            self.config = config
            rebuilt, started = [], []
            for name, settings in wanted.items():
                slot = self.slots.get(name)
                if slot is None:
                    self._add_slot(settings)
                    started.append(name)
                elif settings != before.get(name):
                    slot.rebuild = slot.recenter = True
                    slot.wake.set()
                    if slot.bot is not None:
                        slot.bot.stop()
                    rebuilt.append(name)
            self.slots = {name: self.slots[name] for name in wanted if name in self.slots}
            return Reconfigured(tuple(rebuilt), tuple(started), tuple(retired))

    def _refuse_reconfigure(self, config: AppConfig) -> None:
        """Raise ``ReconfigureRefused`` for what cannot change while running."""
        if self._stopping:
            raise ReconfigureRefused("the bots are stopping")
        if attrs.evolve(config, bots=self.config.bots) != self.config:
            raise ReconfigureRefused(
                "only the bots' settings change while running; restart gridtui for the rest"
            )
        streamed = self.streamed
        enabled = {b.name: b for b in config.bots if b.enabled}
        for name, slot in self.slots.items():
            if slot.broken is not None and enabled.get(name) != self._settings(name):
                raise ReconfigureRefused(
                    f"bot {name} cannot start ({slot.broken}): its orders are not known; "
                    "mend or move its journal and restart gridtui"
                )
        for name, settings in enabled.items():
            slot = self.slots.get(name)
            if slot is not None and slot.coin != settings.coin:
                raise ReconfigureRefused(
                    f"bot {name} trades {slot.coin}: its coin cannot change (its journal is "
                    f"{slot.coin}'s); add a new bot for {settings.coin}"
                )
            if streamed is not None and settings.coin not in streamed:
                raise ReconfigureRefused(
                    f"bot {name}: the venue client streams no {settings.coin} prices (only "
                    "the coins the bots had at start); restart gridtui to trade it"
                )
            if slot is None:
                path = journal_path(self.config.data_dir, self.identity, name)
                try:
                    owner = journal_owner(path) if path.exists() else None
                except (StoreCorrupted, DataDirError) as exc:
                    raise ReconfigureRefused(f"bot {name}: {exc}") from None
                if owner is not None and owner[1] != settings.coin:
                    raise ReconfigureRefused(
                        f"bot {name}: its journal is {owner[1]}'s; give the {settings.coin} "
                        "bot another name"
                    )

    def _settings(self, name: str) -> BotSettings | None:
        return next((b for b in self.config.bots if b.name == name and b.enabled), None)

    async def _retire(self, slot: BotSlot, why: str) -> str | None:
        """End the slot's loop and cancel the bot's orders until the exchange confirms none is
        left; None when done (the slot is gone), else why not: then its loop runs again (at a
        stop, the stop cancels its orders). Whatever happens in between, even the caller being
        cancelled, a bot is never left stopped with its orders resting."""
        slot.retiring = True
        slot.wake.set()
        if slot.bot is not None:
            slot.bot.stop()
        problem: str | None = "interrupted"
        try:
            try:
                await asyncio.wait_for(slot.done.wait(), timeout=5)
            except TimeoutError:  # building against a venue that does not answer
                if slot.handle is not None:
                    slot.handle.cancel()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(slot.done.wait(), timeout=2)
            deadline = time.monotonic() + self.config.engine.shutdown_deadline_s
            bot = slot.bot
            if bot is None or bot.status is BotStatus.CRASHED:
                bot = slot.bot = await self._new_bot(slot.name, continue_session=slot.built)
                slot.built = True
            left = await bot.shutdown(deadline)
            problem = f"{len(left)} of its orders could not be canceled" if left else None
        except Exception as exc:
            log.exception("bot %s: retiring it failed", slot.name)
            problem = f"its orders could not be canceled ({exc})"
        finally:
            if problem is None:
                self._drop(slot, why)
            else:
                self._keep(slot, problem)
        return None if problem is None else f"{slot.name}: {problem}; it keeps running"

    def _drop(self, slot: BotSlot, why: str) -> None:
        """A retired bot: its orders are gone, its slot goes."""
        self._let_go(slot)
        del self.slots[slot.name]
        self.metrics.set_status(slot.name, slot.coin, BotStatus.STOPPED)
        log.warning("bot %s (%s) %s: its orders canceled", slot.name, slot.coin, why)

    @staticmethod
    def _let_go(slot: BotSlot) -> None:
        """The slot's bot is done with: its risk memory kept for a later build of the slot,
        its journal closed."""
        if slot.bot is not None:
            slot.risk_memory = slot.bot.c.risk.memory()
            slot.bot.detach()
            slot.bot = None

    def _keep(self, slot: BotSlot, problem: str) -> None:
        """A retirement that did not finish: the bot is supervised again (a stop under way
        finds it built but not running, and reopens it to cancel its orders)."""
        log.error("bot %s: %s; it keeps running", slot.name, problem)
        self._let_go(slot)
        slot.retiring = False
        slot.done.clear()
        slot.handle = self._runner(self._supervise(slot), f"bot-{slot.name}")

    def _publish_crash(self, slot: BotSlot, restart_in_s: float | None) -> None:
        self.bus.publish(
            BotCrashed(
                bot=slot.name,
                coin=slot.coin,
                timestamp_ms=self.clock.now_ms(),
                error=slot.last_error or "",
                restart_in_s=restart_in_s,
            )
        )

    async def _sweep_orphans(self) -> None:
        """Journals of this account that no enabled bot owns any more (removed, disabled,
        renamed) may still have orders resting, filling with nobody journaling them: each is
        opened once, its fills caught up and its orders canceled, in one line per bot."""
        enabled = {b.name for b in self.config.bots if b.enabled}
        configured = {b.name: b for b in self.config.bots}
        for name, path in list_journals(self.config.data_dir, self.identity).items():
            if name in enabled:
                continue
            try:
                owner = journal_owner(path)
                if owner is None:
                    continue  # never traded: no order of it can rest
                coin = owner[1]
                settings = configured.get(name) or BotSettings(
                    name, coin, GridSettings(), RiskLimits()
                )
                await self._sweep_orphan(
                    name,
                    coin,
                    settings,
                    why="disabled" if name in configured else "not in the config",
                )
            except (StoreCorrupted, DataDirError, ExchangeError) as exc:
                log.error(
                    "bot %s (no longer run): its orders could not be swept (%s); the next "
                    "start tries again",
                    name,
                    exc,
                )

    async def _sweep_orphan(self, name: str, coin: str, settings: BotSettings, *, why: str) -> None:
        bot = await self._new_bot(name, settings)
        try:
            before = [
                o for o in await self.exchange.open_orders(coin) if bot.c.reconciliation.owns(o)
            ]
            fills_before = bot.c.state.get_snapshot().fill_count
            deadline = time.monotonic() + self.config.engine.shutdown_deadline_s
            left = await bot.c.reconciliation.clear(deadline)
            fills = bot.c.state.get_snapshot().fill_count - fills_before
        finally:
            bot.detach()
        line = (
            f"bot {name} ({coin}, {why}): canceled {len(before) - len(left)} of its orders "
            f"left on the exchange, journaled {fills} missed fills"
        )
        if left:
            log.error("%s; %d could not be canceled", line, len(left))
        elif before or fills:
            log.warning(line)

    def stop_progress(self) -> str:
        """What a stop in progress is waiting for, in one line (said on a second Ctrl-C)."""
        waiting = [
            f"{bot.name}: {bot.c.reconciliation.waiting_reason}"
            for bot in self.bots
            if bot.status is BotStatus.STOPPING and bot.c.reconciliation.waiting_reason
        ]
        return "; ".join(waiting) or "bots finishing their current step"

    async def stop(self) -> ShutdownReport:
        """Stop every bot and cancel their orders until the exchange confirms none is left (or
        ``engine.shutdown_deadline_s`` passes); disarm the dead-man switch only then, else keep
        it armed so the exchange cancels what is left. Idempotent: a second call returns the
        first call's report."""
        if self.report is not None:
            return self.report
        started = time.monotonic()
        self.exchange.serve_stop()
        self._stopping = True
        self._stop_requested.set()
        async with self._reconfiguring:
            pass  # a retirement under way finishes its cancels first (bounded by its deadline)
        deadline = time.monotonic() + self.config.engine.shutdown_deadline_s
        for slot in self.slots.values():
            if slot.bot is not None:
                slot.bot.stop()
        for slot in self.slots.values():
            try:
                await asyncio.wait_for(slot.done.wait(), timeout=5)
            except TimeoutError:
                if slot.handle is not None:
                    slot.handle.cancel()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(slot.done.wait(), timeout=2)
        for slot in self.slots.values():
            if slot.broken is not None:  # its journal cannot be read: every order on its coin
                slot.bot = None  # counts as left (see _open_orders), none is known not ours
                continue
            crashed = slot.bot is not None and slot.bot.status is BotStatus.CRASHED
            if crashed or (slot.bot is None and slot.built):  # (between two builds)
                slot.bot = await self._reopen_crashed(slot)
        left_by_bot = await asyncio.gather(*(bot.shutdown(deadline) for bot in self.bots))
        if not self._venue_up:  # never reached: nothing was placed now; one short last look
            deadline = time.monotonic() + DISARM_MIN_S
            log.error("the exchange never answered; checking once more for orders left open")
        left = await self._open_orders(deadline)
        if left == []:  # a bot that ran out of time still owes the fills of its stop
            late = [bot for bot, mine in zip(self.bots, left_by_bot, strict=True) if mine]
            settle_by = max(deadline, time.monotonic() + DISARM_MIN_S)
            await asyncio.gather(*(b.c.reconciliation.settle_after_stop(settle_by) for b in late))
        disarmed = left == [] and await self._disarm(deadline)
        if left is None or left:
            await self._keep_armed()
        for bot in self.bots:
            bot.detach()
        if self._account_reader is not None:
            self._account_reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._account_reader
        await self.exchange.close()
        if self._live_status is not None:
            self._live_status.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._live_status
            remove_live_status(journal_dir(self.config.data_dir, self.identity))
        self.report = ShutdownReport(
            bots=len(self.slots),
            open_orders=-1 if left is None else len(left),
            dead_man_disarmed=disarmed,
            duration_s=time.monotonic() - started,
            left=tuple(_describe(o) for o in left or ()),
        )
        if self.notifier is not None:
            if not self.report.clean:
                self.notifier.notify(_left_notice(self.report))
            await self.notifier.close(ALERTS_FLUSH_S)
        return self.report

    async def _disarm(self, deadline: float) -> bool:
        """Retried until confirmed; it gets a few seconds even when the bots used the whole
        deadline, because a switch left armed cancels nothing that is not already gone, but a
        disarm that gave up at once makes a clean stop report itself as failed."""
        deadline = max(deadline, time.monotonic() + DISARM_MIN_S)
        while True:
            try:
                left = max(deadline - time.monotonic(), 0.05)
                await asyncio.wait_for(self.dead_man.disarm(), left)
                return True
            except (ExchangeError, TimeoutError) as exc:
                if time.monotonic() >= deadline:
                    log.error("dead-man switch could not be disarmed: %s", str(exc) or "timed out")
                    return False
            await asyncio.sleep(0.5)

    async def _keep_armed(self) -> None:
        """Orders are left: the exchange-side guard must fire on them, not be cleared."""
        if not self.dead_man.enabled:
            log.error("orders left open and the dead-man switch is off: cancel them by hand")
            return
        if await self.dead_man.refresh("supervisor", "*"):  # no bot checks in any more
            log.error(
                "dead-man switch left armed: the exchange cancels the orders left at %d ms",
                self.dead_man.expires_at_ms or 0,
            )
        else:
            log.error("dead-man switch could not be armed: %s", self.dead_man.last_error)

    async def _reopen_crashed(self, slot: BotSlot) -> BotOrchestrator | None:
        """A bot stopped while waiting to be restarted has left its orders on the exchange and
        its graph detached; a fresh graph over its journal knows those orders and cancels them.
        None (logged) when even that fails: the open-order count then shows what is left."""
        try:
            return await self._new_bot(slot.name, continue_session=slot.built)
        except Exception:
            log.exception("bot %s: cannot reopen it to cancel its orders at shutdown", slot.name)
            return None

    async def _open_orders(self, deadline: float) -> list[Order] | None:
        """Our orders still open on the exchange, asked until it answers or the deadline passes
        (None: it never answered, so nothing is known to be clear). Ours: a client id one of
        our journals knows, or any order on the coin of a bot that could not be reopened (its
        journal is unreadable, so nothing on its coin is known not to be ours)."""
        unknown_coins = {slot.coin for slot in self.slots.values() if slot.bot is None}
        bots = self.bots
        deadline = max(deadline, time.monotonic() + DISARM_MIN_S)
        while True:
            try:
                left = max(deadline - time.monotonic(), 0.05)
                orders = await asyncio.wait_for(self.exchange.open_orders(), left)
                break
            except (ExchangeError, TimeoutError) as exc:
                if time.monotonic() >= deadline:
                    log.error(
                        "could not count open orders at shutdown: %s", str(exc) or "timed out"
                    )
                    return None
            await asyncio.sleep(0.5)
        return [
            o
            for o in orders
            if o.coin in unknown_coins or any(b.c.reconciliation.owns(o) for b in bots)
        ]


def _describe(order: Order) -> str:
    return (
        f"{order.coin} {order.side.value} {order.remaining:f} @ {order.price:f} "
        f"(cloid {order.client_id})"
    )


def _left_notice(report: ShutdownReport) -> Notice:
    """What a stop that did not end clean says to the trader's phone."""
    if report.open_orders < 0:
        left = "the exchange never confirmed how many orders are left open"
    else:
        left = f"{report.open_orders} orders left open on the exchange"
    guard = (
        "dead-man switch disarmed"
        if report.dead_man_disarmed
        else "dead-man switch left armed: the exchange cancels them when it expires"
    )
    return Notice(
        "gridtui: stopped with orders left",
        "; ".join([left, *report.left[:10], guard]),
        Severity.CRITICAL,
    )
