"""Candles as values: one candle, its replay path, and a validated series that knows its gaps.

The paper venue replays a series and the backtest reports on it, so the series carries what both
need to trust it: its interval (the most common step between candles) and the candles missing
from it — a replay through a gap jumps, and a backtest over a gappy file overstates its fills.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import overload

import attrs

from gridtui.config.schema import CandlePath


class CandleFileError(Exception):
    """A candle file that cannot be used; the message is one line naming the file and what is
    wrong (for rows: how many have the problem and where the first is)."""


@attrs.frozen(slots=True)
class Candle:
    time_ms: int
    """Opening time, epoch milliseconds UTC."""
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    """In coin units; 0 when the file has none (the replay then trades a configured notional)."""

    def path(
        self, order: CandlePath = CandlePath.ADAPTIVE
    ) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """The four mids this candle is replayed through: open, both extremes in ``order``,
        close. Adaptive visits the extreme nearer to the open first (the low on a tie)."""
        nearer_high = self.high - self.open < self.open - self.low
        if order is CandlePath.OHLC or (order is CandlePath.ADAPTIVE and nearer_high):
            return (self.open, self.high, self.low, self.close)
        return (self.open, self.low, self.high, self.close)


@attrs.frozen(slots=True)
class Gaps:
    """Candles missing from a series: a step of ``s`` ms between two candles misses
    ``s // interval - 1`` of them. ``largest_ms`` is the longest stretch without a candle
    (the largest such step minus one interval); both are 0 for a series without gaps."""

    count: int
    largest_ms: int


@attrs.frozen(slots=True)
class CandleSeries(Sequence[Candle]):
    """Validated candles, oldest first, unique times; build with ``CandleSeries.of``."""

    candles: tuple[Candle, ...]
    interval_ms: int
    """The most common step between consecutive candles (the smaller on a tie); 0 for a
    single candle."""
    gaps: Gaps

    @classmethod
    def of(cls, candles: Iterable[Candle]) -> CandleSeries:
        candles = tuple(candles)
        times = [candle.time_ms for candle in candles]
        steps = Counter(map(operator.sub, times[1:], times))
        if not steps:
            return cls(candles, 0, Gaps(0, 0))
        interval = min(steps, key=lambda step: (-steps[step], step))
        missing = {step: step // interval - 1 for step in steps if step >= 2 * interval}
        gaps = Gaps(
            sum(count * steps[step] for step, count in missing.items()),
            max(missing, default=interval) - interval,
        )
        return cls(candles, interval, gaps)

    @property
    def span(self) -> tuple[int, int, int]:
        """First and last opening time and the count: what another process checks it read the
        same candles by (a file rewritten meanwhile shows here)."""
        return (self.candles[0].time_ms, self.candles[-1].time_ms, len(self.candles))

    def __len__(self) -> int:
        return len(self.candles)

    def __iter__(self) -> Iterator[Candle]:
        return iter(self.candles)

    @overload
    def __getitem__(self, index: int) -> Candle: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Candle, ...]: ...

    def __getitem__(self, index: int | slice) -> Candle | tuple[Candle, ...]:
        return self.candles[index]
