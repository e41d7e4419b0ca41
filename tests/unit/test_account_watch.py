"""One account reading serves every caller for a while; so does one failure: an outage costs
one venue call, and the risk gate never waits long on it."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from gridtui.config.schema import RiskLimits
from gridtui.core.account import AccountSummary
from gridtui.core.clock import SimClock
from gridtui.core.types import ExchangeError, Side
from gridtui.execution import account_watch
from gridtui.execution.account_watch import AccountWatch
from gridtui.risk.risk_engine import RiskEngine

NOW = 1_700_000_000_000
GATE = RiskEngine(RiskLimits(min_liquidation_distance_pct=D(20)), SimClock(NOW), max_leverage=50)
GROWING = (GATE, [(Side.BUY, D(1))], D(0))
"""A gate with a liquidation limit judging a buy from flat: it needs the account."""


class Venue:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.calls = 0
        self.failing: ExchangeError | None = None
        self.hang = False

    async def account(self) -> AccountSummary:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(60)
        if self.failing is not None:
            raise self.failing
        return AccountSummary(D(100), D(0), D(100), D(0), (), self.clock.now_ms())


async def test_a_reading_and_a_failure_each_serve_every_caller_for_max_age() -> None:
    clock = SimClock(NOW)
    venue = Venue(clock)
    watch = AccountWatch(venue, clock, max_age_s=5)  # type: ignore[arg-type]
    first = await watch.current()
    assert await watch.current() is first and venue.calls == 1
    clock.advance(6)
    venue.failing = ExchangeError("HTTP 502")
    results = await asyncio.gather(*(watch.current() for _ in range(4)), return_exceptions=True)
    assert all(isinstance(r, ExchangeError) for r in results)
    assert venue.calls == 2  # one attempt for the four callers
    assert await watch.for_risk(*GROWING) is None  # the gate gets nothing, at once
    assert watch.latest is first  # the displays keep the last reading (with its time)
    clock.advance(6)
    venue.failing = None
    assert (await watch.current()).read_at_ms == clock.now_ms() and venue.calls == 3


async def test_the_risk_gate_waits_a_bounded_time_for_a_venue_that_hangs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(account_watch, "RISK_READ_TIMEOUT_S", 0.05)
    clock = SimClock(NOW)
    venue = Venue(clock)
    venue.hang = True
    watch = AccountWatch(venue, clock)  # type: ignore[arg-type]
    guard = 10  # far longer than the gate's limit: only a gate that waits for ever reaches it
    assert await asyncio.wait_for(watch.for_risk(*GROWING), guard) is None
    assert (
        await asyncio.wait_for(watch.for_risk(*GROWING), guard) is None
    )  # remembered: no new call
    assert venue.calls == 1
