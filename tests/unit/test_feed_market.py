"""MarketFeed: mid tracking, filtering and staleness on a simulated clock."""

from __future__ import annotations

import logging
from decimal import Decimal as D

import pytest

from gridtui.core.clock import SimClock
from gridtui.core.types import Fill, Side
from gridtui.exchanges.base import FillsReceived, MidUpdated
from gridtui.market_data.feed import MarketFeed


def make() -> tuple[MarketFeed, SimClock]:
    clock = SimClock(start_ms=1_000_000)
    return MarketFeed("ETH", clock, stale_after_s=10.0), clock


def test_stale_and_empty_before_the_first_tick() -> None:
    feed, _ = make()
    assert feed.mid is None
    assert feed.last_update_ms is None
    assert feed.age_s() is None
    assert feed.is_stale()
    assert feed.message_count == 0


def test_a_tick_sets_mid_and_staleness_follows_the_clock() -> None:
    feed, clock = make()
    assert feed.on_mid(D("2000.5"), 999_000)
    assert feed.mid == D("2000.5")
    assert feed.last_update_ms == 999_000
    assert feed.age_s() == 0.0
    assert not feed.is_stale()
    clock.advance(10.0)
    assert feed.age_s() == 10.0
    assert not feed.is_stale()
    clock.advance(0.001)
    assert feed.is_stale()
    feed.on_mid(D(2001), 1_010_001)
    assert not feed.is_stale()
    assert feed.message_count == 2


def test_events_for_other_coins_and_other_kinds_are_ignored() -> None:
    feed, _ = make()
    assert not feed.on_event(MidUpdated("BTC", D(64000), 1))
    fill = Fill("paper", "ETH", 1, 1, None, Side.BUY, D(2000), D(1), D(0), 1)
    assert not feed.on_event(FillsReceived((fill,)))
    assert feed.mid is None
    assert feed.on_event(MidUpdated("ETH", D(1999), 2))
    assert feed.mid == D(1999)
    assert feed.message_count == 1


def test_non_positive_prices_are_refused_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    feed, _ = make()
    feed.on_mid(D(2000), 1)
    with caplog.at_level(logging.WARNING, logger="gridtui.market_data.feed"):
        assert not feed.on_mid(D(0), 2)
        assert not feed.on_mid(D(-5), 3)
    assert feed.mid == D(2000)
    assert feed.message_count == 1
    assert sum("non-positive" in r.getMessage() for r in caplog.records) == 2


def test_an_older_tick_does_not_roll_the_price_back() -> None:
    feed, _ = make()
    feed.on_mid(D(2000), 500)
    assert not feed.on_mid(D(1900), 400)
    assert feed.mid == D(2000)
    assert feed.last_update_ms == 500
    assert feed.on_mid(D(2001), 500)  # same millisecond is a new tick


def test_staleness_uses_arrival_time_not_venue_timestamp() -> None:
    feed, clock = make()
    feed.on_mid(D(2000), 0)  # a venue clock far behind ours
    assert not feed.is_stale()
    clock.advance(5)
    assert feed.age_s() == 5.0


def test_stale_after_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MarketFeed("ETH", SimClock(), stale_after_s=0)


def test_mark_is_the_stream_mid_while_fresh_and_the_polled_mid_while_stale() -> None:
    feed, clock = make()
    assert feed.mark() is None
    feed.on_polled_mid(D(1990))  # the stream never spoke: the poll's price is all there is
    assert feed.mark() == D(1990) and feed.is_stale()
    feed.on_mid(D(2000), 1_000_000)
    assert feed.mark() == D(2000)  # a fresh stream wins over an older poll
    clock.advance(11.0)
    feed.on_polled_mid(D(2010))
    assert feed.mark() == D(2010)
    assert feed.is_stale()  # a poll never makes the stream look alive
    feed.on_polled_mid(D(0))  # a glitch is not a price
    assert feed.mark() == D(2010)
