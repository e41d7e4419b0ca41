"""Rate limits: the per-IP weight budget, jittered backoff and the per-address action budget."""

from __future__ import annotations

import asyncio

import pytest

from gridtui.core.clock import SimClock
from gridtui.exchanges.hyperliquid.rate_limit import (
    AddressBudget,
    Backoff,
    IpWeightBudget,
    weight_of,
)
from gridtui.exchanges.hyperliquid.wire import WireError

START = 1_700_000_000_000


class CountingClock(SimClock):
    """SimClock that records every sleep, to prove waits are few and long (no busy loop)."""

    def __init__(self) -> None:
        super().__init__(start_ms=START)
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)


@pytest.mark.parametrize(
    ("request_type", "batch", "items", "weight"),
    [
        ("exchange", 1, 0, 1),
        ("exchange", 39, 0, 1),
        ("exchange", 40, 0, 2),
        ("exchange", 79, 0, 2),
        ("exchange", 80, 0, 3),
        ("l2Book", 1, 0, 2),
        ("allMids", 1, 0, 2),
        ("clearinghouseState", 1, 0, 2),
        ("orderStatus", 1, 0, 2),
        ("meta", 1, 0, 20),
        ("metaAndAssetCtxs", 1, 0, 20),
        ("openOrders", 1, 0, 20),
        ("userRateLimit", 1, 0, 20),
        ("userRole", 1, 0, 60),
        ("userFills", 1, 19, 20),
        ("userFills", 1, 20, 21),
        ("userFillsByTime", 1, 2000, 120),
        ("candleSnapshot", 1, 59, 20),
        ("candleSnapshot", 1, 500, 28),
        ("openOrders", 1, 500, 20),  # only list histories pay per item
    ],
)
def test_weights_per_request_type(request_type: str, batch: int, items: int, weight: int) -> None:
    assert weight_of(request_type, batch=batch, items=items) == weight
    assert IpWeightBudget.weight_of(request_type, batch=batch, items=items) == weight


async def test_budget_throttles_at_1200_per_minute_and_refills() -> None:
    clock = CountingClock()
    budget = IpWeightBudget(clock)
    for _ in range(1200):
        await budget.acquire(1)
    assert clock.now_ms() == START and clock.sleeps == [] and budget.used() == 1200
    assert not budget.try_acquire(1)
    await budget.acquire(1)  # waits for the first spend to leave the window, in one sleep
    assert clock.now_ms() == START + 60_000 and len(clock.sleeps) == 1
    assert budget.used() == 1  # the whole first minute expired at once
    assert budget.try_acquire(1199) and not budget.try_acquire(1)


async def test_a_stop_never_waits_for_room_but_its_weight_counts() -> None:
    """Counting what is left and catching up fills at a stop must not queue behind a minute
    spent on trading (a stop once sat 9.5 s behind it and ran out its deadline)."""
    clock = CountingClock()
    budget = IpWeightBudget(clock)
    for _ in range(60):
        await budget.acquire(20)  # the minute is spent
    budget.serve_stop()
    await budget.acquire(20)
    assert clock.now_ms() == START and clock.sleeps == []
    assert budget.used() == 1220  # the venue counts it too: overdrawn, never hidden


async def test_concurrent_acquirers_wait_in_few_long_sleeps() -> None:
    clock = CountingClock()
    budget = IpWeightBudget(clock)
    done_at: list[int] = []

    async def request() -> None:
        await budget.acquire(20)
        done_at.append(clock.now_ms())

    await asyncio.gather(*(request() for _ in range(150)))  # 3000 weight = 2.5 minutes' worth
    assert done_at.count(START) == 60
    assert done_at.count(START + 60_000) == 60
    assert done_at.count(START + 120_000) == 30
    assert len(clock.sleeps) == 2 and min(clock.sleeps) >= 59.0


async def test_a_rolling_window_not_a_fixed_one() -> None:
    clock = CountingClock()
    budget = IpWeightBudget(clock, per_minute=100)
    await budget.acquire(60)
    clock.advance(30)
    await budget.acquire(40)
    await budget.acquire(50)  # needs the first 60 gone: t = 60 s, not a fresh minute at 30 s
    assert clock.now_ms() == START + 60_000
    assert budget.used() == 90


