"""Order status, decided in one place (DESIGN §3 OrderStateMachine).

The shadow ledger learns *facts* about an order (the venue acknowledged it, a fill left some of it,
a cancel was confirmed, a report says it rests) and asks this table what status each fact makes
from the status the order has. Reports from a venue arrive late, twice and out of order, so the
real world's odd edges are rows here like any other (an acknowledgement after a fill keeps the order
partly filled, a fill after a cancel keeps it canceled, a cancel of a filled order keeps it filled),
readable in one place, as NautilusTrader keeps its order state machine. A fact with no row is a
contradiction (or a bug): refused, logged and counted (a metric worth alerting on), never applied.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping

from gridtui.core.types import OrderStatus

log = logging.getLogger(__name__)


class OrderFact(enum.Enum):
    """Something we learned about one of our orders, named for what happened."""

    SEND_FAILED = "send failed"
    """The place call failed: the order may or may not be on the book."""
    ACCEPTED = "accepted"
    """The venue acknowledged the order (resting, or filled on arrival: the fills move it on)."""
    REJECTED = "rejected"
    """The venue refused the order, or reports it refused."""
    NOT_FOUND = "not found"
    """Asked by client id, the venue has no such order."""
    CANCEL_REQUESTED = "cancel requested"
    CANCEL_FAILED = "cancel failed"
    """The cancel call failed: the order may or may not be canceled."""
    CANCELED = "canceled"
    """The venue confirmed the order canceled (its acknowledgement, a report, a status query)."""
    PART_FILLED = "part filled"
    """A fill left some of the order (or the venue reports it partly filled)."""
    FILLED = "filled"
    """A fill completed the order (or the venue reports it filled)."""
    RESTING = "resting"
    """The venue lists the order as open."""


_S, _F = OrderStatus, OrderFact

_ORDINARY: dict[OrderStatus, dict[OrderFact, OrderStatus]] = {
    _S.PENDING_SUBMIT: {
        _F.SEND_FAILED: _S.UNKNOWN,
        _F.ACCEPTED: _S.OPEN,
        _F.RESTING: _S.OPEN,
        _F.REJECTED: _S.REJECTED,
        _F.NOT_FOUND: _S.REJECTED,
        _F.PART_FILLED: _S.PARTIALLY_FILLED,
        _F.FILLED: _S.FILLED,
        _F.CANCEL_REQUESTED: _S.PENDING_CANCEL,
        _F.CANCEL_FAILED: _S.UNKNOWN,
        _F.CANCELED: _S.CANCELED,
    },
    _S.OPEN: {
        _F.PART_FILLED: _S.PARTIALLY_FILLED,
        _F.FILLED: _S.FILLED,
        _F.CANCEL_REQUESTED: _S.PENDING_CANCEL,
        _F.CANCEL_FAILED: _S.UNKNOWN,
        _F.CANCELED: _S.CANCELED,
    },
    _S.PARTIALLY_FILLED: {
        _F.PART_FILLED: _S.PARTIALLY_FILLED,
        _F.FILLED: _S.FILLED,
        _F.CANCEL_REQUESTED: _S.PENDING_CANCEL,
        _F.CANCEL_FAILED: _S.UNKNOWN,
        _F.CANCELED: _S.CANCELED,
    },
    _S.PENDING_CANCEL: {
        _F.CANCELED: _S.CANCELED,
        _F.CANCEL_REQUESTED: _S.PENDING_CANCEL,
        _F.CANCEL_FAILED: _S.UNKNOWN,
    },
    _S.UNKNOWN: {
        _F.ACCEPTED: _S.OPEN,
        _F.RESTING: _S.OPEN,
        _F.REJECTED: _S.REJECTED,
        _F.NOT_FOUND: _S.REJECTED,
        _F.PART_FILLED: _S.PARTIALLY_FILLED,
        _F.FILLED: _S.FILLED,
        _F.CANCEL_REQUESTED: _S.PENDING_CANCEL,
        _F.CANCELED: _S.CANCELED,
    },
    _S.FILLED: {_F.FILLED: _S.FILLED},
    _S.CANCELED: {_F.CANCELED: _S.CANCELED},
    _S.REJECTED: {_F.REJECTED: _S.REJECTED, _F.NOT_FOUND: _S.REJECTED},
}
"""The path an order takes when every report arrives once, in order."""

_REAL_WORLD: dict[OrderStatus, dict[OrderFact, OrderStatus]] = {
    _S.OPEN: {
        _F.ACCEPTED: _S.OPEN,  # the same acknowledgement twice
        _F.RESTING: _S.OPEN,
        _F.NOT_FOUND: _S.OPEN,  # a status lookup behind the venue's book; the listing decides
        _F.SEND_FAILED: _S.OPEN,  # the venue's push said it rests before the call's error came
    },
    _S.PARTIALLY_FILLED: {
        _F.ACCEPTED: _S.PARTIALLY_FILLED,  # the acknowledgement arrived after the first fill
        _F.RESTING: _S.PARTIALLY_FILLED,  # a listing of a partly filled order says "open"
        _F.NOT_FOUND: _S.PARTIALLY_FILLED,
    },
    _S.PENDING_CANCEL: {
        _F.PART_FILLED: _S.PARTIALLY_FILLED,  # a fill raced the cancel; the cancel still stands
        _F.FILLED: _S.FILLED,  # the fill won the race: nothing is left to cancel
        _F.RESTING: _S.OPEN,  # the cancel did not take: the order still rests
        _F.ACCEPTED: _S.PENDING_CANCEL,
        _F.NOT_FOUND: _S.PENDING_CANCEL,
    },
    _S.UNKNOWN: {
        _F.SEND_FAILED: _S.UNKNOWN,
        _F.CANCEL_FAILED: _S.UNKNOWN,
    },
    _S.FILLED: {
        # A fill never moves an order back: a further fill is recorded (its amount) and an
        # overfill is logged by the ledger; everything else about a filled order is late news.
        _F.PART_FILLED: _S.FILLED,
        _F.ACCEPTED: _S.FILLED,
        _F.NOT_FOUND: _S.FILLED,
        _F.CANCEL_REQUESTED: _S.FILLED,  # a cancel of an order that has just filled
        _F.CANCEL_FAILED: _S.FILLED,
    },
    _S.CANCELED: {
        _F.PART_FILLED: _S.CANCELED,  # a fill after the cancel: its amount is recorded
        _F.FILLED: _S.CANCELED,
        _F.ACCEPTED: _S.CANCELED,
        _F.NOT_FOUND: _S.CANCELED,
        _F.CANCEL_REQUESTED: _S.CANCELED,
        _F.CANCEL_FAILED: _S.CANCELED,
    },
    _S.REJECTED: {
        _F.CANCEL_REQUESTED: _S.REJECTED,
        _F.CANCEL_FAILED: _S.REJECTED,
        _F.CANCELED: _S.REJECTED,  # given up as never arrived, it landed late and we canceled it
    },
}
"""Edges only the real world takes: reports late, repeated or crossing each other. Not here, so
refused: anything resting again once finished (our books say it must not rest: the caller cancels
it), a fill of a rejected order, a rejection or a "canceled" of an order that was filled."""

TRANSITIONS: Mapping[tuple[OrderStatus, OrderFact], OrderStatus] = {
    (status, fact): to
    for table in (_ORDINARY, _REAL_WORLD)
    for status, row in table.items()
    for fact, to in row.items()
}

REPORTED: Mapping[OrderStatus, OrderFact] = {
    _S.OPEN: _F.RESTING,
    _S.PARTIALLY_FILLED: _F.PART_FILLED,
    _S.FILLED: _F.FILLED,
    _S.CANCELED: _F.CANCELED,
    _S.REJECTED: _F.REJECTED,
}
"""The fact a venue's report of a status states (a venue reports no pending or unknown state)."""


class OrderStateMachine:
    """Looks facts up in ``TRANSITIONS`` and counts the ones it refuses; ``on_refused`` (the bot's
    metric) is told of each."""

    def __init__(self, on_refused: Callable[[], None] | None = None) -> None:
        self.illegal_count = 0
        self._on_refused = on_refused

    def next_status(
        self, client_id: str, status: OrderStatus, fact: OrderFact
    ) -> OrderStatus | None:
        """The status ``fact`` makes from ``status``; None (logged, counted) when it has no row."""
        to = TRANSITIONS.get((status, fact))
        if to is not None:
            return to
        self.illegal_count += 1
        log.warning(
            "order %s: %s while %s refused (%d so far)",
            client_id,
            fact.value,
            status.value,
            self.illegal_count,
        )
        if self._on_refused is not None:
            self._on_refused()
        return None
