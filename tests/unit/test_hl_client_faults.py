"""HyperliquidExchange under failure: 429 backoff, 5xx, timeouts, rate budgets, key secrecy."""

from __future__ import annotations

import logging
import traceback
from decimal import Decimal

import httpx
import pytest
from hl_client_kit import AGENT, AGENT_KEY, CLOID_A, FakeVenue, err, fill_wire, make_client

from gridtui.core.clock import SimClock
from gridtui.core.types import ExchangeError, OrderRequest, PlaceStatus, Side
from gridtui.exchanges.hyperliquid.rate_limit import IpWeightBudget


class CountingClock(SimClock):
    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)


def order() -> OrderRequest:
    return OrderRequest("BTC", Side.BUY, Decimal(60000), Decimal("0.001"), CLOID_A)


def too_many() -> httpx.Response:
    return httpx.Response(429, text="Too Many Requests")


async def test_429_backs_off_with_jitter_then_succeeds() -> None:
    venue = FakeVenue()
    clock = CountingClock()
    client, _ = make_client(venue, clock, backoff_base_s=0.5)
    venue.script["/info"].extend([too_many(), too_many()])
    await client.start()
    assert venue.calls["/info"] == 4  # 2 refused + meta + userRateLimit
    assert len(clock.sleeps) == 2 and all(s >= 0.5 for s in clock.sleeps)
    assert clock.sleeps[1] <= 1.0  # attempt 2 draws from [0.5, 1.0]


async def test_429_storm_gives_up_after_bounded_retries_as_retryable() -> None:
    venue = FakeVenue()
    clock = CountingClock()
    client, _ = make_client(venue, clock, max_attempts=3, backoff_cap_s=4)
    venue.script["/info"].extend(too_many() for _ in range(50))
    with pytest.raises(ExchangeError, match="429") as raised:
        await client.start()
    assert raised.value.retryable and raised.value.status == 429
    assert venue.calls["/info"] == 4  # the first try and 3 retries
    assert len(clock.sleeps) == 3 and max(clock.sleeps) <= 4


async def test_retry_after_is_honoured_on_429() -> None:
    venue = FakeVenue()
    clock = CountingClock()
    client, _ = make_client(venue, clock)
    venue.script["/info"].append(httpx.Response(429, headers={"Retry-After": "7"}))
    await client.start()
    assert clock.sleeps == [7.0]


async def test_5xx_storm_raises_retryable_at_once_without_a_retry_storm() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    venue.script["/exchange"].extend(httpx.Response(502) for _ in range(10))
    for _ in range(3):
        with pytest.raises(ExchangeError) as raised:
            await client.place_orders([order()])
        assert raised.value.retryable and raised.value.status == 502
    assert venue.calls["/exchange"] == 3


async def test_timeout_on_exchange_is_raised_and_never_resent() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    venue.script["/exchange"].append(httpx.ReadTimeout("read timed out"))
    with pytest.raises(ExchangeError, match="orderStatus") as raised:
        await client.place_orders([order()])
    assert raised.value.retryable
    assert venue.calls["/exchange"] == 1


async def test_info_is_retried_through_timeouts_connection_errors_and_5xx() -> None:
    venue = FakeVenue()
    clock = CountingClock()
    client, _ = make_client(venue, clock)
    await client.start()
    venue.script["/info"].extend(
        [httpx.ConnectTimeout("slow"), httpx.ConnectError("refused"), httpx.Response(503)]
    )
    assert await client.all_mids()
    assert venue.calls["/info"] == 2 + 4  # start (meta, userRateLimit), 3 failures, 1 answer
    assert len(clock.sleeps) == 3 and all(s >= 0.5 for s in clock.sleeps)


async def test_info_failures_give_up_after_bounded_retries_as_retryable() -> None:
    venue = FakeVenue()
    clock = CountingClock()
    client, _ = make_client(venue, clock, max_attempts=2)
    await client.start()
    venue.script["/info"].extend(httpx.Response(502) for _ in range(10))
    with pytest.raises(ExchangeError) as raised:
        await client.all_mids()
    assert raised.value.retryable and raised.value.status == 502
    assert venue.calls["/info"] == 2 + 3  # the first try and 2 retries
    assert len(clock.sleeps) == 2


