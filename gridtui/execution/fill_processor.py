"""Turn exchange fills into durable books, order-status updates and events.

The order matters (DESIGN §3 FillProcessor, §4): deduplicate first, then journal the fills together
with the new position and the orders they filled (WAL before position), then update memory and
tell the world. A burst of fills from one exchange message is ONE transaction — one fsync for the
burst, and all of it recorded or none of it: a failure part-way leaves neither the fills, nor the
position, nor the orders changed, on disk or in memory, and the burst can simply be retried.
Synchronous on purpose: it runs on the event loop and nothing may interleave between those steps.
Errors are logged, raised as a CRITICAL alert and re-raised — a fill that could not be processed
must never disappear quietly.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Iterable, Sequence
from decimal import Decimal

import attrs

from gridtui.core.clock import Clock
from gridtui.core.events import AlertKind, EventBus, OrderFilled, Severity
from gridtui.core.types import ZERO, Fill, OrderStatus
from gridtui.execution.fill_deduplicator import FillDeduplicator, FillKey
from gridtui.monitoring.alerting import Alerter
from gridtui.state.accounting import FillEffect
from gridtui.state.shadow_ledger import ShadowLedger
from gridtui.state.state_manager import StateManager
from gridtui.state.store import JournalWriteError

log = logging.getLogger(__name__)

_EXECUTION_ORDER = operator.attrgetter("timestamp_ms", "trade_id")


@attrs.frozen(slots=True)
class FillResult:
    """What processing one fill did. ``position`` is the bot's position afterwards (unchanged
    for a duplicate); ``order_status`` is None when no journaled order matches the fill."""

    fill: Fill
    applied: bool
    position: Decimal
    realized_delta: Decimal
    order_status: OrderStatus | None

    @property
    def duplicate(self) -> bool:
        """Seen before (or earlier in the burst): it changed nothing."""
        return not self.applied


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
        self._alerter = Alerter(bus, clock)

    def process_fill(self, fill: Fill) -> FillResult:
        """Apply ``fill`` exactly once. Raises ``ValueError`` for a fill of another coin; every
        exception is logged and published as a CRITICAL ``fill_processing_error`` alert first."""
        return self.process_fills([fill])[0]

    def is_ours(self, fill: Fill) -> bool:
        """Only fills of this bot's own orders enter its journal; anything else on the coin
        shows up as a position difference and is corrected, visibly, with an adjustment."""
        if fill.coin != self._state.get_snapshot().coin:
            return False
        if fill.client_id is not None and self._ledger.knows(fill.client_id):
            return True
        return self._ledger.by_exchange_id(fill.exchange_order_id) is not None

    def process_ours(self, fills: Iterable[Fill]) -> list[FillResult]:
        """``process_fills`` over the fills of ``fills`` that are ours (any coin, any account's
        fills may be in a stream message or a REST answer); the others are left alone."""
        return self.process_fills([fill for fill in fills if self.is_ours(fill)])

    def process_fills(self, fills: Iterable[Fill]) -> list[FillResult]:
        """Apply a burst of fills exactly once each, in (timestamp, trade id) order — the order
        the exchange executed them — as one all-or-nothing transaction. One result per fill, in
        that order; a fill seen before (or earlier in the burst) is a duplicate that changes
        nothing. Exceptions as for ``process_fill``; none of the burst is then applied."""
        ordered = sorted(fills, key=_EXECUTION_ORDER)
        if not ordered:
            return []
        try:
            return self._process(ordered)
        except JournalWriteError:
            raise  # the disk, not the fill: the bot halts on it and alerts once (orchestrator)
        except Exception as exc:
            self._alert(ordered, exc)
            raise

    def _alert(self, fills: Sequence[Fill], exc: Exception) -> None:
        snapshot = self._state.get_snapshot()
        first = fills[0]
        what = f"fill {first.trade_id} ({first.side.name} {first.size} @ {first.price})"
        if len(fills) > 1:
            what = f"{len(fills)} fills ({what} and {len(fills) - 1} more)"
        log.exception("%s: processing %s failed", snapshot.bot, what)
        self._alerter.raise_alert(
            bot=snapshot.bot,
            coin=snapshot.coin,
            severity=Severity.CRITICAL,
            kind=AlertKind.FILL_PROCESSING_ERROR,
            message=f"{what} not processed: {exc!r}",
        )

    def _process(self, ordered: list[Fill]) -> list[FillResult]:
        before = self._state.get_snapshot()
        bot, coin = before.bot, before.coin
        # The fills to journal: first sightings that memory has not seen (in burst order). A fill
        # of another coin is refused by the journal, inside the transaction (nothing applied).
        fresh: dict[FillKey, Fill] = {}
        seen = self._dedup.seen
        for fill in ordered:
            key = fill.key
            if key not in fresh and not seen(key):
                fresh[key] = fill
        applied: dict[FillKey, tuple[FillEffect, OrderStatus | None]] = {}
        if fresh:
            batch = list(fresh.values())
            with self._state.store.transaction():
                effects = self._state.apply_fills_sync(batch)
                new: list[tuple[Fill, FillEffect]] = []
                for fill, effect in zip(batch, effects, strict=True):
                    if effect is None:
                        log.info("%s: fill %s was already journaled", bot, fill.key)
                    else:
                        new.append((fill, effect))
                statuses = self._update_orders([fill for fill, _ in new])
                for (fill, effect), status in zip(new, statuses, strict=True):
                    applied[fill.key] = (effect, status)
            # Committed: the books, the orders and the journal agree; now memory and the world.
            self._dedup.add_many(fresh)
        results = []
        position = before.position
        now = self._clock.now_ms()
        publish = self._bus.publish
        for fill in ordered:
            # Popped, so a repeat later in the burst is the duplicate it is.
            outcome = applied.pop(fill.key, None)
            if outcome is None:
                results.append(FillResult(fill, False, position, ZERO, None))
                continue
            effect, status = outcome
            position = effect.position
            publish(
                OrderFilled(
                    bot=bot,
                    coin=coin,
                    timestamp_ms=now,
                    trade_id=fill.trade_id,
                    client_id=fill.client_id,
                    side=fill.side,
                    price=fill.price,
                    size=fill.size,
                    fee=fill.fee,
                    position=position,
                    realized_pnl=effect.realized_pnl,
                )
            )
            results.append(FillResult(fill, True, position, effect.realized_pnl, status))
        return results

    def _update_orders(self, fills: list[Fill]) -> list[OrderStatus | None]:
        """Each fill's order status afterwards (None when no journaled order matches it)."""
        statuses: list[OrderStatus | None] = [None] * len(fills)
        matched: list[tuple[int, str]] = []
        for i, fill in enumerate(fills):
            client_id = self._order_of(fill)
            if client_id is not None:
                matched.append((i, client_id))
        updated = self._ledger.on_fills([(cid, fills[i].size) for i, cid in matched])
        for (i, client_id), status in zip(matched, updated, strict=True):
            if status is None:
                log.warning(
                    "fill %s is for order %s, which we never journaled", fills[i].key, client_id
                )
            statuses[i] = status
        return statuses

    def _order_of(self, fill: Fill) -> str | None:
        """Find the order by client id, or by exchange id when the fill carries none."""
        if fill.client_id is not None:
            return fill.client_id
        tracked = self._ledger.by_exchange_id(fill.exchange_order_id)
        if tracked is None:
            log.warning(
                "fill %s matches none of our orders (oid %s)", fill.key, fill.exchange_order_id
            )
            return None
        return tracked.client_id
