"""Candle CSV layouts: what the common exporters write, read into a validated ``CandleSeries``.

A header names the columns, in any case and order (``time``/``timestamp``/``date``/...,
``open``/``o``, ``high``/``h``, ``low``/``l``, ``close``/``c``, ``volume``/``v``/``vol``;
volume optional, other columns ignored), separated by commas, semicolons or tabs. A file whose
first line is already a candle (a time, then numbers) has no header: its first six columns are
time, open, high, low, close, volume — which is what Binance's kline files are (12 columns). The
strict ``time_ms,open,high,low,close,volume`` files of earlier versions are one such layout.

Every row is checked before anything is used, and a bad file is one line naming the kind of
problem met first, how many rows have it and the first one's line (see ``tabular``).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from itertools import chain
from pathlib import Path

import attrs

from gridtui.exchanges.sim.candle_series import Candle, CandleFileError, CandleSeries
from gridtui.exchanges.sim.tabular import (
    TIME_NAMES,
    Kind,
    Problems,
    TimeColumn,
    TimeKinds,
    column_name,
    is_number,
    rows,
    separator,
    split,
)

_NAMES = {
    "time": TIME_NAMES,
    "open": frozenset({"open", "o"}),
    "high": frozenset({"high", "h"}),
    "low": frozenset({"low", "l"}),
    "close": frozenset({"close", "c"}),
    "volume": frozenset({"volume", "v", "vol"}),
}
_PRICES = ("open", "high", "low", "close")
_HEADERLESS = {name: index for index, name in enumerate(_NAMES)}
_NO_VOLUME = Decimal(0)
_EXPECTED = (
    "expected a header naming time, open, high, low, close and optionally volume, in any order, "
    "or Binance kline rows"
)

TOO_FEW = Kind("row with too few columns", "rows with too few columns")
TIME_KINDS = TimeKinds(
    unparseable=Kind("candle with an unparseable time", "candles with an unparseable time"),
    mixed=Kind(
        "candle whose time is in another format than the first",
        "candles whose time is in another format than the first",
    ),
    duplicate=Kind("duplicate candle", "duplicate candles"),
    out_of_order=Kind("candle out of order", "candles out of order"),
)
NON_NUMERIC = Kind("candle with a non-numeric price", "candles with a non-numeric price")
NON_POSITIVE = Kind("candle with a non-positive price", "candles with a non-positive price")
BAD_VOLUME = Kind("candle with a bad volume", "candles with a bad volume")
HIGH_BELOW_LOW = Kind("candle with high below low", "candles with high below low")
OUTSIDE = Kind(
    "candle with open or close outside low..high", "candles with open or close outside low..high"
)


def parse_candles(path: Path, text: str) -> CandleSeries:
    """The candles of ``text`` (the content of ``path``), or ``CandleFileError``."""
    lines = rows(text)
    first = next(lines, None)
    if first is None:
        raise CandleFileError(f"{path}: no candles ({_EXPECTED})")
    sep = separator(first[1])
    fields = split(first[1], sep)
    if len(fields) > 1 and all(is_number(field) for field in fields[1:6]):
        columns, data = _HEADERLESS, chain([first], lines)
    else:
        columns, data = _header(path, first[0], fields), lines
    candles = _read(path, data, sep, columns)
    if not candles:
        raise CandleFileError(f"{path}: no candles ({_EXPECTED})")
    return CandleSeries.of(candles)


def _header(path: Path, lineno: int, fields: list[str]) -> dict[str, int]:
    """Where each column is; the first of two names for one column wins (Hyperliquid's ``t``
    is the open time and comes before ``T``, the close time)."""
    columns: dict[str, int] = {}
    for index, field in enumerate(fields):
        name = column_name(field)
        for column, names in _NAMES.items():
            if name in names:
                columns.setdefault(column, index)
    missing = [name for name in _NAMES if name not in columns and name != "volume"]
    if missing:
        raise CandleFileError(
            f"{path}: the header at line {lineno} has no {' or '.join(missing)} column "
            f"({_EXPECTED}; got {','.join(fields)!r})"
        )
    return columns


def _read(
    path: Path, data: Iterator[tuple[int, str]], sep: str, columns: dict[str, int]
) -> list[Candle]:
    """Every row checked; the candles, or the file's first problem as ``CandleFileError``."""
    problems = Problems()
    times = TimeColumn(problems, TIME_KINDS)
    time_at = columns["time"]
    at = _At(*(columns[name] for name in _PRICES), columns.get("volume"))
    need = max(columns.values()) + 1
    candles: list[Candle] = []
    known: dict[str, Decimal] = {}
    for lineno, line in data:
        fields = split(line, sep)
        if len(fields) < need:
            problems.add(TOO_FEW, lineno, f"found {len(fields)}, expected at least {need} columns")
            continue
        time_ms = times.read(fields[time_at], lineno)
        values = _values(fields, at, known)
        if values is None:
            _count_problem(fields, at, lineno, problems)
        elif time_ms is not None:
            candles.append(Candle(time_ms, *values))
    if problems:
        raise CandleFileError(problems.message(path))
    return candles


@attrs.frozen(slots=True)
class _At:
    """Where a row's values are."""

    open: int
    high: int
    low: int
    close: int
    volume: int | None


def _values(fields: list[str], at: _At, known: dict[str, Decimal]) -> tuple[Decimal, ...] | None:
    """Open, high, low, close, volume of a good row; None for a row with any problem (the fast
    path of every row: ``_count_problem`` then finds out which). Equal texts share one Decimal
    (``known``): a candle opens where the last one closed, and a year of 1m candles holds few
    distinct prices, so this saves most of a series' memory."""
    try:
        open_, high = _decimal(fields[at.open], known), _decimal(fields[at.high], known)
        low, close = _decimal(fields[at.low], known), _decimal(fields[at.close], known)
        volume = _NO_VOLUME if at.volume is None else _decimal(fields[at.volume], known)
        if 0 < low <= open_ <= high and low <= close <= high and high.is_finite():
            if volume >= 0 and volume.is_finite():
                return (open_, high, low, close, volume)
    except InvalidOperation:  # not a number, or a comparison with NaN
        pass
    return None


def _decimal(text: str, known: dict[str, Decimal]) -> Decimal:
    value = known.get(text)
    if value is None:
        value = known[text] = Decimal(text)
    return value


def _count_problem(fields: list[str], at: _At, lineno: int, problems: Problems) -> None:
    """Counts what is wrong with the prices of a bad row (the first problem) and its volume."""
    if at.volume is not None:
        raw = fields[at.volume]
        if not is_number(raw) or Decimal(raw) < 0:
            problems.add(BAD_VOLUME, lineno, f"volume {raw!r}; expected a number >= 0")
    values = []
    for name in _PRICES:
        raw = fields[getattr(at, name)]
        if not is_number(raw):
            problems.add(NON_NUMERIC, lineno, f"{name} {raw!r}")
            return
        if Decimal(raw) <= 0:
            problems.add(NON_POSITIVE, lineno, f"{name} {raw}")
            return
        values.append(Decimal(raw))
    open_, high, low, close = values
    if high < low:
        problems.add(HIGH_BELOW_LOW, lineno, f"high {high} < low {low}")
        return
    for name, value in (("open", open_), ("close", close)):
        if not low <= value <= high:
            problems.add(OUTSIDE, lineno, f"{name} {value} outside {low}..{high}")
            return
