"""Historical candles as a price source for the paper venue and the backtest.

``load_candles`` is the one reader of candle files: the common CSV layouts (``candle_csv``),
checked row by row with one-line errors, and a parsed-candle cache beside the file
(``candle_cache``) so a rerun does not parse again. ``CandleReplay`` walks each candle as four
mids -- open, both extremes in the market's ``candle_path`` order, close -- one mid per venue
step, so orders between the open and an extreme fill just as they would have during that candle.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from gridtui.config.schema import PaperMarket
from gridtui.core.rounding import round_price, round_size
from gridtui.exchanges.sim.candle_cache import read_cache, write_cache
from gridtui.exchanges.sim.candle_csv import parse_candles
from gridtui.exchanges.sim.candle_series import Candle, CandleFileError, CandleSeries, Gaps
from gridtui.exchanges.sim.price_path import Tick, tick_volume
from gridtui.exchanges.sim.tabular import read_text

__all__ = [
    "Candle",
    "CandleFileError",
    "CandleReplay",
    "CandleSeries",
    "Gaps",
    "load_candles",
]

log = logging.getLogger(__name__)

POINTS_PER_CANDLE = 4


def load_candles(path: Path) -> CandleSeries:
    """The validated candles of the file at ``path``, from its cache when the file is unchanged
    since the cache was written; ``CandleFileError`` (one line) when the file cannot be used."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise CandleFileError(
            f"{path}: cannot read the candle file ({exc.strerror or exc})"
        ) from exc
    with _gc_paused():
        cached = read_cache(path, stat)
        if cached is not None:
            log.debug("%s: %d candles from the cache", path, len(cached))
            return cached
        series = parse_candles(path, read_text(path, "candle file", CandleFileError))
    write_cache(path, stat, series)
    return series


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a series is built: half a million candles
    (no cycles among them) set off full collections that find nothing and tripled the load."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class CandleReplay:
    """A ``PricePath`` that walks through candles, one mid per step (``dt`` is ignored: the
    candles carry their own time). It starts at the first open (the market's ``start_price`` is
    not used); after the last close the market stands still with no volume."""

    def __init__(
        self,
        market: PaperMarket,
        candles: Sequence[Candle],
        notional_per_tick: Decimal,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        if not candles:
            raise ValueError("a candle replay needs at least one candle")
        self._market = market
        self._candles = candles
        self._order = market.candle_path
        self._notional = notional_per_tick
        last = len(candles) * POINTS_PER_CANDLE - 1
        self._index = 0 if state is None else min(int(state["index"]), last)
        self._last = last
        self._cached: dict[int, tuple[tuple[Decimal, ...], Decimal | None]] = {}
        """The rounded points and volume per step of the current and the next candle (a look
        ahead reads the next one): each is asked for several times while the venue walks it."""

    @property
    def mid(self) -> Decimal:
        return self._point(self._index)

    @property
    def finished(self) -> bool:
        return self._index >= self._last

    def state(self) -> dict[str, Any]:
        return {"kind": "candles", "index": self._index}

    def peek(self, count: int) -> tuple[Decimal, ...] | None:
        """The next ``count`` mids without moving, or None when fewer are left."""
        first = self._index + 1
        if first + count - 1 > self._last:
            return None
        start = first // POINTS_PER_CANDLE
        points: list[Decimal] = []
        for number in range(start, (first + count - 1) // POINTS_PER_CANDLE + 1):
            points.extend(self._candle(number)[0])
        offset = first - start * POINTS_PER_CANDLE
        return tuple(points[offset : offset + count])

    def next_tick(self, dt_sim_s: float) -> Tick:
        index = self._index
        points, volume = self._candle(index // POINTS_PER_CANDLE)
        previous = points[index % POINTS_PER_CANDLE]
        if index >= self._last:
            return Tick(previous, previous, previous, previous, Decimal(0))
        index += 1
        self._index = index
        if index >= self._last:
            log.info("%s: candle replay reached its last close", self._market.coin)
        if index % POINTS_PER_CANDLE == 0:  # the next candle's open
            points, volume = self._candle(index // POINTS_PER_CANDLE)
        current = points[index % POINTS_PER_CANDLE]
        if volume is None:
            # A candle without volume (synthetic data) trades the configured notional instead,
            # so orders can still fill; a candle's volume is shared by its steps (see _candle).
            volume = tick_volume(self._notional, current, self._market.sz_decimals)
        return Tick(
            open=previous,
            low=min(previous, current),
            high=max(previous, current),
            close=current,
            volume=volume,
        )

    def _point(self, index: int) -> Decimal:
        return self._candle(index // POINTS_PER_CANDLE)[0][index % POINTS_PER_CANDLE]

    def _candle(self, number: int) -> tuple[tuple[Decimal, ...], Decimal | None]:
        cached = self._cached.get(number)
        if cached is None:
            candle = self._candles[number]
            sz_decimals = self._market.sz_decimals
            points = tuple(round_price(p, sz_decimals) for p in candle.path(self._order))
            volume = (
                round_size(candle.volume / POINTS_PER_CANDLE, sz_decimals)
                if candle.volume > 0
                else None
            )
            cached = (points, volume)
            if len(self._cached) > 1:
                self._cached.pop(min(self._cached))
            self._cached[number] = cached
        return cached
