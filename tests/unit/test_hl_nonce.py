"""Nonces: strictly increasing and unique per signer, under concurrency and a wandering clock."""

from __future__ import annotations

import asyncio

import pytest

from gridtui.core.clock import SimClock
from gridtui.exchanges.hyperliquid.nonce import MAX_LEAD_MS, NonceManager


class WanderingClock:
    """A wall clock that can be stepped backwards (NTP corrections do that; SimClock cannot)."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += round(seconds * 1000)
        await asyncio.sleep(0)


def test_nonce_is_the_clock_when_it_has_moved_on() -> None:
    clock = SimClock(start_ms=1_700_000_000_000)
    nonces = NonceManager(clock)
    assert nonces.next() == 1_700_000_000_000
    clock.advance(0.5)
    assert nonces.next() == 1_700_000_000_500
    assert nonces.last == 1_700_000_000_500


def test_same_millisecond_nonces_step_by_one() -> None:
    nonces = NonceManager(SimClock(start_ms=1000))
    assert [nonces.next() for _ in range(3)] == [1000, 1001, 1002]


async def test_a_thousand_concurrent_tasks_get_unique_increasing_nonces() -> None:
    clock = SimClock(start_ms=1_700_000_000_000)
    nonces = NonceManager(clock)
    taken: list[int] = []

    async def sign_one(i: int) -> None:
        await asyncio.sleep(0)
        if i % 100 == 0:
            clock.advance(0.001)
        taken.append(nonces.next())
        await asyncio.sleep(0)

    await asyncio.gather(*(sign_one(i) for i in range(1000)))
    assert len(taken) == len(set(taken)) == 1000
    assert taken == sorted(taken)
    assert all(n >= 1_700_000_000_000 for n in taken)


def test_a_clock_going_backwards_never_repeats_a_nonce() -> None:
    clock = WanderingClock(10_000)
    nonces = NonceManager(clock)
    seen = [nonces.next(), nonces.next()]
    clock.now = 4_000  # stepped back six seconds
    seen += [nonces.next() for _ in range(5)]
    clock.now = 10_003
    seen.append(nonces.next())
    clock.now = 20_000
    seen.append(nonces.next())
    assert seen == [10_000, 10_001, 10_002, 10_003, 10_004, 10_005, 10_006, 10_007, 20_000]


def test_observe_seeds_from_a_persisted_nonce() -> None:
    clock = SimClock(start_ms=5_000)
    nonces = NonceManager(clock)
    nonces.observe(9_000)
    assert nonces.next() == 9_001
    nonces.observe(100)  # an older value never moves it back
    assert nonces.next() == 9_002


def test_observe_refuses_values_that_would_poison_later_nonces() -> None:
    nonces = NonceManager(SimClock(start_ms=5_000))
    with pytest.raises(ValueError, match="ahead"):
        nonces.observe(5_000 + MAX_LEAD_MS + 1)
    with pytest.raises(ValueError):
        nonces.observe(-1)
    assert nonces.next() == 5_000
