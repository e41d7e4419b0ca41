"""Hyperliquid's rate limits, kept on our side so the exchange never has to enforce them.

Two budgets apply. Per IP, REST requests share 1200 weight per rolling minute (HTTP 429 beyond).
Per address, actions draw on 10000 + 1 per USDC traded; once spent, one action per 10 s is let
through (cancels get a higher cap). A refusal of either kind is answered by ``Backoff``: exponential
with jitter, bounded, seeded in tests, so a failing exchange never sees a retry storm.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from gridtui.core.clock import Clock
from gridtui.exchanges.hyperliquid.wire import WireError

log = logging.getLogger(__name__)

WINDOW_MS = 60_000
IP_WEIGHT_PER_MINUTE = 1200
EXCHANGE = "exchange"
"""The request type of every /exchange call (its weight depends only on the batch length)."""
EXCHANGE_BATCH_STEP = 40
LIGHT_INFO = frozenset(
    "l2Book allMids clearinghouseState orderStatus spotClearinghouseState exchangeStatus".split()
)
HEAVY_INFO = {"userRole": 60}
DEFAULT_INFO_WEIGHT = 20
ITEMS_PER_EXTRA_WEIGHT = dict.fromkeys(
    (
        "recentTrades",
        "historicalOrders",
        "userFills",
        "userFillsByTime",
        "fundingHistory",
        "userFunding",
        "nonUserFundingUpdates",
        "twapHistory",
        "userTwapSliceFills",
        "userTwapSliceFillsByTime",
        "delegatorHistory",
        "delegatorRewards",
        "validatorStats",
    ),
    20,
) | {"candleSnapshot": 60}

BASE_ADDRESS_CAP = 10_000
THROTTLED_INTERVAL_MS = 10_000
CANCEL_CAP_EXTRA = 100_000


def weight_of(request_type: str, *, batch: int = 1, items: int = 0) -> int:
    """The documented IP weight of one request.

    ``request_type`` is ``"exchange"`` for any action (``batch`` = orders/cancels in it) or the
    info ``type``. ``items`` is how many entries a list answer returned: fill and trade histories
    cost one more per 20, candles one more per 60 (known only after the answer; see ``record``).
    """
    if batch < 0 or items < 0:
        raise ValueError("batch and items are never negative")
    if request_type == EXCHANGE:
        return 1 + batch // EXCHANGE_BATCH_STEP
    if request_type in LIGHT_INFO:
        base = 2
    else:
        base = HEAVY_INFO.get(request_type, DEFAULT_INFO_WEIGHT)
    per = ITEMS_PER_EXTRA_WEIGHT.get(request_type)
    return base + (items // per if per else 0)


class IpWeightBudget:
    """The per-IP weight spent over the last rolling minute; ``acquire`` waits for room."""

    def __init__(self, clock: Clock, per_minute: int = IP_WEIGHT_PER_MINUTE) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self._clock = clock
        self._per_minute = per_minute
        self._spent: deque[tuple[int, int]] = deque()
        self._used = 0
        self._lock = asyncio.Lock()
        self._serving_stop = False

    weight_of = staticmethod(weight_of)

    @property
    def per_minute(self) -> int:
        return self._per_minute

    def used(self) -> int:
        """Weight spent in the last minute."""
        self._expire(self._clock.now_ms())
        return self._used

    def try_acquire(self, weight: int) -> bool:
        """Spend ``weight`` now if the minute has room; never waits."""
        self._check(weight)
        if self.used() + weight > self._per_minute:
            return False
        self.record(weight)
        return True

    def serve_stop(self) -> None:
        """From now on nothing waits for room (a stop must not queue behind the minute's
        trading; a request already waiting still does): weight is counted, the venue's 429s
        are retried with backoff."""
        self._serving_stop = True

    async def acquire(self, weight: int) -> None:
        """Spend ``weight``, first sleeping until enough of the window has expired. Waiters are
        served in arrival order; each sleep lasts until the oldest spend leaves the window."""
        self._check(weight)
        if self._serving_stop:
            self.record(weight)
            return
        async with self._lock:
            while self.used() + weight > self._per_minute:
                wait_ms = self._spent[0][0] + WINDOW_MS - self._clock.now_ms()
                log.info(
                    "rate limit: the minute's IP weight is spent (%d); waiting %d ms",
                    self._used,
                    wait_ms,
                )
                await self._clock.sleep(max(wait_ms, 1) / 1000)
            self.record(weight)

    def record(self, weight: int) -> None:
        """Count weight already spent (e.g. the per-item extra learnt from an answer), even if
        it overdraws the minute: the exchange counted it too."""
        if weight < 0:
            raise ValueError("weight is never negative")
        if weight:
            self._spent.append((self._clock.now_ms(), weight))
            self._used += weight

    def _check(self, weight: int) -> None:
        if not 0 <= weight <= self._per_minute:
            raise ValueError(f"weight {weight} can never fit a budget of {self._per_minute}")

    def _expire(self, now_ms: int) -> None:
        while self._spent and self._spent[0][0] + WINDOW_MS <= now_ms:
            self._used -= self._spent.popleft()[1]


class Backoff:
    """Retry delays for one failing operation: attempt k waits a uniform random time between
    ``base`` and ``min(cap, base·2^k)``, at most ``max_attempts`` times.

    The floor of ``base`` on every wait (full jitter above it) bounds the retry rate whatever the
    dice say; the jitter spreads retries of many clients apart; the cap bounds a single wait.
    """

    def __init__(
        self,
        clock: Clock,
        base: float = 0.5,
        cap: float = 30.0,
        seed: int | None = None,
        max_attempts: int = 6,
    ) -> None:
        if base <= 0 or cap < base or max_attempts < 1:
            raise ValueError("need base > 0, cap >= base and max_attempts >= 1")
        self._clock = clock
        self._base = base
        self._cap = cap
        self._max_attempts = max_attempts
        self._rng = random.Random(seed)
        self._attempts = 0

    @property
    def attempts(self) -> int:
        return self._attempts

    @property
    def exhausted(self) -> bool:
        return self._attempts >= self._max_attempts

    def next_delay(self) -> float:
        """The next wait in seconds (and count the attempt)."""
        if self.exhausted:
            raise RuntimeError(f"backoff exhausted after {self._attempts} attempts")
        ceiling = min(self._cap, self._base * 2**self._attempts)
        self._attempts += 1
        return self._rng.uniform(self._base, ceiling)

    async def wait(self, at_least: float = 0.0) -> bool:
        """Sleep before the next retry; False (without sleeping) once the attempts are spent.
        ``at_least`` honours a server's Retry-After."""
        if self.exhausted:
            return False
        delay = max(self.next_delay(), at_least)
        log.debug("backing off %.3f s (attempt %d)", delay, self._attempts)
        await self._clock.sleep(delay)
        return True

    def reset(self) -> None:
        """The operation succeeded: the next failure starts from ``base`` again."""
        self._attempts = 0


