"""Turn one exchange fill into durable books, an order-status update and an event.

The order matters (DESIGN §3 FillProcessor, §4): deduplicate first, then journal the fill together
with the new position (WAL before position), then update the order and tell the world. Synchronous
on purpose: it runs on the event loop and nothing may interleave between those steps. Errors are
logged, raised as a CRITICAL alert and re-raised — a fill that could not be processed must never
disappear quietly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal

import attrs

from gridtui.core.clock import Clock
from gridtui.core.events import AlertRaised, EventBus, OrderFilled, Severity
from gridtui.core.types import ZERO, Fill, OrderStatus
from gridtui.execution.fill_deduplicator import FillDeduplicator
from gridtui.state.accounting import BotState
from gridtui.state.shadow_ledger import ShadowLedger
from gridtui.state.state_manager import StateManager

log = logging.getLogger(__name__)


@attrs.frozen(slots=True)
class FillResult:
    """What processing one fill did. ``state`` is the books afterwards (unchanged for a
    duplicate); ``order_status`` is None when no journaled order matches the fill."""

    fill: Fill
    applied: bool
    duplicate: bool
    state: BotState
    realized_delta: Decimal
    order_status: OrderStatus | None


class FillProcessor:
    def __init__(
        self,
        state: StateManager,
        dedup: FillDeduplicator,
        ledger: ShadowLedger,
        bus: EventBus,
        clock: Clock,
    ) -> None:
        self._state = state
        self._dedup = dedup
        self._ledger = ledger
        self._bus = bus
        self._clock = clock

    def process_fill(self, fill: Fill) -> FillResult:
        """Apply ``fill`` exactly once. Raises ``ValueError`` for a fill of another coin; every
        exception is logged and published as a CRITICAL ``fill_processing_error`` alert first."""
        try:
            return self._process(fill)
        except Exception as exc:
            snapshot = self._state.get_snapshot()
            log.exception("%s: processing fill %s failed", snapshot.bot, fill.key)
            self._bus.publish(
                AlertRaised(
                    bot=snapshot.bot,
                    coin=snapshot.coin,
                    timestamp_ms=self._clock.now_ms(),
                    severity=Severity.CRITICAL,
                    kind="fill_processing_error",
                    message=f"fill {fill.trade_id} ({fill.side.name} {fill.size} @ {fill.price}) "
                    f"not processed: {exc!r}",
                )
            )
            raise

    def process_fills(self, fills: Iterable[Fill]) -> list[FillResult]:
        """Process in (timestamp, trade id) order, the order the exchange executed them."""
        ordered = sorted(fills, key=lambda f: (f.timestamp_ms, f.trade_id))
        return [self.process_fill(fill) for fill in ordered]

    def _process(self, fill: Fill) -> FillResult:
        before = self._state.get_snapshot()
        if fill.coin != before.coin:
            raise ValueError(
                f"fill {fill.trade_id} is for {fill.coin}, this bot trades {before.coin}"
            )
        if self._dedup.seen(fill.key):
            return self._duplicate(fill, before)
        outcome = self._state.apply_fill_sync(fill)
        self._dedup.add(fill.key)
        if outcome is None:
            log.info("%s: fill %s was already journaled", before.bot, fill.key)
            return self._duplicate(fill, before)
        state, delta = outcome
        order_status = self._update_order(fill)
        self._bus.publish(
            OrderFilled(
                bot=state.bot,
                coin=state.coin,
                timestamp_ms=self._clock.now_ms(),
                trade_id=fill.trade_id,
                client_id=fill.client_id,
                side=fill.side,
                price=fill.price,
                size=fill.size,
                fee=fill.fee,
                position=state.position,
                realized_pnl=delta,
            )
        )
        return FillResult(fill, True, False, state, delta, order_status)

    def _update_order(self, fill: Fill) -> OrderStatus | None:
        """Find the order by client id, or by exchange id when the fill carries none."""
        client_id = fill.client_id
        if client_id is None:
            tracked = self._ledger.by_exchange_id(fill.exchange_order_id)
            client_id = None if tracked is None else tracked.client_id
        if client_id is None:
            log.warning(
                "fill %s matches none of our orders (oid %s)", fill.key, fill.exchange_order_id
            )
            return None
        status = self._ledger.on_fill(client_id, fill.size)
        if status is None:
            log.warning("fill %s is for order %s, which we never journaled", fill.key, client_id)
        return status

    @staticmethod
    def _duplicate(fill: Fill, state: BotState) -> FillResult:
        return FillResult(fill, False, True, state, ZERO, None)