def test_record_counts_weight_learnt_after_the_answer() -> None:
    budget = IpWeightBudget(SimClock(start_ms=START), per_minute=100)
    assert budget.try_acquire(90)
    budget.record(weight_of("userFills", items=400) - weight_of("userFills"))
    assert budget.used() == 110 and not budget.try_acquire(1)
    with pytest.raises(ValueError):
        budget.try_acquire(101)


@pytest.mark.parametrize("seed", range(5))
async def test_backoff_is_bounded_and_exhausts(seed: int) -> None:
    clock = CountingClock()
    backoff = Backoff(clock, base=0.5, cap=8.0, seed=seed, max_attempts=7)
    for _ in range(7):
        assert await backoff.wait()
    assert not await backoff.wait() and backoff.exhausted
    assert len(clock.sleeps) == 7
    for k, delay in enumerate(clock.sleeps):
        assert 0.5 <= delay <= min(8.0, 0.5 * 2**k)
    with pytest.raises(RuntimeError):
        backoff.next_delay()


def test_backoff_is_seeded_deterministic_and_jittered() -> None:
    clock = SimClock(start_ms=START)

    def delays(seed: int) -> list[float]:
        backoff = Backoff(clock, base=1.0, cap=60.0, seed=seed, max_attempts=6)
        return [backoff.next_delay() for _ in range(6)]

    assert delays(7) == delays(7)
    assert delays(7) != delays(8)
    third_waits = {round(delays(seed)[3], 6) for seed in range(20)}
    assert len(third_waits) == 20  # spread, not all clients retrying in lockstep
    assert all(1.0 <= w <= 8.0 for w in third_waits)


async def test_no_retry_storm_total_wait_at_least_sum_of_bases() -> None:
    for seed in range(20):
        clock = SimClock(start_ms=START)
        backoff = Backoff(clock, base=0.25, cap=5.0, seed=seed, max_attempts=10)
        failures = 0
        while await backoff.wait():
            failures += 1
        assert failures == 10
        assert clock.now_ms() - START >= 10 * 250


async def test_backoff_reset_and_retry_after() -> None:
    clock = CountingClock()
    backoff = Backoff(clock, base=1.0, cap=4.0, seed=1, max_attempts=3)
    await backoff.wait()
    await backoff.wait()
    backoff.reset()
    assert backoff.attempts == 0
    assert await backoff.wait(at_least=30.0)
    assert clock.sleeps[-1] == 30.0
    with pytest.raises(ValueError):
        Backoff(clock, base=2.0, cap=1.0)


RATE = {"cumVlm": "2854574.593578", "nRequestsUsed": 2890, "nRequestsCap": 2864574}


def test_address_budget_reads_user_rate_limit() -> None:
    budget = AddressBudget(SimClock(start_ms=START))
    assert budget.remaining == 10_000  # the documented starting allowance
    budget.update(RATE | {"nRequestsSurplus": 5})
    assert budget.remaining == 2864574 - 2890 + 5
    assert str(budget.cum_volume) == "2854574.593578"
    budget.record_sent()
    assert budget.remaining == 2864574 - 2890 + 4 and budget.surplus == 4


def test_a_throttled_address_sends_one_action_per_10_seconds() -> None:
    clock = SimClock(start_ms=START)
    budget = AddressBudget(clock)
    budget.update({"cumVlm": "0", "nRequestsUsed": 10_000, "nRequestsCap": 10_000})
    assert budget.remaining == 0
    assert budget.may_send()  # nothing sent yet from here
    budget.record_sent()
    assert not budget.may_send() and budget.seconds_until_allowed() == 10.0
    clock.advance(9.999)
    assert not budget.may_send()
    clock.advance(0.001)
    assert budget.may_send() and budget.seconds_until_allowed() == 0
    # Cancels keep a higher cap so a throttled bot can still pull its orders.
    assert budget.cancel_cap == 20_000
    budget.record_sent()
    assert budget.may_send(cancel=True) and not budget.may_send()


@pytest.mark.parametrize(
    "bad",
    [
        {"nRequestsUsed": 1, "nRequestsCap": 2},
        RATE | {"cumVlm": "lots"},
        RATE | {"nRequestsUsed": "12"},
        RATE | {"nRequestsSurplus": 1.5},
    ],
)
def test_malformed_user_rate_limit_is_a_wire_error(bad: dict) -> None:
    with pytest.raises(WireError, match="userRateLimit"):
        AddressBudget(SimClock()).update(bad)
