"""The only path from the engine to the exchange's order endpoints.

Every order is journaled (intent) before it is sent, tracked in the shadow ledger, and gated by the
circuit breaker. API failures come back as results with ``success=False``; nothing here raises for
an exchange error. A breaker trip cancels every order of the bot, and if the API is down at that
moment the cancel is retried as soon as the breaker lets a probe through (``heal``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from decimal import Decimal

import attrs

from gridtui.config.schema import Margin, RiskLimits
from gridtui.core.clock import Clock
from gridtui.core.events import (
    AlertKind,
    BreakerClosed,
    BreakerTripped,
    EventBus,
    OrderCanceled,
    OrderPlaced,
    OrderRejected,
    Severity,
)
from gridtui.core.types import (
    ZERO,
    ExchangeError,
    Level,
    Order,
    OrderRequest,
    OrderStatus,
    PlaceStatus,
    Tif,
)
from gridtui.exchanges.base import Exchange
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics
from gridtui.risk.circuit_breaker import BreakerState, CircuitBreaker
from gridtui.state.shadow_ledger import ShadowLedger, TrackedOrder
from gridtui.state.state_manager import ResumeRefused
from gridtui.state.store import JournalWriteError

log = logging.getLogger(__name__)

NOT_ON_VENUE = "the venue has no such order"
UNANSWERED_LOOKUP_S = 3.0
"""An order whose place or cancel call got no answer (a 5xx, a timeout) is UNKNOWN until the
venue is asked for it by client id: this long after, and again this often while the lookup
fails. A venue acts on a request within a block or never saw it, so a few seconds on, its
answer is the order's fate; waiting for the stuck-order sweep instead left a grid with holes
for ``stuck_order_after_s`` (30 s by default) after every 5xx. One ``orderStatus`` per order
(weight 2 on Hyperliquid), not a full reconciliation."""


EXIT_LEVEL = 1_000_000
"""The ledger's level for the orders that close a position (stop-loss, take-profit, flatten):
beyond any grid's (a grid has at most a few hundred levels a side)."""
ENTRY_LEVEL = EXIT_LEVEL + 1
"""The ledger's level for the order that builds the ``initial_position`` (position_opener.py)."""


def client_order_id(bot: str, level: int, generation: int) -> str:
    """Deterministic cloid (0x + 32 hex): the same (bot, level, generation) always gives the same
    id, so an order resent after a crash is recognised by the exchange and by reconciliation."""
    digest = hashlib.sha256(f"gridtui|{bot}|{level}|{generation}".encode()).hexdigest()
    return "0x" + digest[:32]


@attrs.frozen(slots=True)
class SubmitResult:
    """What the venue answered to one order; its status is the ledger's (``ledger.get``)."""

    success: bool
    client_id: str
    exchange_id: int | None = None
    error: str | None = None
    filled_size: Decimal = ZERO


@attrs.frozen(slots=True)
class CancelResult:
    success: bool
    client_id: str | None
    exchange_id: int | None = None
    error: str | None = None
    exchange_error: bool = False
    """The call itself failed (network, 5xx, 429): the order may still rest."""


