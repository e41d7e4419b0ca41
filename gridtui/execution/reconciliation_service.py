"""Repairs the books against the exchange: on start (crash recovery is this same path) and on a
timer.

Three passes, in this order:
1. fills the exchange has since our last recorded fill → through the FillProcessor (dedup makes
   re-fetching harmless);
2. open orders → ours (known client id) are adopted into the ledger, anything else on our coin is
   canceled; orders we think live but the exchange does not list are settled by order status;
3. position → compared with the exchange; a difference seen on two readings in a row, each
   followed by a catch-up that found no new fill, is corrected with an adjustment row and an
   alert. A failed position query is skipped, never read as flat.

A pass that completes *confirms* the books; until one has (at start, after a stream reset, after
a failed pass) ``confirmed`` is False and the bot places no order. Failed passes are retried with
capped backoff (``retry_due``), and ``waiting_reason`` says what failed and when the next try is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from decimal import Decimal

import attrs

from gridtui.core.clock import Clock
from gridtui.core.events import AlertKind, EventBus, Reconciled, Severity
from gridtui.core.types import ZERO, ExchangeError, Order
from gridtui.exchanges.base import Exchange
from gridtui.execution.execution_gateway import ExecutionGateway
from gridtui.execution.fill_processor import FillProcessor, FillResult
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics
from gridtui.state.state_manager import StateManager
from gridtui.state.store import JournalWriteError

log = logging.getLogger(__name__)

POSITION_CHECK_ATTEMPTS = 4
CLEAR_RETRY_CAP_S = 5.0
LATE_FILL_MARGIN_MS = 60_000
"""Fills up to this much older than the newest one listed are asked for again next time."""


@attrs.frozen(slots=True)
class ReconcileReport:
    missing_fills: int
    adopted_orders: int
    canceled_unknown: int
    settled_orders: int
    position_corrected: bool
    position_checked: bool
    fill_results: tuple[FillResult, ...] = ()
    error: str | None = None


class ReconciliationService:
    def __init__(
        self,
        exchange: Exchange,
        processor: FillProcessor,
        gateway: ExecutionGateway,
        state: StateManager,
        alerter: Alerter,
        bus: EventBus,
        clock: Clock,
        metrics: Metrics,
        *,
        retry_base_s: float = 1.0,
        retry_cap_s: float = 60.0,
    ) -> None:
        self._exchange = exchange
        self._processor = processor
        self._gateway = gateway
        self._state = state
        self._alerter = alerter
        self._bus = bus
        self._clock = clock
        self._metrics = metrics
        self._retry_base_s = retry_base_s
        self._retry_cap_s = retry_cap_s
        self._retry_delay_s = retry_base_s
        self._retry_at_ms: int | None = None
        self.confirmed = False
        """True while the books agree with the exchange as of the last complete pass."""
        self.waiting_reason: str | None = None
        """Why the books are not confirmed and when the next try is ("…, retry in 4 s")."""

    @property
    def bot(self) -> str:
        return self._gateway.bot

    @property
    def coin(self) -> str:
        return self._gateway.coin

    def _fills_floor_ms(self) -> int:
        """Where to start asking for fills: the watermark of the last complete REST catch-up.
        Never the last fill journaled from the stream: after a reset (or reordered messages)
        the stream may bring a newer fill before an older one it missed, and a floor moved past
        the gap would lose that fill for good. Journals without a watermark (older versions)
        start from their last fill, or, before the first fill, the first order journaled."""
        confirmed = self._state.store.fills_confirmed_ms()
        if confirmed is not None:
            return confirmed
        state = self._state.get_snapshot()
        if state.fill_count:
            return state.last_fill_ms
        orders = self._state.store.orders()
        if orders:
            return min(o.created_ms for o in orders)
        return state.session_start_ms

    async def catch_up_fills(self) -> list[FillResult]:
        """Journal every fill of ours the exchange lists since the watermark, then move the
        watermark to just before the newest fill listed (a margin for fills the venue lists
        late). Duplicates are no-ops, so re-reading the margin is harmless."""
        floor = self._fills_floor_ms()
        fills = await self._exchange.fills_since(floor, self.coin)
        applied = [r for r in self._processor.process_ours(fills) if r.applied]
        newest = max((f.timestamp_ms for f in fills), default=floor)
        watermark = max(floor, newest - LATE_FILL_MARGIN_MS)
        if watermark != self._state.store.fills_confirmed_ms():
            self._state.store.confirm_fills_up_to(watermark)
        return applied

    def owns(self, order: Order) -> bool:
        """An order on the exchange is this bot's if its client id is in our journal."""
        return order.client_id is not None and self._gateway.ledger.knows(order.client_id)

    def retry_due(self, now_ms: int) -> bool:
        """An unconfirmed book whose backoff has run out: time for the next pass."""
        return not self.confirmed and (self._retry_at_ms is None or now_ms >= self._retry_at_ms)

    def unconfirm(self, why: str) -> None:
        """Events may have been missed (a stream reset): no order until the next full pass."""
        self.confirmed = False
        self.waiting_reason = why
        self._retry_at_ms = None
        self._retry_delay_s = self._retry_base_s

    async def reconcile(self) -> ReconcileReport:
        # Fills applied before a later pass fails are in the books already: the report must
        # still carry them, or nobody places their replacement orders.
        applied: list[FillResult] = []
        try:
            report = await self._reconcile(applied)
        except ExchangeError as exc:
            self._schedule_retry(str(exc))
            return ReconcileReport(
                len(applied), 0, 0, 0, False, False, fill_results=tuple(applied), error=str(exc)
            )
        if not self.confirmed and self.waiting_reason is not None:
            log.info("%s: books confirmed with the exchange; trading", self.bot)
        self.confirmed = True
        self.waiting_reason = None
        self._retry_at_ms = None
        self._retry_delay_s = self._retry_base_s
        return report

    @contextlib.contextmanager
    def _journal_refusals_logged(self, what: str) -> Iterator[None]:
        """At shutdown a full or read-only disk must not keep orders resting: the exchange
        side goes on, and what could not be journaled is fetched again at the next start."""
        try:
            yield
        except JournalWriteError as exc:
            log.error("%s: %s not journaled (caught up at the next start): %s", self.bot, what, exc)

    def _schedule_retry(self, error: str) -> None:
        delay = self._retry_delay_s
        self.confirmed = False
        self._retry_at_ms = self._clock.now_ms() + round(delay * 1000)
        self._retry_delay_s = min(delay * 2, self._retry_cap_s)
        self.waiting_reason = f"{error}, retry in {delay:g} s"
        log.warning("%s: waiting for exchange: %s", self.bot, self.waiting_reason)

    async def clear(self, deadline: float) -> list[Order]:
        """Shutdown: cancel every order of ours until the exchange lists none, then journal the
        fills that landed meanwhile; retried with capped backoff until ``deadline``
        (``time.monotonic()``), which also bounds every wait on the exchange (a full rate budget
        or a hanging call never holds a stop past it). Returns our orders still open (empty:
        confirmed clear); if the exchange never answered, the ones our ledger believes live."""
        delay = 0.25
        remaining: list[Order] | None = None
        while True:
            left = deadline - time.monotonic()
            try:
                remaining = await asyncio.wait_for(self._clear_once(), max(left, 0.05))
                if not remaining:
                    return []
                why = f"{len(remaining)} orders still open"
            except ExchangeError as exc:
                why = str(exc)
            except TimeoutError:
                why = "the exchange did not answer in time"
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("%s: stop deadline passed: %s", self.bot, why)
                return remaining if remaining is not None else self._believed_live()
            self.waiting_reason = f"stopping: {why}; retrying ({left:.0f} s left)"
            log.warning("%s: %s", self.bot, self.waiting_reason)
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, CLEAR_RETRY_CAP_S)

    async def settle_after_stop(self, deadline: float) -> bool:
        """One last bounded catch-up of the fills that landed while stopping (the supervisor
        calls it once the exchange confirmed nothing is left). False if it did not finish: the
        next start catches them up from the watermark."""
        try:
            with self._journal_refusals_logged("fills since the last one journaled"):
                await asyncio.wait_for(
                    self.catch_up_fills(), max(deadline - time.monotonic(), 0.05)
                )
            return True
        except (ExchangeError, TimeoutError) as exc:
            log.error(
                "%s: fills of the stop not journaled yet (%s); the next start does",
                self.bot,
                str(exc) or "timed out",
            )
            return False

    async def _clear_once(self) -> list[Order]:
        with self._journal_refusals_logged("the cancels' bookkeeping"):
            await self._gateway.cancel_all(reason="shutdown", settle=False)
        resting = await self._exchange.open_orders(self.coin)
        remaining = [o for o in resting if self.owns(o)]
        if not remaining:
            with self._journal_refusals_logged("fills since the last one journaled"):
                await self.catch_up_fills()
        return remaining

    def _believed_live(self) -> list[Order]:
        """What the ledger thinks rests, as orders, when the exchange never said."""
        return [
            Order(
                t.request.coin, t.request.side, t.request.price, t.request.size,
                t.request.size - t.filled, t.exchange_id or 0, t.client_id, t.status, t.updated_ms,
            )
            for t in self._gateway.ledger.live()
        ]  # fmt: skip

    async def _reconcile(self, fill_results: list[FillResult]) -> ReconcileReport:
        fill_results += await self.catch_up_fills()
        adopted, canceled, settled = await self._reconcile_orders()
        corrected, checked = await self._reconcile_position(fill_results)
        report = ReconcileReport(
            missing_fills=len(fill_results),
            adopted_orders=adopted,
            canceled_unknown=canceled,
            settled_orders=settled,
            position_corrected=corrected,
            position_checked=checked,
            fill_results=tuple(fill_results),
        )
        self._bus.publish(
            Reconciled(
                bot=self.bot,
                coin=self.coin,
                timestamp_ms=self._clock.now_ms(),
                missing_fills=report.missing_fills,
                adopted_orders=adopted,
                canceled_unknown=canceled,
                position_corrected=corrected,
            )
        )
        if report.missing_fills or canceled or corrected:
            self._alerter.raise_alert(
                bot=self.bot,
                coin=self.coin,
                severity=Severity.WARNING,
                kind=AlertKind.RECONCILIATION_CORRECTION,
                message=(
                    f"applied {report.missing_fills} missed fills, canceled {canceled} unknown "
                    f"orders, position corrected: {corrected}"
                ),
            )
        return report

    async def _reconcile_orders(self) -> tuple[int, int, int]:
        resting = await self._exchange.open_orders(self.coin)
        ledger = self._gateway.ledger
        adopted = 0
        unknown = []
        for order in resting:
            if order.client_id is None or not ledger.knows(order.client_id):
                unknown.append(order)
                continue
            tracked = ledger.get(order.client_id)
            if tracked is not None and tracked.status is order.status:
                continue
            if ledger.on_report(order.client_id, order.status, exchange_id=order.exchange_id):
                adopted += 1
            else:
                # Ours, but our books say it is finished: it must not keep resting.
                unknown.append(order)
        canceled = await self._gateway.cancel_unknown(unknown, reason="unknown order")
        resting_ids = {o.client_id for o in resting}
        settled = 0
        for tracked in ledger.live():
            if tracked.request.client_id not in resting_ids:
                await self._gateway.resolve(tracked.request.client_id)
                settled += 1
        return adopted, canceled, settled

    async def _reconcile_position(self, applied: list[FillResult]) -> tuple[bool, bool]:
        """Correct only a difference that holds still: the same on two readings in a row, each
        a position read then a catch-up, with no fill journaled by any path (this catch-up or
        the stream consumer, which runs between our awaits) from before the read to after the
        catch-up. One reading is not enough: a fill journaled after the venue answered makes that
        answer stale (correcting it would count the fill twice), and a fill the venue has in the
        position but does not list yet must be journaled as a fill, not papered over. Late fills
        go into ``applied``."""
        suspected: tuple[Decimal, Decimal] | None = None
        for _ in range(POSITION_CHECK_ATTEMPTS):
            journaled = self._state.get_snapshot().fill_count
            positions = await self._exchange.positions()
            late = await self.catch_up_fills()
            applied += late
            if late or self._state.get_snapshot().fill_count != journaled:
                suspected = None  # a fill moved one side between the two reads
                continue
            reported = positions.get(self.coin)
            exchange_size = reported.size if reported is not None else ZERO
            entry = reported.entry_price if reported is not None else ZERO
            ours = self._state.get_snapshot().position
            if exchange_size == ours:
                return False, True
            if suspected != (exchange_size, ours):
                suspected = (exchange_size, ours)
                continue
            await self._correct(ours, exchange_size, entry)
            return True, True
        log.info("%s: position kept moving during reconciliation; checked next time", self.bot)
        return False, False

    async def _correct(self, ours: Decimal, exchange_size: Decimal, entry: Decimal) -> None:
        reason = f"exchange reports {exchange_size}, journal had {ours}"
        await self._state.adjust_position(exchange_size, entry, reason)
        self._alerter.raise_alert(
            bot=self.bot,
            coin=self.coin,
            severity=Severity.CRITICAL,
            kind=AlertKind.RECONCILIATION_CORRECTION,
            message=f"position corrected: {reason}",
        )
        log.warning("%s: position corrected: %s", self.bot, reason)
