"""The account as the venue last reported it, shared by every bot of a process.

A clearinghouseState read weighs 2 of Hyperliquid's 1200 per minute per IP, and each bot's risk
gate and every display want it: so one reading serves them all until it is ``max_age_s`` old,
and a failed read is remembered as long, so an outage costs one attempt, not one per caller. The
risk gate waits at most ``RISK_READ_TIMEOUT_S`` (it holds its bot's trading lock: a halt or an
exit must not queue behind a venue that does not answer). Nothing reads it unless asked: a
backtest reads the paper engine only when its bot sets a liquidation limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from decimal import Decimal

from gridtui.core.account import AccountSummary
from gridtui.core.clock import Clock
from gridtui.core.types import ExchangeError, Side
from gridtui.exchanges.base import Exchange
from gridtui.risk.risk_engine import RiskEngine

log = logging.getLogger(__name__)

MAX_AGE_S = 5.0
RISK_READ_TIMEOUT_S = 5.0


class AccountWatch:
    def __init__(self, exchange: Exchange, clock: Clock, *, max_age_s: float = MAX_AGE_S) -> None:
        self._exchange = exchange
        self._clock = clock
        self._max_age_ms = max_age_s * 1000
        self._lock = asyncio.Lock()
        self._failure: tuple[int, ExchangeError] | None = None
        self.latest: AccountSummary | None = None
        """The last reading, however old (None before the first)."""

    async def current(self) -> AccountSummary:
        """A reading at most ``max_age_s`` old: the cached one, or a new one (concurrent callers
        share it). A failed read raises the venue's ``ExchangeError`` -- again, without asking,
        for ``max_age_s`` -- since a decision that needs the account must not use an old one."""
        async with self._lock:
            now = self._clock.now_ms()
            if self._failure is not None and now - self._failure[0] <= self._max_age_ms:
                raise self._failure[1]
            latest = self.latest
            if latest is None or now - latest.read_at_ms > self._max_age_ms:
                try:
                    latest = await self._exchange.account()
                except ExchangeError as exc:
                    self._failure = (now, exc)
                    raise
                self._failure = None
                self.latest = latest
            return latest

    async def for_risk(
        self, risk: RiskEngine, orders: Iterable[tuple[Side, Decimal]], position: Decimal
    ) -> AccountSummary | None:
        """What the risk gate judges ``orders`` (side, size) with: a current reading when it
        needs one (``RiskEngine.needs_account``), else None; None too when the venue does not
        answer within ``RISK_READ_TIMEOUT_S`` (then the gate refuses what it cannot judge)."""
        if not risk.needs_account(orders, position):
            return None
        try:
            return await asyncio.wait_for(self.current(), RISK_READ_TIMEOUT_S)
        except TimeoutError:
            exc = ExchangeError(f"the account read took over {RISK_READ_TIMEOUT_S:g} s")
            self._failure = (self._clock.now_ms(), exc)
            log.warning("reading the account failed: %s", exc)
        except ExchangeError as exc:
            log.warning("reading the account failed: %s", exc)
        return None