async def test_address_budget_refusal_is_retried_freshly_signed_then_succeeds() -> None:
    venue = FakeVenue()
    clock = CountingClock()
    client, _ = make_client(venue, clock)
    await client.start()
    venue.script["/exchange"].append(err("Too many cumulative requests sent (10001 > 10000)"))
    [ack] = await client.place_orders([order()])
    assert ack.status is PlaceStatus.RESTING
    nonces = [b["nonce"] for b in venue.exchange_bodies]
    assert len(nonces) == 2 and nonces[1] > nonces[0]
    assert venue.recovered == [AGENT, AGENT] and len(clock.sleeps) == 1


async def test_address_budget_refusals_are_bounded() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue, max_attempts=2)
    await client.start()
    venue.script["/exchange"].extend(err("Too many cumulative requests sent") for _ in range(9))
    with pytest.raises(ExchangeError, match="Too many") as raised:
        await client.place_orders([order()])
    assert raised.value.retryable and venue.calls["/exchange"] == 3


async def test_ip_weight_budget_is_spent_before_each_request() -> None:
    venue = FakeVenue()
    clock = CountingClock()
    budget = IpWeightBudget(clock, per_minute=64)
    client, _ = make_client(venue, clock, ip_budget=budget)
    await client.start()  # meta and userRateLimit: weight 20 each
    await client.all_mids()  # weight 2
    assert budget.used() == 42 and clock.sleeps == []
    venue.info["frontendOpenOrders"] = []
    await client.open_orders()  # weight 20
    assert budget.used() == 62
    await client.all_mids()  # 64: still fits
    assert clock.sleeps == []
    await client.all_mids()  # over the minute: waits for the window
    assert clock.sleeps and sum(clock.sleeps) >= 59.9


async def test_unexpected_4xx_is_not_retryable_and_non_json_is_a_wire_error() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    venue.script["/info"].append(httpx.Response(400, text="bad request"))
    with pytest.raises(ExchangeError) as raised:
        await client.all_mids()
    assert not raised.value.retryable and raised.value.status == 400
    venue.script["/info"].append(httpx.Response(200, text="<html>"))
    with pytest.raises(ExchangeError, match="not JSON"):
        await client.all_mids()


async def test_calls_before_start_fail_clearly() -> None:
    client, _ = make_client(FakeVenue())
    await client.close()
    client._http = None
    with pytest.raises(ExchangeError, match="not started"):
        await client.all_mids()


async def test_the_key_never_appears_in_logs_errors_or_repr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    venue = FakeVenue()
    client, _ = make_client(venue, max_attempts=1)
    await client.start()
    texts = [repr(client), str(client)]
    busy = err("Too many requests")
    venue.script["/exchange"].extend(
        [httpx.ReadTimeout("t"), httpx.Response(503), busy, busy, err("boom")]
    )
    for _ in range(4):
        with pytest.raises(ExchangeError) as raised:
            await client.place_orders([order()])
        texts.append("".join(traceback.format_exception(raised.value)))
    texts.append(caplog.text)
    naked = AGENT_KEY[2:]
    assert AGENT in texts[0]
    assert all(naked not in t and naked.upper() not in t for t in texts)


async def test_fill_histories_also_pay_their_per_item_weight() -> None:
    venue = FakeVenue()
    venue.fills = [fill_wire(tid, 1000) for tid in range(45)]
    clock = CountingClock()
    budget = IpWeightBudget(clock)
    client, _ = make_client(venue, clock, ip_budget=budget)
    await client.start()
    before = budget.used()
    await client.fills_since(1000)
    assert budget.used() - before == 20 + 45 // 20


async def test_cancels_and_the_dead_man_switch_never_wait_for_room_in_the_ip_budget() -> None:
    venue = FakeVenue()
    clock = CountingClock()
    budget = IpWeightBudget(clock, per_minute=64)
    client, _ = make_client(venue, clock, ip_budget=budget)
    await client.start()
    budget.record(64 - budget.used())  # the minute is spent (queries by now would wait)
    sleeps = len(clock.sleeps)
    await client.cancel_by_client_ids("BTC", [CLOID_A])
    await client.schedule_cancel(clock.now_ms() + 60_000)
    assert len(clock.sleeps) == sleeps  # sent at once, counted against the minute
    assert budget.used() > 64
    await client.all_mids()  # a query waits for the window instead
    assert len(clock.sleeps) > sleeps
