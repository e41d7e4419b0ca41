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
import logging

from gridtui.config.schema import EngineSettings
from gridtui.core.events import AlertKind, BotHalted, BotResumed, BotStarted, BotStopped, Severity
from gridtui.core.types import BotStatus, Order
from gridtui.exchanges.base import (
    FillsReceived,
    MidUpdated,
    OrderUpdated,
    StreamEvent,
    StreamReset,
)
from gridtui.execution.fill_processor import FillResult
from gridtui.execution.position_closer import CloseResult
from gridtui.execution.reconciliation_service import ReconcileReport
from gridtui.orchestrator.factory import BotComponents
from gridtui.orchestrator.fill_tape import FillTape
from gridtui.state.accounting import HaltKind
from gridtui.state.round_trips import RoundTrips
from gridtui.state.store import JournalWriteError

log = logging.getLogger(__name__)


class BotOrchestrator:
    """Times and sequences one bot's components: which step runs when, under which lock, and
    what happens when one fails. Every decision inside a step is the component's."""

    def __init__(self, components: BotComponents, engine: EngineSettings) -> None:
        self.c = components
        self.engine = engine
        self._phase: BotStatus | None = BotStatus.STARTING
        """The step of the bot's life the orchestrator sequences; None while it trades (then the
        books and the reconciliation tell its status)."""
        self.cycles = 0
        self._stop = asyncio.Event()
        self._trading = asyncio.Lock()
        self._queue = components.exchange.subscribe()
        self._last_reconcile_ms = 0
        self.fills = FillTape()
        self.round_trips = RoundTrips().add_all(components.store.applied_fills())
        """The grid's round trips over the journal, kept up as fills arrive (for displays)."""

    @property
    def name(self) -> str:
        return self.c.name

    @property
    def coin(self) -> str:
        return self.c.coin

    @property
    def status(self) -> BotStatus:
        """Derived, never stored twice: the lifecycle phase, else what the reconciliation (books
        confirmed?), the books (halted?) and the breaker say."""
        if self._phase is not None:
            return self._phase
        if not self.c.reconciliation.confirmed:
            return BotStatus.WAITING
        if self.c.state.get_snapshot().halted:
            return BotStatus.HALTED
        return BotStatus.BREAKER_OPEN if self.c.breaker.is_open else BotStatus.RUNNING

    def status_detail(self) -> str | None:
        """Why the bot is in its status, where there is a why: what the venue answered and when
        the next try is (waiting, stopping), or the halt's reason."""
        status = self.status
        if status in (BotStatus.WAITING, BotStatus.STOPPING):
            return self.c.reconciliation.waiting_reason
        if status is BotStatus.HALTED:
            return self.c.state.get_snapshot().halt_reason
        return None

    def crashed(self) -> None:
        """The supervisor saw ``run`` fail: the bot is down until it is restarted."""
        self._phase = BotStatus.CRASHED

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
        await self.halt(f"journal write failed: {exc}", kind=HaltKind.DISK)
        await self._stop.wait()

    def stop(self) -> None:
        self._stop.set()

    async def idle(self) -> None:
        """Wait until no command (a halt, a flatten, a cancel) is under way."""
        async with self._trading:
            pass

    async def start(self) -> None:
        now = self.c.clock.now_ms()
        self.c.bus.publish(BotStarted(bot=self.name, coin=self.coin, timestamp_ms=now))
        refused = await self.c.gateway.set_leverage(self.c.settings.risk)  # before any order
        if refused is not None:  # and whatever a previous run left resting is canceled
            await self.halt(refused, kind=HaltKind.VENUE)
        await self.reconcile()

    async def cycle(self) -> None:
        """One engine cycle. Order matters: the dead-man switch first, so a cycle that fails
        later still kept the exchange-side guard fresh."""
        c = self.c
        self.cycles += 1
        await c.dead_man.refresh(self.name, self.coin)
        await c.gateway.heal()
        if c.feed.is_stale():
            await self._handle_fills(await c.poller.poll())
        now = c.clock.now_ms()
        if c.reconciliation.retry_due(now):
            await self.reconcile()
        c.report_metrics()
        if not c.reconciliation.confirmed:
            return
        mark = c.feed.mark()
        if mark is None:
            return
        state = c.state.get_snapshot()
        if state.halted:
            if c.risk.auto_resume_due(state, now):
                await self.resume()
            return
        decision = c.risk.check_equity(state, mark)
        if decision.halt is not None:
            reason = decision.reason or "risk limit"
            if decision.flatten:
                await self.flatten(reason, kind=decision.halt)
            else:
                await self.halt(reason, kind=decision.halt)
            return
        async with self._trading:
            await c.opener.maintain(mark)
            await c.builder.maintain(mark, now)
        if now - self._last_reconcile_ms >= self.engine.reconcile_interval_s * 1000:
            await self.reconcile()
        await c.gateway.cancel_stuck(self.engine.stuck_order_after_s)
        await c.builder.settle_unanswered()

    async def _consume_stream(self) -> None:
        while True:
            await self._on_stream_event(await self._queue.get())

    async def drain_stream(self) -> int:
        """Handle every stream event already queued, then return how many: a replay on a
        simulated clock (the backtest) steps the venue and drains, instead of running the live
        consumer task. Same handling as live, event for event."""
        handled = 0
        while not self._queue.empty():
            await self._on_stream_event(self._queue.get_nowait())
            handled += 1
        return handled

    async def _on_stream_event(self, event: StreamEvent) -> None:
        if isinstance(event, MidUpdated):
            if event.coin == self.coin:
                self.c.feed.on_mid(event.price, event.timestamp_ms)
                self.c.strategy.observe(event.price, event.timestamp_ms)
        elif isinstance(event, FillsReceived):
            await self._handle_fills(self.c.processor.process_ours(event.fills))
        elif isinstance(event, OrderUpdated) and self.c.gateway.on_order_update(event.order):
            await self.c.gateway.cancel_arrived_late(event.order)
        elif isinstance(event, StreamReset):
            # Fills may have been missed: no order goes out until the books are confirmed.
            log.warning("%s: stream reset (%s); reconciling", self.name, event.reason)
            self.c.metrics.stream_reconnected(self.name, self.coin)
            self.c.reconciliation.unconfirm(f"stream reset ({event.reason})")
            await self.reconcile()

    async def _handle_fills(self, results: list[FillResult]) -> None:
        for result in results:
            if result.applied:
                cid = result.fill.client_id
                tracked = self.c.ledger.get(cid) if cid else None
                self.fills.add(result.fill, tracked.level if tracked else None)
                self.round_trips.add(result.fill)
        mark = self.c.feed.mark()
        confirmed = self.c.reconciliation.confirmed
        async with self._trading:
            for result in results:
                await self.c.builder.on_fill(result, mark, place=confirmed)

    async def halt(self, reason: str, *, kind: HaltKind = HaltKind.MANUAL) -> None:
        """Stop trading: cancel every order and place none until resumed."""
        async with self._trading:
            await self.c.state.halt(kind, reason)
            await self.c.gateway.cancel_all(reason=f"halt: {reason}")
        now = self.c.clock.now_ms()
        self.c.bus.publish(
            BotHalted(bot=self.name, coin=self.coin, timestamp_ms=now, reason=reason)
        )
        self.c.alerter.raise_alert(
            bot=self.name,
            coin=self.coin,
            severity=Severity.INFO if kind.by_trader else Severity.CRITICAL,
            kind=AlertKind.BOT_HALTED,
            message=f"halted: {reason}",
        )

    async def flatten(
        self, reason: str = "flattened by hand", *, kind: HaltKind = HaltKind.FLATTEN
    ) -> CloseResult:
        """Exit: halt (the grid's orders canceled, none placed until a human resumes), then
        close the position with reduce-only Ioc orders within ``max_slippage_pct`` of the mark.
        Works on a bot already halted: a halt never leaves a trader without a way out."""
        await self.halt(reason, kind=kind)
        async with self._trading:
            result = await self.c.closer.close(self.c.feed.mark)
        await self._handle_fills(list(result.fills))  # the tape, the tally, the drift baseline
        return result

    async def resume(self, *, lift_daily_loss: bool = False) -> None:
        """Trade again: the grid is placed on the next cycle. ``lift_daily_loss`` (a trader's
        explicit confirm) lifts today's loss limit for the rest of the UTC day."""
        state = self.c.state.get_snapshot()
        if state.halt_kind is HaltKind.VENUE:  # what the venue refused must be set first
            await self.c.gateway.restore_leverage(self.c.settings.risk)
        self.c.risk.on_resume(state, self.c.feed.mark(), lift_daily_loss=lift_daily_loss)
        async with self._trading:
            await self.c.state.resume()
            self.c.builder.discard()
        self.c.bus.publish(
            BotResumed(bot=self.name, coin=self.coin, timestamp_ms=self.c.clock.now_ms())
        )

    async def cancel_all(self) -> int:
        """Cancel every order of this bot; the grid is rebuilt on the next cycle unless halted."""
        async with self._trading:
            results = await self.c.gateway.cancel_all(reason="cancel all (command)")
            self.c.builder.discard()
        return sum(r.success for r in results)

    async def reconcile(self) -> ReconcileReport:
        """Repair the books against the exchange. A complete pass confirms them (trading may go
        on); an incomplete one un-confirms them until a retry succeeds."""
        async with self._trading:
            report = await self.c.reconciliation.reconcile()
            self.c.builder.on_reconciled(report)
        self._last_reconcile_ms = self.c.clock.now_ms()
        if self._phase is BotStatus.STARTING:
            self._phase = None  # from here on the books and the reconciliation say
        await self._handle_fills(list(report.fill_results))
        return report

    async def shutdown(self, deadline: float) -> list[Order]:
        """Cancel every order of the bot until the exchange confirms none is left or
        ``deadline`` (``time.monotonic()``) passes; the orders still open are returned."""
        self._phase = BotStatus.STOPPING
        async with self._trading:
            remaining = await self.c.reconciliation.clear(deadline)
        self._phase = BotStatus.STOPPED
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
