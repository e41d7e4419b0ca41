"""Runs every bot of a config: start, restart a crashed bot with backoff, stop everything cleanly.

One exchange client and one dead-man switch per venue account are shared by the bots. A clean stop
means: every bot cancels its orders, then the dead-man switch is disarmed, then the exchange is
asked how many orders are still open — the figure ``shutdown_complete`` reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import attrs

from gridtui.config.schema import AppConfig, VenueKind
from gridtui.core.clock import Clock, RealClock
from gridtui.core.events import BotCrashed, EventBus
from gridtui.core.types import ExchangeError
from gridtui.exchanges.base import Exchange, VenueUnavailable
from gridtui.exchanges.hyperliquid.client import HyperliquidExchange
from gridtui.exchanges.hyperliquid.keys import KeyLoadError, load_agent_key
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.monitoring.metrics import Metrics
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator, BotStatus
from gridtui.orchestrator.factory import build_bot
from gridtui.orchestrator.view import BotView, bot_view, idle_view
from gridtui.risk.dead_man_switch import DeadManSwitch
from gridtui.state.store import StoreCorrupted

log = logging.getLogger(__name__)


MAINNET_URL = "https://api.hyperliquid.xyz"
TESTNET_URL = "https://api.hyperliquid-testnet.xyz"


def make_exchange(config: AppConfig, clock: Clock, *, stream: bool = True) -> Exchange:
    """The venue client for a config. Live: the agent key comes from GRIDTUI_HL_KEY or a 0600 key
    file (never the config); without an account address the key's own address is the account."""
    venue = config.venue
    if venue.kind is VenueKind.PAPER:
        return SimExchange(venue.paper, clock)
    try:
        signer = load_agent_key(key_file=venue.key_file)
    except KeyLoadError as exc:
        raise VenueUnavailable(str(exc)) from exc
    is_mainnet = venue.network == "mainnet"
    base_url = venue.api_url or (MAINNET_URL if is_mainnet else TESTNET_URL)
    return HyperliquidExchange(
        base_url,
        venue.account_address or signer.address,
        signer,
        clock,
        is_mainnet=is_mainnet,
        stream=stream,
        stream_coins={b.coin for b in config.bots if b.enabled},
    )


@attrs.frozen(slots=True)
class ShutdownReport:
    bots: int
    open_orders: int
    dead_man_disarmed: bool
    duration_s: float


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
        self.dead_man = DeadManSwitch(self.exchange, config.dead_man, self.clock)
        self.slots: dict[str, BotSlot] = {}
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self.report: ShutdownReport | None = None
        self.bus.subscribe(self.metrics.on_event)

    @property
    def bots(self) -> list[BotOrchestrator]:
        return [s.bot for s in self.slots.values() if s.bot is not None]

    async def start(self, runner: Runner = _as_task) -> None:
        await self.exchange.start()
        for settings in self.config.bots:
            if not settings.enabled:
                continue
            slot = BotSlot(settings.name, settings.coin)
            self.slots[settings.name] = slot
            slot.handle = runner(self._supervise(slot), f"bot-{settings.name}")

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
            if self.report is not None:
                status = "stopped"
            else:
                status = "crashed" if slot.last_error else "starting"
            out.append(
                idle_view(slot.name, slot.coin, self.exchange.venue, status, slot.last_error, now)
            )
        return out

    async def _new_bot(self, name: str) -> BotOrchestrator:
        settings = next(b for b in self.config.bots if b.name == name)
        components = await build_bot(
            settings,
            config=self.config,
            exchange=self.exchange,
            dead_man=self.dead_man,
            bus=self.bus,
            clock=self.clock,
            metrics=self.metrics,
        )
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
        while not self._stopping:
            started = time.monotonic()
            try:
                slot.bot = await self._new_bot(slot.name)
                if self._stopping:
                    return
                await slot.bot.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                slot.last_error = f"{type(exc).__name__}: {exc}"
                if slot.bot is not None:
                    slot.bot.status = BotStatus.CRASHED
                    slot.bot.detach()
                if isinstance(exc, StoreCorrupted):
                    # Restarting cannot mend a journal; trading on a wrong book is worse than
                    # not trading. The bot stays down and says why.
                    log.error("bot %s stopped for good: %s", slot.name, exc)
                    self._publish_crash(slot, None)
                    return
                slot.restarts += 1
                log.exception("bot %s crashed; restarting in %.1fs", slot.name, backoff)
                if time.monotonic() - started > engine.restart_backoff_max_s:
                    backoff = engine.restart_backoff_s  # it ran a good while: start over
                self._publish_crash(slot, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), backoff)
                backoff = min(backoff * 2, engine.restart_backoff_max_s)

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

    async def stop(self) -> ShutdownReport:
        """Stop every bot, cancel their orders, disarm the dead-man switch. Idempotent: a second
        call returns the first call's report."""
        if self.report is not None:
            return self.report
        started = time.monotonic()
        self._stopping = True
        self._stop_requested.set()
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
            if slot.bot is not None and slot.bot.status is BotStatus.CRASHED:
                slot.bot = await self._reopen_crashed(slot)
        for bot in self.bots:
            try:
                await bot.shutdown()
            except ExchangeError as exc:
                log.error("bot %s: shutdown cancel failed: %s", bot.name, exc)
        disarmed = True
        try:
            await self.dead_man.disarm()
        except ExchangeError as exc:
            disarmed = False
            log.error("dead-man switch could not be disarmed: %s", exc)
        open_orders = await self._count_open_orders()
        for bot in self.bots:
            bot.detach()
        await self.exchange.close()
        self.report = ShutdownReport(
            bots=len(self.slots),
            open_orders=open_orders,
            dead_man_disarmed=disarmed,
            duration_s=time.monotonic() - started,
        )
        return self.report

    async def _reopen_crashed(self, slot: BotSlot) -> BotOrchestrator | None:
        """A bot stopped while waiting to be restarted has left its orders on the exchange and
        its graph detached; a fresh graph over its journal knows those orders and cancels them.
        None (logged) when even that fails: the open-order count then shows what is left."""
        try:
            return await self._new_bot(slot.name)
        except Exception:
            log.exception("bot %s: cannot reopen it to cancel its orders at shutdown", slot.name)
            return None

    async def _count_open_orders(self) -> int:
        coins = {b.coin for b in self.config.bots if b.enabled}
        try:
            orders = await self.exchange.open_orders()
        except ExchangeError as exc:
            log.error("could not count open orders at shutdown: %s", exc)
            return -1
        return sum(1 for o in orders if o.coin in coins)
