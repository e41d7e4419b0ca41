"""Historical candles as a price source for the paper venue (and the backtest venue).

A CSV of ``time_ms,open,high,low,close,volume`` is checked line by line: a bad row stops the load
with a one-line error naming ``file:line`` and what is wrong, never a traceback (DESIGN §7). Each
candle is replayed as four mids -- open, then high and low in the order that makes the candle's
shape plausible (low first for an up candle), then close -- one mid per venue step, so orders
between the open and an extreme fill just as they would have during that candle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import attrs

from gridtui.config.schema import PaperMarket
from gridtui.core.rounding import round_price, round_size
from gridtui.exchanges.sim.price_path import Tick, tick_volume

log = logging.getLogger(__name__)

COLUMNS = ("time_ms", "open", "high", "low", "close", "volume")
POINTS_PER_CANDLE = 4


class CandleFileError(Exception):
    """A candle file that cannot be used; the message is one line: ``file:line: problem``."""


@attrs.frozen(slots=True)
class Candle:
    time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def path(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """The mids this candle is replayed through."""
        if self.close >= self.open:
            return (self.open, self.low, self.high, self.close)
        return (self.open, self.high, self.low, self.close)


def load_candles(path: Path) -> tuple[Candle, ...]:
    """Read and validate a candle CSV. A first line starting with ``time_ms`` is a header."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CandleFileError(f"{path}: cannot read the candle file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise CandleFileError(f"{path}: not a UTF-8 text file") from exc
    candles: list[Candle] = []
    seen_line = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = [field.strip() for field in stripped.split(",")]
        if not seen_line and fields[0].lower() == COLUMNS[0]:
            seen_line = True
            continue
        seen_line = True
        try:
            candle = _parse(fields, candles[-1] if candles else None)
        except ValueError as exc:
            raise CandleFileError(f"{path}:{lineno}: {exc}") from exc
        candles.append(candle)
    if not candles:
        raise CandleFileError(f"{path}: no candles; expected lines of {','.join(COLUMNS)}")
    return tuple(candles)


def _parse(fields: Sequence[str], previous: Candle | None) -> Candle:
    if len(fields) != len(COLUMNS):
        raise ValueError(f"expected {len(COLUMNS)} fields {','.join(COLUMNS)}, got {len(fields)}")
    try:
        time_ms = int(fields[0])
    except ValueError:
        raise ValueError(f"time_ms {fields[0]!r} is not an integer (milliseconds)") from None
    values: list[Decimal] = []
    for name, raw in zip(COLUMNS[1:], fields[1:], strict=True):
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ValueError(f"{name} {raw!r} is not a number") from None
        if not value.is_finite() or value < 0 or (value == 0 and name != "volume"):
            raise ValueError(f"{name} {raw!r} must be a positive number")
        values.append(value)
    candle = Candle(time_ms, *values)
    if candle.low > min(candle.open, candle.close) or candle.high < max(candle.open, candle.close):
        raise ValueError("low must be <= open and close, and high >= open and close")
    if previous is not None and time_ms <= previous.time_ms:
        raise ValueError(f"time_ms {time_ms} is not after the previous candle ({previous.time_ms})")
    return candle


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
        self._notional = notional_per_tick
        last = len(candles) * POINTS_PER_CANDLE - 1
        self._index = 0 if state is None else min(int(state["index"]), last)
        self._last = last

    @property
    def mid(self) -> Decimal:
        return self._point(self._index)

    @property
    def finished(self) -> bool:
        return self._index >= self._last

    def state(self) -> dict[str, Any]:
        return {"kind": "candles", "index": self._index}

    def next_tick(self, dt_sim_s: float) -> Tick:
        previous = self.mid
        if self.finished:
            return Tick(previous, previous, previous, previous, Decimal(0))
        self._index += 1
        if self.finished:
            log.info("%s: candle replay reached its last close", self._market.coin)
        current = self.mid
        return Tick(
            open=previous,
            low=min(previous, current),
            high=max(previous, current),
            close=current,
            volume=self._volume(current),
        )

    def _point(self, index: int) -> Decimal:
        candle = self._candles[index // POINTS_PER_CANDLE]
        raw = candle.path()[index % POINTS_PER_CANDLE]
        return round_price(raw, self._market.sz_decimals)

    def _volume(self, mid: Decimal) -> Decimal:
        """A quarter of the candle's volume per step; candles without volume (synthetic data)
        trade the configured notional instead, so orders can still fill."""
        candle = self._candles[self._index // POINTS_PER_CANDLE]
        if candle.volume > 0:
            return round_size(candle.volume / POINTS_PER_CANDLE, self._market.sz_decimals)
        return tick_volume(self._notional, mid, self._market.sz_decimals)
