"""One bot's lifecycle: loop timing, the stream consumer, commands, error boundary, shutdown.

No trading decision is made here; each step asks the component whose job it is. Start-up and crash
recovery are one path (``start`` reconciles before anything else), so a bot restarted after kill -9
behaves exactly like a bot started fresh on its journal.

Books are *confirmed* once a reconciliation has fully succeeded (fills caught up, open orders
known, position compared). Until then, and again after a stream reset or a failed reconciliation,
the bot places no order: it keeps the dead-man switch fresh, journals every fill it learns of, and
retries the reconciliation with capped backoff, showing "waiting for exchange".
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from decimal import Decimal

from gridtui.config.schema import EngineSettings, GridMode
from gridtui.core.events import BotHalted, BotResumed, BotStarted, BotStopped, Severity
from gridtui.core.types import Order
from gridtui.exchanges.base import FillsReceived, MidUpdated, OrderUpdated, StreamReset
from gridtui.execution.fill_processor import FillResult
from gridtui.execution.reconciliation_service import ReconcileReport
from gridtui.orchestrator.factory import BotComponents
from gridtui.orchestrator.view import FillTape
from gridtui.state.store import JournalWriteError

log = logging.getLogger(__name__)

REPAIR_EVERY_CYCLES = 10


class BotStatus(enum.Enum):
    STARTING = "starting"
    WAITING = "waiting for exchange"
    """Books not confirmed yet (or any more): no order goes out until a reconciliation succeeds."""
    RUNNING = "running"
    HALTED = "halted"
    STOPPING = "stopping"
    STOPPED = "stopped"
    CRASHED = "crashed"


class BotOrchestrator:
    def __init__(self, components: BotComponents, engine: EngineSettings) -> None:
        self.c = components
        self.engine = engine
        self.status = BotStatus.STARTING
        self.cycles = 0
        self._stop = asyncio.Event()
        self._trading = asyncio.Lock()
        self._queue = components.exchange.subscribe()
        self._last_reconcile_ms = 0
        self.fills = FillTape()
        self._recenter = False
        self._repair = False
        self.fault: str | None = None
        """Why the bot halted itself outside the journal (a disk error), for displays."""

    @property
    def name(self) -> str:
        return self.c.name

    @property
    def coin(self) -> str:
        return self.c.coin

    def mark(self) -> Decimal | None:
        """The price decisions are made at: the stream's mid, or the REST poll's when silent."""
        feed = self.c.feed
        if feed.is_stale() and self.c.poller.last_mid is not None:
            return self.c.poller.last_mid
        return feed.mid

    async def run(self) -> None:
        """Run until ``stop()``; an exception escapes to the supervisor, which restarts the bot."""
        consumer = asyncio.create_task(self._consume_stream(), name=f"{self.name}-stream")
        try:
            await self.start()
            while not self._stop.is_set():
                await self.cycle()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.engine.cycle_interval_s)
                if consumer.done():
                    consumer.result()  # re-raises a stream-processing failure here
        except JournalWriteError as exc:
            await self._halt_on_disk_error(exc)
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError, JournalWriteError):
                await consumer  # a journal failure of the consumer was handled above

    async def _halt_on_disk_error(self, exc: JournalWriteError) -> None:
        """A journal that refuses writes cannot record fills: trading must stop, but a restart
        would only fail again (no crash loop). The halt lives in memory only (orders canceled
        without the journal); the bot idles until the process stops."""
        self.fault = f"journal write failed: {exc}"
        await self.halt(self.fault, journaled=False)
        await self._stop.wait()

    def stop(self) -> None:
        self._stop.set()

    async def start(self) -> None:
        now = self.c.clock.now_ms()
        self.c.bus.publish(BotStarted(bot=self.name, coin=self.coin, timestamp_ms=now))
        await self.reconcile()

    def _settle_status(self) -> None:
        if not self.c.reconciliation.confirmed:
            self.status = BotStatus.WAITING
        else:
            halted = self.c.state.get_snapshot().halted
            self.status = BotStatus.HALTED if halted else BotStatus.RUNNING

    async def cycle(self) -> None:
        """One engine cycle. Order matters: the dead-man switch first, so a cycle that fails
        later still kept the exchange-side guard fresh."""
        c = self.c
        self.cycles += 1
        await self._refresh_dead_man()
        await c.gateway.heal()
        if c.feed.is_stale():
            await self._handle_fills(await c.poller.poll())
        now = c.clock.now_ms()
        if c.reconciliation.retry_due(now):
            await self.reconcile()
            self._repair = True
        if not c.reconciliation.confirmed:
            self.c.report_metrics()
            return
        mark = self.mark()
        self.c.report_metrics()
        if mark is None:
            return
        state = c.state.get_snapshot()
        if state.halted:
            if c.risk.auto_resume_due(state, now):
                await self.resume()
            return
        decision = c.risk.check_equity(state, mark)
        if decision.halt:
            await self.halt(decision.reason or "risk limit")
            return
        async with self._trading:
            snapshot = c.builder.snapshot
            grid = c.settings.grid
            # A bounded grid never moves: out of range, it simply waits for the price to return.
            left = (
                grid.mode is GridMode.ROLLING
                and snapshot is not None
                and snapshot.is_outside(mark, grid.recenter_threshold_pct)
            )
            if snapshot is None or left or self._recenter:
                keep = snapshot is None and not self._recenter
                grid_at = lambda price: c.strategy.desired_grid(price, now)  # noqa: E731
                await c.builder.rebuild(
                    mark,
                    grid_at,
                    keep_center=keep,
                    recenter_threshold_pct=grid.recenter_threshold_pct,
                )
                self._recenter = False
            elif self._repair or self.cycles % REPAIR_EVERY_CYCLES == 0:
                self._repair = False
                await c.builder.build_and_place_grid(snapshot, mark)
        if now - self._last_reconcile_ms >= self.engine.reconcile_interval_s * 1000:
            await self.reconcile()
        await c.gateway.cancel_stuck(self.engine.stuck_order_after_s)

    async def _consume_stream(self) -> None:
        while True:
            event = await self._queue.get()
            if isinstance(event, MidUpdated):
                if event.coin == self.coin:
                    self.c.feed.on_mid(event.price, event.timestamp_ms)
                    self.c.strategy.observe(event.price, event.timestamp_ms)
            elif isinstance(event, FillsReceived):
                fills = [f for f in event.fills if f.coin == self.coin]
                ours = [f for f in fills if self.c.reconciliation.is_ours(f)]
                await self._handle_fills(self.c.processor.process_fills(ours))
            elif isinstance(event, OrderUpdated):
                self.c.gateway.on_order_update(event.order)
            elif isinstance(event, StreamReset):
                # Fills may have been missed: no order goes out until the books are confirmed.
                log.warning("%s: stream reset (%s); reconciling", self.name, event.reason)
                self.c.metrics.stream_reconnected(self.name, self.coin)
                self.c.reconciliation.unconfirm(f"stream reset ({event.reason})")
                await self.reconcile()

    async def _refresh_dead_man(self) -> None:
        """Every cycle. A refusal does not stop trading (the venue may not allow it yet) but is
        alerted once per outage (the switch tells), so the trader knows the guard is off."""
        dms, metrics = self.c.dead_man, self.c.metrics
        if not dms.enabled:
            return
        if await dms.refresh():
            if dms.expires_at_ms is not None:
                metrics.set_dead_man_expiry(dms.expires_at_ms / 1000)
            return
        metrics.dead_man_refresh_failed()
        if dms.first_failure_of_outage():
            self.c.alerter.raise_alert(
                bot=self.name,
                coin=self.coin,
                severity=Severity.CRITICAL,
                kind="dead_man_refresh_failed",
                message=f"dead-man switch not refreshed: {dms.last_error}",
            )

    async def _handle_fills(self, results: list[FillResult]) -> None:
        for result in results:
            if result.applied:
                cid = result.fill.client_id
                tracked = self.c.ledger.get(cid) if cid else None
                self.fills.add(result.fill, tracked.level if tracked else None)
        mark = self.mark()
        confirmed = self.c.reconciliation.confirmed
        if results and (not confirmed or mark is None):
            self._repair = True  # the repair places the replacements once it can
        async with self._trading:
            for result in results:
                await self.c.builder.on_fill(result, mark, place=confirmed)

    async def halt(self, reason: str, *, journaled: bool = True) -> None:
        """Stop trading: cancel every order and place none until resumed."""
        async with self._trading:
            if journaled:
                await self.c.state.set_halted(reason)
                self._settle_status()
            else:
                self.status = BotStatus.HALTED
            await self.c.gateway.cancel_all(reason=f"halt: {reason}")
        now = self.c.clock.now_ms()
        self.c.bus.publish(
            BotHalted(bot=self.name, coin=self.coin, timestamp_ms=now, reason=reason)
        )
        self.c.alerter.raise_alert(
            bot=self.name,
            coin=self.coin,
            severity=Severity.CRITICAL,
            kind="bot_halted",
            message=f"halted: {reason}",
        )

    async def resume(self) -> None:
        async with self._trading:
            await self.c.state.set_halted(None)
            self._settle_status()
            self.c.builder.snapshot = None  # the next cycle builds a fresh grid at the mid
        self.c.bus.publish(
            BotResumed(bot=self.name, coin=self.coin, timestamp_ms=self.c.clock.now_ms())
        )

    async def cancel_all(self) -> int:
        """Cancel every order of this bot; the grid is rebuilt on the next cycle unless halted."""
        async with self._trading:
            results = await self.c.gateway.cancel_all(reason="cancel all (command)")
            self.c.builder.snapshot = None
        return sum(r.success for r in results)

    async def reconcile(self) -> ReconcileReport:
        """Repair the books against the exchange. A complete pass confirms them (trading may go
        on); an incomplete one un-confirms them until a retry succeeds."""
        async with self._trading:
            report = await self.c.reconciliation.reconcile()
            if report.position_corrected:
                self.c.builder.rebase_expected_position()
                self._recenter = True  # the old center is stale: the next cycle rebuilds at mid
        self._last_reconcile_ms = self.c.clock.now_ms()
        if self.status not in (BotStatus.STOPPING, BotStatus.STOPPED):
            self._settle_status()
        await self._handle_fills(list(report.fill_results))
        return report

    async def shutdown(self, deadline: float) -> list[Order]:
        """Cancel every order of the bot until the exchange confirms none is left or
        ``deadline`` (``time.monotonic()``) passes; the orders still open are returned."""
        self.status = BotStatus.STOPPING
        async with self._trading:
            remaining = await self.c.reconciliation.clear(deadline)
        self.status = BotStatus.STOPPED
        self.c.bus.publish(
            BotStopped(
                bot=self.name,
                coin=self.coin,
                timestamp_ms=self.c.clock.now_ms(),
                open_orders=len(remaining),
            )
        )
        return remaining

    def detach(self) -> None:
        """Release the stream subscription and the journal (after a crash, or once stopped)."""
        self.c.exchange.unsubscribe(self._queue)
        self.c.close()
