"""The per-address action budget applied to each action before it is signed.

Cancels always go (the venue gives them extra room so a throttled bot can still pull its
orders); any other action goes only while ``AddressBudget.may_send()``, else it is refused here
as a retryable ``ExchangeError`` instead of spending a request the venue would refuse. The
venue's own refusal ("Too many cumulative requests sent (used > cap) ...") is adopted too, so
the local count never stays more optimistic than the venue's.
"""

from __future__ import annotations

import logging
import re

from gridtui.core.types import ExchangeError
from gridtui.exchanges.hyperliquid.rate_limit import AddressBudget

log = logging.getLogger(__name__)

CANCEL_ACTIONS = frozenset({"cancel", "cancelByCloid"})
REFRESH_EVERY = 100
"""Re-read userRateLimit after this many actions: the cap grows with traded volume."""
_CUMULATIVE = re.compile(r"too many cumulative requests sent \((\d+) > (\d+)\)", re.IGNORECASE)


def check_may_send(budget: AddressBudget, action_type: str) -> None:
    """Raise unless ``action_type`` may go now under the address budget."""
    if action_type in CANCEL_ACTIONS or budget.may_send():
        return
    wait_s = budget.seconds_until_allowed()
    message = (
        f"address action budget exhausted: {budget.used} of {budget.cap} used; "
        f"{action_type} not sent, next action allowed in {wait_s:.1f} s"
    )
    log.warning("%s", message)
    raise ExchangeError(message, retryable=True)


def adopt_refusal(budget: AddressBudget, message: str) -> bool:
    """If ``message`` is the venue's address-budget refusal, mark the budget spent (with the
    venue's numbers when it gives them) and return True."""
    if "too many cumulative requests" not in message.lower():
        return False
    match = _CUMULATIVE.search(message)
    if match is not None:
        budget.used, budget.cap = int(match.group(1)), int(match.group(2))
    budget.used = max(budget.used, budget.cap)
    budget.surplus = 0
    log.warning("venue refused for the address budget; now %d of %d", budget.used, budget.cap)
    return True
