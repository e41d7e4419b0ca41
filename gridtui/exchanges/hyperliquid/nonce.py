"""Nonces for one signer: strictly increasing, never repeated, close to the exchange's clock.

Hyperliquid keeps each signer's highest nonces and rejects a repeat or anything not above the
smallest one kept, and a nonce must lie near the exchange's time. Two tasks signing in the same
millisecond would both pick ``now_ms`` and one would be refused ("Invalid nonce: duplicate nonce"),
so a nonce is ``max(now_ms, last + 1)`` taken in a critical section with no await inside:
asyncio cannot interleave tasks there, and the lock also covers threads.
"""

from __future__ import annotations

import logging
import threading

from gridtui.core.clock import Clock

log = logging.getLogger(__name__)

MAX_LEAD_MS = 86_400_000
"""The exchange refuses nonces more than about a day ahead of its time: a persisted value beyond
that would poison every later nonce, so ``observe`` refuses it."""


class NonceManager:
    """Hands out the nonces of one signer (one manager per signer address)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    @property
    def last(self) -> int:
        """The highest nonce handed out or observed (persist it to survive a restart)."""
        return self._last

    def next(self) -> int:
        """A fresh nonce: the clock's milliseconds, or one above the last if the clock has not
        moved on (or went backwards)."""
        with self._lock:
            self._last = max(self._clock.now_ms(), self._last + 1)
            return self._last

    def observe(self, nonce: int) -> None:
        """Seed from a nonce used before (persisted, or seen from another process of this
        signer) so the next one is above it."""
        if nonce < 0:
            raise ValueError(f"a nonce is never negative, got {nonce}")
        now = self._clock.now_ms()
        if nonce > now + MAX_LEAD_MS:
            log.error("refusing nonce %d: %d ms ahead of the clock", nonce, nonce - now)
            raise ValueError(f"nonce {nonce} is more than a day ahead of the clock ({now})")
        with self._lock:
            self._last = max(self._last, nonce)
