"""The legal order-status transitions (DESIGN §3 OrderStateMachine).

Reports from the exchange arrive late, twice or out of order; a transition that makes no sense is
evidence of such a report (or of a bug), so it is refused, logged and counted — never applied.
"""

from __future__ import annotations

import logging

from gridtui.core.types import OrderStatus

log = logging.getLogger(__name__)

_S = OrderStatus

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.PENDING_SUBMIT: frozenset(
        {
            _S.OPEN,
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.REJECTED,
            _S.UNKNOWN,
            _S.PENDING_CANCEL,
            _S.CANCELED,
        }
    ),
    _S.OPEN: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.UNKNOWN}
    ),
    _S.PARTIALLY_FILLED: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.UNKNOWN}
    ),
    _S.PENDING_CANCEL: frozenset(
        {_S.CANCELED, _S.FILLED, _S.PARTIALLY_FILLED, _S.OPEN, _S.UNKNOWN}
    ),
    _S.UNKNOWN: frozenset({_S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED}),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
}
"""``PENDING_CANCEL → OPEN`` is a cancel that failed; ``UNKNOWN`` is a timeout whose outcome is
resolved by asking the exchange. Terminal states go nowhere."""


class OrderStateMachine:
    """Validates transitions and counts the illegal ones (a metric worth alerting on)."""

    def __init__(self) -> None:
        self.illegal_count = 0

    @staticmethod
    def can(frm: OrderStatus, to: OrderStatus) -> bool:
        return to in TRANSITIONS[frm]

    def transition(self, client_id: str, frm: OrderStatus, to: OrderStatus) -> bool:
        """True when ``frm → to`` is legal (the caller then applies it); otherwise log, count
        and return False so the caller keeps ``frm``."""
        if self.can(frm, to):
            return True
        self.illegal_count += 1
        log.warning(
            "order %s: illegal transition %s -> %s refused (%d so far)",
            client_id,
            frm.value,
            to.value,
            self.illegal_count,
        )
        return False