class AddressBudget:
    """The per-address action budget as last reported by ``userRateLimit``, counted down locally
    between reports."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.cum_volume = Decimal(0)
        self.used = 0
        self.cap = BASE_ADDRESS_CAP
        self.surplus = 0
        self._last_sent_ms: int | None = None

    def update(self, response: Mapping[str, Any]) -> None:
        """Adopt the numbers of a userRateLimit answer."""
        try:
            volume = Decimal(response["cumVlm"])
            used, cap = response["nRequestsUsed"], response["nRequestsCap"]
            surplus = response.get("nRequestsSurplus") or 0
        except (KeyError, TypeError, InvalidOperation) as exc:
            raise WireError(f"userRateLimit: missing or bad field ({exc!r})") from None
        for name, value in (("nRequestsUsed", used), ("nRequestsCap", cap)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise WireError(f"userRateLimit: field '{name}' is not an integer: {value!r}")
        if isinstance(surplus, bool) or not isinstance(surplus, int):
            raise WireError(
                f"userRateLimit: field 'nRequestsSurplus' is not an integer: {surplus!r}"
            )
        self.cum_volume, self.used, self.cap, self.surplus = volume, used, cap, surplus

    @property
    def remaining(self) -> int:
        """Actions left before the address is throttled to one per 10 s."""
        return max(self.cap - self.used, 0) + self.surplus

    @property
    def cancel_cap(self) -> int:
        """Cancels may go on up to min(cap + 100000, 2 × cap) so a throttled bot can still
        pull its orders."""
        return min(self.cap + CANCEL_CAP_EXTRA, 2 * self.cap)

    def may_send(self, *, cancel: bool = False) -> bool:
        """Whether an action may go now without being refused for the address budget."""
        if self.remaining > 0 or (cancel and self.used < self.cancel_cap):
            return True
        return self.seconds_until_allowed() == 0

    def seconds_until_allowed(self) -> float:
        """How long a throttled address waits for its next action (0 when one may go now)."""
        if self.remaining > 0 or self._last_sent_ms is None:
            return 0.0
        elapsed = self._clock.now_ms() - self._last_sent_ms
        return max(THROTTLED_INTERVAL_MS - elapsed, 0) / 1000

    def record_sent(self) -> None:
        """Count one action sent (surplus first, as reserved capacity is spent before the cap)."""
        if self.surplus > 0:
            self.surplus -= 1
        else:
            self.used += 1
        self._last_sent_ms = self._clock.now_ms()
