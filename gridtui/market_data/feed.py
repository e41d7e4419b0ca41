"""The last mid price of one coin, and whether it can still be trusted.

Quoting on a stale price is how a grid bot loses money in an outage, so the feed answers the
questions the engine asks every cycle: what is the mid, is it fresh, and which price do we decide
at (``mark``)?
"""

from __future__ import annotations

import logging
from decimal import Decimal

from gridtui.core.clock import Clock
from gridtui.exchanges.base import MidUpdated, StreamEvent

log = logging.getLogger(__name__)


class MarketFeed:
    """Mid price and staleness for ``coin``.

    ``last_update_ms`` is the timestamp the venue put on the last accepted tick. Staleness is
    measured from when that tick *arrived* (read from the injected clock), not from its venue
    timestamp, so a skew between the venue's clock and ours cannot make a live stream look dead or
    a dead one look alive.
    """

    def __init__(self, coin: str, clock: Clock, stale_after_s: float) -> None:
        if stale_after_s <= 0:
            raise ValueError(f"stale_after_s must be positive, got {stale_after_s}")
        self.coin = coin
        self._clock = clock
        self._stale_after_ms = stale_after_s * 1000.0
        self._mid: Decimal | None = None
        self._last_update_ms: int | None = None
        self._received_ms: int | None = None
        self._message_count = 0
        self._polled_mid: Decimal | None = None

    @property
    def mid(self) -> Decimal | None:
        return self._mid

    @property
    def last_update_ms(self) -> int | None:
        return self._last_update_ms

    @property
    def message_count(self) -> int:
        """Mid updates accepted (ticks for other coins, bad prices and old ticks not counted)."""
        return self._message_count

    def on_event(self, event: StreamEvent) -> bool:
        """Feed any stream event; only this coin's ``MidUpdated`` is used. True when accepted."""
        if not isinstance(event, MidUpdated) or event.coin != self.coin:
            return False
        return self.on_mid(event.price, event.timestamp_ms)

    def on_mid(self, price: Decimal, ts_ms: int) -> bool:
        """Record a mid. A non-positive price (a venue glitch) is refused with a warning, and a
        tick older than the last accepted one is dropped so a late message cannot roll the price
        back. True when the tick was accepted."""
        if price <= 0:
            log.warning("%s: ignoring non-positive mid %s at %d", self.coin, price, ts_ms)
            return False
        if self._last_update_ms is not None and ts_ms < self._last_update_ms:
            log.debug(
                "%s: ignoring mid at %d, older than %d", self.coin, ts_ms, self._last_update_ms
            )
            return False
        self._mid = price
        self._last_update_ms = ts_ms
        self._received_ms = self._clock.now_ms()
        self._message_count += 1
        return True

    def on_polled_mid(self, price: Decimal) -> None:
        """A mid read by REST while the stream is silent. Kept apart from the stream's: the age
        must keep saying the *stream* is silent, so polling goes on until the stream is back."""
        if price > 0:
            self._polled_mid = price

    def mark(self) -> Decimal | None:
        """The price decisions are made at: the stream's mid, or the REST poll's when the stream
        is stale and a poll has answered."""
        if self.is_stale() and self._polled_mid is not None:
            return self._polled_mid
        return self._mid

    def age_s(self) -> float | None:
        """Seconds since the last accepted tick arrived; None before the first one."""
        if self._received_ms is None:
            return None
        return (self._clock.now_ms() - self._received_ms) / 1000.0

    def is_stale(self) -> bool:
        """True before the first tick and once no tick has arrived for ``stale_after_s``."""
        if self._received_ms is None:
            return True
        return self._clock.now_ms() - self._received_ms > self._stale_after_ms
