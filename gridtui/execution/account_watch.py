"""The account as the venue last reported it, shared by every bot of a process.

A clearinghouseState read weighs 2 of Hyperliquid's 1200 per minute per IP, and each bot's risk
gate and every display want it: so one reading serves them all until it is ``max_age_s`` old.
Nothing reads it unless asked (the backtest, whose bots set no liquidation limit, never does).
"""

from __future__ import annotations

import asyncio

from gridtui.core.account import AccountSummary
from gridtui.core.clock import Clock
from gridtui.exchanges.base import Exchange

MAX_AGE_S = 5.0


class AccountWatch:
    def __init__(self, exchange: Exchange, clock: Clock, *, max_age_s: float = MAX_AGE_S) -> None:
        self._exchange = exchange
        self._clock = clock
        self._max_age_ms = max_age_s * 1000
        self._lock = asyncio.Lock()
        self.latest: AccountSummary | None = None
        """The last reading, however old (None before the first)."""

    async def current(self) -> AccountSummary:
        """A reading at most ``max_age_s`` old: the cached one, or a new one (concurrent callers
        share it). A failed read raises the venue's ``ExchangeError``: a decision that needs the
        account must not be made on an old one."""
        async with self._lock:
            latest = self.latest
            if latest is None or self._clock.now_ms() - latest.read_at_ms > self._max_age_ms:
                self.latest = latest = await self._exchange.account()
            return latest
