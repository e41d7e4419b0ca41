"""What we believe rests on the exchange (DESIGN §3 ExecutionGateway: shadow ledger).

Every change is written to the store before memory, and an order is journaled as an intent before
it is sent, so after a crash the ledger rebuilt from the store knows every order that might be on
the exchange. Terminal orders are dropped from memory (the store keeps them), so memory stays
bounded however long the bot runs.

Changes made inside a store transaction (a burst of intents, the order updates of a burst of
fills) are *staged*: reads in the same transaction see them, memory takes them when the
transaction commits, and a rollback drops them — memory never shows an order state the journal
does not have.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal

import attrs

from gridtui.core.clock import Clock
from gridtui.core.types import ZERO, OrderRequest, OrderStatus
from gridtui.state.order_state_machine import REPORTED, OrderFact, OrderStateMachine
from gridtui.state.records import OrderRecord
from gridtui.state.store import Store

log = logging.getLogger(__name__)


@attrs.frozen(slots=True)
class TrackedOrder:
    """One of our orders as we believe it stands."""

    request: OrderRequest
    level: int | None
    generation: int
    status: OrderStatus
    exchange_id: int | None
    filled: Decimal
    created_ms: int
    updated_ms: int

    @property
    def client_id(self) -> str:
        return self.request.client_id

    @property
    def remaining(self) -> Decimal:
        return max(self.request.size - self.filled, ZERO)

    @classmethod
    def from_record(cls, record: OrderRecord) -> TrackedOrder:
        return cls(
            request=record.request,
            level=record.level,
            generation=record.generation,
            status=record.status,
            exchange_id=record.exchange_id,
            filled=record.filled,
            created_ms=record.created_ms,
            updated_ms=record.updated_ms,
        )


class ShadowLedger:
    """Live orders in memory, every order in the store. Callers tell it facts (``on_ack``,
    ``on_fill``, ``on_report``, ...); the state machine decides each status, and nothing else
    writes one."""

    def __init__(self, store: Store, machine: OrderStateMachine, clock: Clock) -> None:
        self._store = store
        self._machine = machine
        self._clock = clock
        self._live: dict[str, TrackedOrder] = {}
        self._unsettled: dict[str, TrackedOrder] = {}
        """The live orders the exchange has not confirmed: asked for every engine cycle (stuck
        and unanswered orders), usually empty, so not found by scanning every live order."""
        self._by_exchange_id: dict[int, str] = {}
        self._staged: dict[str, TrackedOrder] = {}
        """Written in the open transaction, not committed yet (terminal ones included)."""
        for record in store.orders(live_only=True):
            self._remember(TrackedOrder.from_record(record))

    @property
    def store(self) -> Store:
        return self._store

    def add_pending(
        self, request: OrderRequest, *, level: int | None, generation: int
    ) -> TrackedOrder:
        """Journal the intent (durably) and track the order as PENDING_SUBMIT; call before
        sending. Adding the same live request again (a resend) returns it unchanged; reusing a
        client id for a different or finished order raises ``ValueError``."""
        existing = self.get(request.client_id)
        if existing is not None and existing.status.is_terminal:
            raise ValueError(
                f"client id {request.client_id} already used by a {existing.status.value} order"
            )
        now = self._clock.now_ms()
        self._store.record_intent(request, level=level, generation=generation, created_ms=now)
        if existing is not None:
            return existing
        tracked = TrackedOrder(
            request, level, generation, OrderStatus.PENDING_SUBMIT, None, ZERO, now, now
        )
        self._keep(tracked)
        return tracked

    def on_ack(self, client_id: str, exchange_id: int | None) -> bool:
        """The venue acknowledged the order under ``exchange_id``. True when the fact was
        applied (or changed nothing); False for an order we never journaled or a refused fact."""
        return self._learn(client_id, OrderFact.ACCEPTED, exchange_id=exchange_id)

    def on_reject(self, client_id: str, error: str | None) -> bool:
        """The venue refused the order."""
        return self._learn(client_id, OrderFact.REJECTED, error=error)

    def on_send_failed(self, client_id: str, error: str) -> bool:
        """The place call failed: the order may or may not be on the book (UNKNOWN until someone
        asks the venue by client id)."""
        return self._learn(client_id, OrderFact.SEND_FAILED, error=error)

    def on_cancel_requested(self, client_id: str) -> bool:
        return self._learn(client_id, OrderFact.CANCEL_REQUESTED)

    def on_cancel_failed(self, client_id: str, error: str) -> bool:
        """The cancel call failed: the order may or may not be canceled."""
        return self._learn(client_id, OrderFact.CANCEL_FAILED, error=error)

    def on_cancel_ack(self, client_id: str, exchange_id: int | None) -> bool:
        """The venue confirmed the cancel."""
        return self._learn(client_id, OrderFact.CANCELED, exchange_id=exchange_id)

    def on_report(
        self,
        client_id: str,
        status: OrderStatus | None,
        *,
        exchange_id: int | None = None,
        error: str | None = None,
    ) -> bool:
        """What the venue says of the order: its status in a listing, a status query or a
        push, or None when it has no such order. False when our books contradict it (an order
        the venue lists as open that we know finished): the caller must act on it."""
        fact = OrderFact.NOT_FOUND if status is None else REPORTED.get(status)
        if fact is None:
            raise ValueError(f"order {client_id}: a venue cannot report {status}")
        return self._learn(client_id, fact, exchange_id=exchange_id, error=error)

    def _learn(
        self,
        client_id: str,
        fact: OrderFact,
        *,
        exchange_id: int | None = None,
        error: str | None = None,
    ) -> bool:
        current = self.get(client_id)
        if current is None:
            log.warning("order %s: %s, but we never journaled it", client_id, fact.value)
            return False
        status = self._machine.next_status(client_id, current.status, fact)
        if status is None:
            return False
        news = error is not None or exchange_id not in (None, current.exchange_id)
        if status is not current.status or news:
            self._persist(current, status, exchange_id=exchange_id, error=error)
        return True

    def on_fill(self, client_id: str, size: Decimal) -> OrderStatus | None:
        """Add ``size`` to the order's filled amount; returns its status afterwards, or None for
        an order we never journaled.

        The amount is always recorded; the status is the machine's (a late fill of a CANCELED
        or FILLED order keeps that status; a fill of a REJECTED order is refused and counted).
        """
        return self.on_fills([(client_id, size)])[0]

    def on_fills(self, fills: Sequence[tuple[str, Decimal]]) -> list[OrderStatus | None]:
        """``on_fill`` for a burst of (client id, size), in order: one status per fill, and each
        order's row written once, with its final amount and status, in one transaction."""
        touched: dict[str, tuple[TrackedOrder, OrderStatus, Decimal]] = {}
        statuses: list[OrderStatus | None] = []
        for client_id, size in fills:
            if client_id in touched:
                current, status, filled = touched[client_id]
            else:
                found = self.get(client_id)
                if found is None:
                    statuses.append(None)
                    continue
                current, status, filled = found, found.status, found.filled
            filled += size
            ordered = current.request.size
            if filled > ordered:
                log.warning("order %s: filled %s exceeds its size %s", client_id, filled, ordered)
            fact = OrderFact.FILLED if filled >= ordered else OrderFact.PART_FILLED
            status = self._machine.next_status(client_id, status, fact) or status
            touched[client_id] = (current, status, filled)
            statuses.append(status)
        with self._store.transaction():
            for current, status, filled in touched.values():
                self._persist(current, status, filled=filled)
        return statuses

    def get(self, client_id: str) -> TrackedOrder | None:
        """Any order ever journaled (live ones from memory, finished ones from the store)."""
        tracked = self._staged.get(client_id) or self._live.get(client_id)
        if tracked is not None:
            return tracked
        record = self._store.order(client_id)
        return None if record is None else TrackedOrder.from_record(record)

    def by_exchange_id(self, exchange_id: int) -> TrackedOrder | None:
        for staged in self._staged.values():
            if staged.exchange_id == exchange_id:
                return staged
        client_id = self._by_exchange_id.get(exchange_id)
        if client_id is not None and client_id not in self._staged:
            return self._live[client_id]
        record = self._store.order_by_exchange_id(exchange_id)
        return None if record is None else TrackedOrder.from_record(record)

    def live(self) -> list[TrackedOrder]:
        """Orders that may rest on the exchange (every non-terminal status), oldest first."""
        return sorted(self._live_now().values(), key=lambda t: (t.created_ms, t.client_id))

    def unsettled(self) -> list[TrackedOrder]:
        """Live orders whose state the exchange has not confirmed (being placed, being canceled,
        unknown), oldest first: usually none, found without sorting every live order."""
        if self._staged:
            found = [t for t in self._live_now().values() if t.status.is_unsettled]
        else:
            found = list(self._unsettled.values())
        return sorted(found, key=lambda t: (t.created_ms, t.client_id)) if found else found

    def live_count(self) -> int:
        return len(self._live_now()) if self._staged else len(self._live)

    def knows(self, client_id: str) -> bool:
        return (
            client_id in self._staged
            or client_id in self._live
            or self._store.order(client_id) is not None
        )

    def _live_now(self) -> dict[str, TrackedOrder]:
        if not self._staged:
            return self._live
        merged = dict(self._live)
        for client_id, tracked in self._staged.items():
            if tracked.status.is_terminal:
                merged.pop(client_id, None)
            else:
                merged[client_id] = tracked
        return merged

    def _persist(
        self,
        current: TrackedOrder,
        status: OrderStatus,
        *,
        exchange_id: int | None = None,
        filled: Decimal | None = None,
        error: str | None = None,
    ) -> None:
        now = self._clock.now_ms()
        self._store.update_order(
            current.client_id,
            status=status,
            exchange_id=exchange_id,
            filled=filled,
            updated_ms=now,
            last_error=error,
        )
        new = attrs.evolve(
            current,
            status=status,
            exchange_id=current.exchange_id if exchange_id is None else exchange_id,
            filled=current.filled if filled is None else filled,
            updated_ms=now,
        )
        self._keep(new)

    def _keep(self, tracked: TrackedOrder) -> None:
        """``tracked`` was just written to the store: into memory now, or when the open
        transaction commits."""
        if not self._store.in_transaction:
            self._apply(tracked)
            return
        first = not self._staged
        self._staged[tracked.client_id] = tracked
        if first:
            self._store.after_commit(self._publish, self._drop_staged)

    def _publish(self) -> None:
        staged, self._staged = self._staged, {}
        for tracked in staged.values():
            self._apply(tracked)

    def _drop_staged(self) -> None:
        self._staged = {}

    def _apply(self, tracked: TrackedOrder) -> None:
        previous = self._live.get(tracked.client_id)
        if previous is not None:
            self._forget(previous)
        if not tracked.status.is_terminal:
            self._remember(tracked)

    def _remember(self, tracked: TrackedOrder) -> None:
        self._live[tracked.client_id] = tracked
        if tracked.status.is_unsettled:
            self._unsettled[tracked.client_id] = tracked
        if tracked.exchange_id is not None:
            self._by_exchange_id[tracked.exchange_id] = tracked.client_id

    def _forget(self, tracked: TrackedOrder) -> None:
        self._live.pop(tracked.client_id, None)
        self._unsettled.pop(tracked.client_id, None)
        eid = tracked.exchange_id
        if eid is not None and self._by_exchange_id.get(eid) == tracked.client_id:
            del self._by_exchange_id[eid]
