"""CircuitBreaker: trip at the threshold, half-open after cooldown, probe outcomes, backoff cap."""

from __future__ import annotations

from gridtui.config.schema import BreakerSettings
from gridtui.core.clock import SimClock
from gridtui.risk.circuit_breaker import BreakerState, CircuitBreaker

START_MS = 1_000_000


def make() -> tuple[CircuitBreaker, SimClock]:
    clock = SimClock(start_ms=START_MS)
    settings = BreakerSettings(error_threshold=3, cooldown_s=5.0, max_cooldown_s=12.0)
    return CircuitBreaker(settings, clock), clock


def trip(breaker: CircuitBreaker) -> None:
    while not breaker.record_failure("HTTP 502"):
        pass


def test_trips_exactly_at_the_threshold() -> None:
    breaker, _ = make()
    assert not breaker.record_failure("e1")
    assert not breaker.record_failure("e2")
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow_request()
    assert breaker.reopens_at_ms is None
    assert breaker.record_failure("e3")
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow_request()
    assert breaker.consecutive_errors == 3
    assert breaker.last_error == "e3"
    assert breaker.trip_count == 1
    assert breaker.reopens_at_ms == START_MS + 5000


def test_success_resets_the_consecutive_count() -> None:
    breaker, _ = make()
    breaker.record_failure("a")
    breaker.record_failure("b")
    breaker.record_success()
    assert breaker.consecutive_errors == 0
    assert not breaker.record_failure("c")
    assert not breaker.record_failure("d")
    assert breaker.state is BreakerState.CLOSED


def test_failures_while_open_do_not_trip_again() -> None:
    breaker, _ = make()
    trip(breaker)
    assert not breaker.record_failure("late")
    assert breaker.trip_count == 1
    assert breaker.last_error == "late"


def test_half_open_after_cooldown_allows_one_probe_at_a_time() -> None:
    breaker, clock = make()
    trip(breaker)
    clock.advance(4.999)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow_request()
    clock.advance(0.001)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.reopens_at_ms is None
    assert breaker.allow_request()
    assert not breaker.allow_request()


def test_probe_success_closes_and_restores_the_base_cooldown() -> None:
    breaker, clock = make()
    trip(breaker)
    clock.advance(5)
    breaker.allow_request()
    breaker.record_failure("still down")  # re-open, cooldown 10 s
    clock.advance(10)
    assert breaker.allow_request()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_errors == 0
    assert breaker.allow_request() and breaker.allow_request()
    trip(breaker)
    assert breaker.reopens_at_ms == clock.now_ms() + 5000


def test_probe_failure_reopens_with_doubled_cooldown_up_to_the_cap() -> None:
    breaker, clock = make()
    trip(breaker)
    expected_cooldowns = [10_000, 12_000, 12_000]  # 5 → 10 → 20 capped at 12 → 12
    cooldown_ms = 5000
    for expected in expected_cooldowns:
        clock.advance(cooldown_ms / 1000)
        assert breaker.allow_request()
        assert breaker.record_failure("probe failed")
        assert breaker.state is BreakerState.OPEN
        assert breaker.reopens_at_ms == clock.now_ms() + expected
        cooldown_ms = expected
    assert breaker.trip_count == 4


def test_a_success_while_open_does_not_close() -> None:
    breaker, _ = make()
    trip(breaker)
    breaker.record_success()  # a request sent before the trip came back fine
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow_request()