class ExecutionGateway:
    def __init__(
        self,
        exchange: Exchange,
        ledger: ShadowLedger,
        breaker: CircuitBreaker,
        bus: EventBus,
        clock: Clock,
        metrics: Metrics,
        *,
        bot: str,
        coin: str,
    ) -> None:
        self._exchange = exchange
        self._ledger = ledger
        self._breaker = breaker
        self._bus = bus
        self._clock = clock
        self._metrics = metrics
        self._alerter = Alerter(bus, clock)
        self.bot = bot
        self.coin = coin
        self._lock = asyncio.Lock()
        self.cancel_all_pending = False
        """A breaker trip could not cancel everything yet; ``heal`` retries."""
        self._asked_ms: dict[str, int] = {}
        """When each unanswered order was last looked up (``look_up_unanswered``)."""

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    @property
    def ledger(self) -> ShadowLedger:
        return self._ledger

    def request_for(
        self, level: Level, *, tif: Tif = Tif.GTC, reduce_only: bool = False
    ) -> tuple[OrderRequest, int]:
        generation = self._ledger.store.next_generation(level.index)
        cid = client_order_id(self.bot, level.index, generation)
        request = OrderRequest(
            self.coin, level.side, level.price, level.size, cid, tif, reduce_only
        )
        return request, generation

    async def submit_level(
        self, level: Level, *, tif: Tif = Tif.GTC, reduce_only: bool = False
    ) -> SubmitResult:
        return (await self.submit_levels([level], tif=tif, reduce_only=reduce_only))[0]

    async def submit_levels(
        self, levels: Sequence[Level], *, tif: Tif = Tif.GTC, reduce_only: bool = False
    ) -> list[SubmitResult]:
        """Batch submit: one exchange call for the whole batch, each order journaled first."""
        if not levels:
            return []
        async with self._lock:
            if not self._breaker.allow_request():
                return [SubmitResult(False, "", error="circuit breaker open") for _ in levels]
            tracked: list[TrackedOrder] = []
            with self._ledger.store.batch():  # every intent durable before the send below
                for level in levels:
                    request, generation = self.request_for(level, tif=tif, reduce_only=reduce_only)
                    tracked.append(
                        self._ledger.add_pending(request, level=level.index, generation=generation)
                    )
            started = time.perf_counter()
            try:
                acks = await self._exchange.place_orders([t.request for t in tracked])
            except ExchangeError as exc:
                # The orders may or may not have reached the book (a timeout after accept):
                # UNKNOWN until someone asks the exchange by client id. Marked before the failure
                # is recorded, because a breaker trip there settles them at once.
                with self._ledger.store.batch():
                    for t in tracked:
                        self._ledger.on_send_failed(t.request.client_id, str(exc))
                await self._record_failure(str(exc))
                return [SubmitResult(False, t.request.client_id, error=str(exc)) for t in tracked]
            self._metrics.observe_order_latency(self.bot, self.coin, time.perf_counter() - started)
            await self._record_success()
            with self._ledger.store.batch():
                return [self._apply_ack(t, ack) for t, ack in zip(tracked, acks, strict=True)]

    def _apply_ack(self, tracked: TrackedOrder, ack) -> SubmitResult:
        request = tracked.request
        now = self._clock.now_ms()
        if ack.status is PlaceStatus.ERROR:
            self._ledger.on_reject(request.client_id, ack.error)
            self._bus.publish(
                OrderRejected(
                    bot=self.bot,
                    coin=self.coin,
                    timestamp_ms=now,
                    client_id=request.client_id,
                    side=request.side,
                    price=request.price,
                    size=request.size,
                    reason=ack.error or "rejected",
                )
            )
            return SubmitResult(False, request.client_id, error=ack.error)
        # Resting or (partly) filled on arrival: the fills themselves arrive on the stream and
        # move the order on through the fill processor, which may already have run.
        self._ledger.on_ack(request.client_id, ack.exchange_id)
        self._bus.publish(
            OrderPlaced(
                bot=self.bot,
                coin=self.coin,
                timestamp_ms=now,
                client_id=request.client_id,
                exchange_id=ack.exchange_id,
                side=request.side,
                price=request.price,
                size=request.size,
                grid_level=tracked.level,
            )
        )
        return SubmitResult(
            True, request.client_id, exchange_id=ack.exchange_id, filled_size=ack.filled_size
        )

    async def cancel(self, client_id: str, *, reason: str = "") -> CancelResult:
        async with self._lock:
            return (await self._cancel_tracked([client_id], reason=reason))[0]

    async def cancel_many(
        self, client_ids: Sequence[str], *, reason: str = ""
    ) -> list[CancelResult]:
        async with self._lock:
            return await self._cancel_tracked(list(client_ids), reason=reason)

    async def _cancel_tracked(self, client_ids: list[str], *, reason: str) -> list[CancelResult]:
        """Cancels go out even when the breaker is open (removing risk is always allowed) and
        even when the journal refuses writes (the exchange does not need our disk)."""
        if not client_ids:
            return []

        def mark_pending() -> None:
            for cid in client_ids:
                self._ledger.on_cancel_requested(cid)

        self._journal_if_possible(mark_pending)
        try:
            acks = await self._exchange.cancel_by_client_ids(self.coin, client_ids)
        except ExchangeError as exc:
            await self._record_failure(str(exc))
            error = str(exc)

            def mark_unknown() -> None:
                for cid in client_ids:
                    self._ledger.on_cancel_failed(cid, error)

            self._journal_if_possible(mark_unknown)
            return [
                CancelResult(False, cid, error=str(exc), exchange_error=True) for cid in client_ids
            ]
        await self._record_success()

        def mark_canceled() -> None:
            for cid, ack in zip(client_ids, acks, strict=True):
                if ack.success:
                    self._mark_canceled(cid, ack.exchange_id, reason)

        self._journal_if_possible(mark_canceled)
        results = []
        for cid, ack in zip(client_ids, acks, strict=True):
            if ack.success:
                results.append(CancelResult(True, cid, ack.exchange_id))
            else:
                # Already filled or canceled: ask the exchange what really happened.
                await self._resolve_if_possible(cid)
                results.append(CancelResult(False, cid, ack.exchange_id, ack.error))
        return results

    def _journal_if_possible(self, write: Callable[[], None]) -> None:
        """One journal transaction for a cancel's bookkeeping; if the disk refuses it, the cancel
        still goes out and reconciliation settles the books once the journal is writable."""
        try:
            with self._ledger.store.batch():
                write()
        except JournalWriteError as exc:
            log.error("%s: cancel bookkeeping not journaled: %s", self.bot, exc)

    def _mark_canceled(self, cid: str, exchange_id: int | None, reason: str) -> None:
        self._ledger.on_cancel_ack(cid, exchange_id)
        self._publish_canceled(cid, exchange_id, reason)

    def _publish_canceled(self, cid: str | None, exchange_id: int | None, reason: str) -> None:
        self._bus.publish(
            OrderCanceled(
                bot=self.bot,
                coin=self.coin,
                timestamp_ms=self._clock.now_ms(),
                client_id=cid,
                exchange_id=exchange_id,
                reason=reason,
            )
        )

    async def restore_leverage(self, risk: RiskLimits) -> None:
        """Before a bot halted on a refused leverage trades again: set it, or it stays halted
        (``ResumeRefused``): trading at whatever leverage the account has is not an option."""
        refused = await self.set_leverage(risk)
        if refused is not None:
            raise ResumeRefused(f"still halted: {refused}")

    async def set_leverage(self, risk: RiskLimits) -> str | None:
        """Set the coin's leverage and margin mode on the venue when the settings name one;
        the venue's refusal (out of range, a mode it will not switch with a position open) as a
        halt reason, None when set or nothing to set. A venue that does not answer raises."""
        if risk.leverage is None:
            return None
        try:
            await self._exchange.update_leverage(
                self.coin, risk.leverage, cross=risk.margin is Margin.CROSS
            )
        except ExchangeError as exc:
            if exc.retryable:
                raise
            return f"leverage {risk.leverage}x {risk.margin.value} refused: {exc}"
        return None

    async def cancel_all(
        self, *, reason: str = "cancel_all", settle: bool = True
    ) -> list[CancelResult]:
        """``settle=False`` skips asking the exchange about orders it no longer lists (a stop:
        the listing itself is the proof it needs, and the next start settles them)."""
        async with self._lock:
            return await self._cancel_all(reason, settle=settle)

    async def _cancel_all(self, reason: str, *, settle: bool = True) -> list[CancelResult]:
        """Cancel every order of this bot that rests on the exchange, asking the exchange itself
        (not only the ledger) so nothing the ledger lost track of survives."""
        try:
            resting = await self._exchange.open_orders(self.coin)
        except ExchangeError as exc:
            await self._record_failure(str(exc))
            self.cancel_all_pending = True
            return [CancelResult(False, None, error=str(exc), exchange_error=True)]
        # Reported even when there is nothing to cancel: this listing may be the half-open
        # breaker's probe (``heal``), and an unreported probe keeps the breaker shut for good.
        await self._record_success()
        ours = [o for o in resting if o.client_id is not None and self._ledger.knows(o.client_id)]
        ids = [o.client_id for o in ours if o.client_id is not None]
        results = await self._cancel_tracked(ids, reason=reason)
        self.cancel_all_pending = any(r.exchange_error for r in results)
        if self.cancel_all_pending or not settle:
            return results
        # Orders we believed live but the exchange no longer lists: settle them by asking.
        resting_ids = {o.client_id for o in resting}
        for tracked in self._ledger.live():
            if tracked.request.client_id not in resting_ids:
                if not await self._resolve_if_possible(tracked.request.client_id):
                    break  # the venue is not answering: reconciliation settles the rest
        return results

    async def _resolve_if_possible(self, client_id: str) -> bool:
        """Settling an order after a cancel is bookkeeping: a journal refusing writes must not
        stop the remaining cancels (reconciliation settles it at the next start). False when
        the venue did not answer (the gateway lock is held: asking on through an outage would
        hold every other call for a timeout per order)."""
        try:
            return (await self._ask(client_id))[0]
        except JournalWriteError as exc:
            log.error("%s: cancel outcome not journaled: %s", self.bot, exc)
            return True

    async def cancel_unknown(self, orders: Sequence[Order], *, reason: str) -> int:
        """Cancel exchange orders on our coin that are not ours (by exchange id)."""
        if not orders:
            return 0
        async with self._lock:
            try:
                acks = await self._exchange.cancel_orders(
                    self.coin, [o.exchange_id for o in orders]
                )
            except ExchangeError as exc:
                await self._record_failure(str(exc))
                return 0
            await self._record_success()
            canceled = 0
            for order, ack in zip(orders, acks, strict=True):
                if ack.success:
                    canceled += 1
                    # Named by its client id, if any, but not put in our books: an order not
                    # ours, or ours given up before it landed (its level was placed again).
                    self._publish_canceled(order.client_id, order.exchange_id, reason)
            return canceled

    async def resolve(self, client_id: str) -> OrderStatus | None:
        async with self._lock:
            return await self._resolve(client_id)

    async def _resolve(self, client_id: str) -> OrderStatus | None:
        """Settle an order whose fate we do not know by asking the exchange for it by client id."""
        return (await self._ask(client_id))[1]

    async def _ask(
        self, client_id: str, *, counted: bool = True
    ) -> tuple[bool, OrderStatus | None]:
        """Ask the venue for the order and put its answer in the books: (whether the venue
        answered, the order's status now; None when that is still not known). A status name we
        do not know is no answer: the order stays as it was, to be asked again. ``counted``:
        a failure counts toward the breaker."""
        try:
            order = await self._exchange.order_status(client_id=client_id)
        except ExchangeError as exc:
            if counted:
                await self._record_failure(str(exc))
            return False, None
        if order is None:
            self._ledger.on_report(client_id, None, error=NOT_ON_VENUE)
            tracked = self._ledger.get(client_id)
            status = tracked.status if tracked is not None else None
            return True, status if status is not None and status.is_terminal else None
        if order.status is OrderStatus.UNKNOWN:
            log.warning("%s: the venue gave %s a status we do not know", self.bot, client_id)
            return True, None
        if order.status is OrderStatus.CANCELED and self._ledger.knows(client_id):
            self._mark_canceled(client_id, order.exchange_id, "canceled on the exchange")
        else:
            self._ledger.on_report(client_id, order.status, exchange_id=order.exchange_id)
        return True, order.status

    async def cancel_stuck(self, max_age_s: float) -> int:
        """Orders stuck in a transient state for too long are settled with the exchange."""
        cutoff = self._clock.now_ms() - int(max_age_s * 1000)
        stuck = [t for t in self._ledger.unsettled() if t.updated_ms <= cutoff]
        for tracked in stuck:
            self._metrics.stuck_order(self.bot, self.coin)
            status = await self.resolve(tracked.request.client_id)
            if status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED) and (
                tracked.status is OrderStatus.PENDING_CANCEL
            ):
                await self.cancel(tracked.request.client_id, reason="stuck cancel retried")
        return len(stuck)

    async def look_up_unanswered(self) -> int:
        """Ask the venue for each order whose call went unanswered ``UNANSWERED_LOOKUP_S`` ago
        or more, at most once per ``UNANSWERED_LOOKUP_S`` each; the pass ends at the first call
        that fails, and goes only where the breaker lets a request through (a half-open one: its
        probe). Otherwise a lookup counts neither way: its answer is no success of the venue's
        (one that refuses every order while it answers lookups must still trip the breaker), and
        its failure no failure (answers between failures could not reset the count). Returns
        how many of them now rest, were canceled or never arrived: levels the grid checks again.
        One found filled is not counted: its fill comes on the stream (or at the next
        reconciliation), and the grid moves on from it then."""
        now = self._clock.now_ms()
        cutoff = now - round(UNANSWERED_LOOKUP_S * 1000)
        unknown = [t for t in self._ledger.unsettled() if t.status is OrderStatus.UNKNOWN]
        waiting = {t.request.client_id for t in unknown}
        self._asked_ms = {cid: at for cid, at in self._asked_ms.items() if cid in waiting}
        settled = 0
        for tracked in unknown:
            client_id = tracked.request.client_id
            if tracked.updated_ms > cutoff or self._asked_ms.get(client_id, 0) > cutoff:
                continue
            async with self._lock:
                if not self._breaker.allow_request():
                    break
                probe = self._breaker.state is BreakerState.HALF_OPEN  # granted: its probe
                self._asked_ms[client_id] = now
                answered, status = await self._ask(client_id, counted=probe)
                if probe and answered:
                    await self._record_success()  # the probe's answer closes the breaker
            if not answered:
                break
            if status in (OrderStatus.OPEN, OrderStatus.CANCELED, OrderStatus.REJECTED):
                settled += 1
        return settled

    def on_order_update(self, order: Order) -> bool:
        """Cancels the exchange made on its own (dead-man switch, margin) reach the ledger here,
        and so does an order being placed, or whose place call went unanswered, that the venue
        says rests (a lookup behind the book would otherwise give it up, and its level would be
        placed twice). True when ``order`` rests although our books gave it up as never arrived
        (a lookup found nothing, then it landed): the caller cancels it."""
        if order.coin != self.coin or order.client_id is None:
            return False
        finished = order.status in (OrderStatus.CANCELED, OrderStatus.REJECTED)
        if finished and self._ledger.knows(order.client_id):
            self._ledger.on_report(order.client_id, order.status, exchange_id=order.exchange_id)
            return False
        if order.status not in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
            return False
        tracked = self._ledger.get(order.client_id)
        if tracked is None:
            return False
        sent = tracked.status is OrderStatus.PENDING_SUBMIT
        unanswered = tracked.status is OrderStatus.UNKNOWN and tracked.exchange_id is None
        if sent or unanswered:  # it rests: its call's answer (or a lookup) may come late or never
            self._ledger.on_report(order.client_id, OrderStatus.OPEN, exchange_id=order.exchange_id)
        return tracked.status is OrderStatus.REJECTED

    async def cancel_arrived_late(self, order: Order) -> None:
        """Cancel an order that reached the venue after our books gave it up (see
        ``on_order_update``): its level has been placed again since."""
        log.warning(
            "%s: order %s reached the venue after it was given up; canceling it",
            self.bot,
            order.client_id,
        )
        await self.cancel_unknown([order], reason="arrived late")

    async def heal(self) -> None:
        """Once per cycle: finish a cancel-all that a breaker trip could not complete."""
        if self.cancel_all_pending and self._breaker.allow_request():
            await self.cancel_all(reason="breaker trip (retried)")

    async def _record_failure(self, error: str) -> None:
        tripped = self._breaker.record_failure(error)
        self._metrics.set_breaker_state(self.bot, self.coin, self._breaker.state)
        if not tripped:
            return
        self._alerter.raise_alert(
            bot=self.bot,
            coin=self.coin,
            severity=Severity.CRITICAL,
            kind=AlertKind.BREAKER_TRIPPED,
            message=(
                f"circuit breaker tripped after {self._breaker.consecutive_errors} API errors "
                f"({error}); canceling every order"
            ),
        )
        self._bus.publish(
            BreakerTripped(
                bot=self.bot,
                coin=self.coin,
                timestamp_ms=self._clock.now_ms(),
                consecutive_errors=self._breaker.consecutive_errors,
                last_error=error,
            )
        )
        self.cancel_all_pending = True
        # Inside the lock already: call the unlocked body. If the API is still down this fails
        # and ``heal`` retries once the breaker half-opens.
        await self._cancel_all("breaker tripped")

    async def _record_success(self) -> None:
        was_open = self._breaker.state is not BreakerState.CLOSED
        self._breaker.record_success()
        if was_open and self._breaker.state is BreakerState.CLOSED:
            self._metrics.set_breaker_state(self.bot, self.coin, BreakerState.CLOSED)
            self._bus.publish(
                BreakerClosed(bot=self.bot, coin=self.coin, timestamp_ms=self._clock.now_ms())
            )
