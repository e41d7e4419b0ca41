"""Circuit breaker over the exchange API: stop hammering a venue that keeps failing.

A pure state machine on an injected clock. The ExecutionGateway asks ``allow_request`` before a
call and reports the outcome with ``record_success`` / ``record_failure``; when a failure trips the
breaker, the gateway cancels all orders (DESIGN §4). The breaker itself does no I/O.
"""

from __future__ import annotations

import enum
import logging

from gridtui.config.schema import BreakerSettings
from gridtui.core.clock import Clock

log = logging.getLogger(__name__)


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """CLOSED → (``error_threshold`` consecutive failures) → OPEN → (cooldown) → HALF_OPEN.

    In HALF_OPEN a single probe request is let through: its success closes the breaker and
    restores the base cooldown; its failure re-opens it with the cooldown doubled (capped at
    ``max_cooldown_s``), so a venue that stays down is probed less and less often. The caller must
    report the outcome of every request it was allowed to make, or the probe slot stays taken.
    """

    def __init__(self, settings: BreakerSettings, clock: Clock) -> None:
        if settings.error_threshold < 1:
            raise ValueError(f"error_threshold must be ≥ 1, got {settings.error_threshold}")
        self._settings = settings
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._cooldown_s = settings.cooldown_s
        self._opened_at_ms: int | None = None
        self._probe_in_flight = False
        self._consecutive_errors = 0
        self._trip_count = 0
        self._last_error: str | None = None

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock.now_ms() >= self._reopen_ms():
            self._state = BreakerState.HALF_OPEN
            self._probe_in_flight = False
            log.info("circuit breaker half-open: next request is a probe")
        return self._state

    @property
    def is_open(self) -> bool:
        """New orders are held back (the cooldown has not ended yet)."""
        return self.state is BreakerState.OPEN

    @property
    def consecutive_errors(self) -> int:
        return self._consecutive_errors

    @property
    def trip_count(self) -> int:
        return self._trip_count

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def cooldown_s(self) -> float:
        """The cooldown of the current (or next) open period."""
        return self._cooldown_s

    @property
    def reopens_at_ms(self) -> int | None:
        """When an OPEN breaker lets a probe through; None unless it is OPEN."""
        if self.state is not BreakerState.OPEN:
            return None
        return self._reopen_ms()

    def _reopen_ms(self) -> int:
        assert self._opened_at_ms is not None, "an open breaker always has an opening time"
        return self._opened_at_ms + round(self._cooldown_s * 1000)

    def allow_request(self) -> bool:
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN or self._probe_in_flight:
            return False
        self._probe_in_flight = True
        return True

    def record_success(self) -> None:
        """A success closes a half-open breaker. One arriving while OPEN (a request started
        before the trip) does not: the venue has not been probed yet."""
        state = self.state
        if state is BreakerState.OPEN:
            return
        if state is BreakerState.HALF_OPEN:
            log.info("circuit breaker closed: probe succeeded")
        self._state = BreakerState.CLOSED
        self._consecutive_errors = 0
        self._cooldown_s = self._settings.cooldown_s
        self._opened_at_ms = None
        self._probe_in_flight = False

    def record_failure(self, error: str) -> bool:
        """Count a failure; True when this one tripped the breaker (the caller then cancels all)."""
        self._last_error = error
        self._consecutive_errors += 1
        state = self.state
        if state is BreakerState.OPEN:
            return False
        if state is BreakerState.HALF_OPEN:
            self._cooldown_s = min(self._cooldown_s * 2, self._settings.max_cooldown_s)
            self._trip("probe failed", error)
            return True
        if self._consecutive_errors >= self._settings.error_threshold:
            self._trip(f"{self._consecutive_errors} consecutive errors", error)
            return True
        return False

    def _trip(self, why: str, error: str) -> None:
        self._state = BreakerState.OPEN
        self._opened_at_ms = self._clock.now_ms()
        self._probe_in_flight = False
        self._trip_count += 1
        log.warning(
            "circuit breaker open for %.1fs after %s (last error: %s)", self._cooldown_s, why, error
        )
