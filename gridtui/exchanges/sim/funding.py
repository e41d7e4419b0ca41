"""Funding-rate files for the backtest: what a perpetual position paid or earned each hour.

Two layouts: what Hyperliquid's ``fundingHistory`` info request returns, saved as is (a JSON
array of ``{"coin", "time", "fundingRate", "premium"}`` with the numbers as strings, time in
epoch ms), and a CSV with a header naming ``time``, ``fundingRate`` and optionally ``premium``
(time as in candle files: ISO-8601, epoch seconds or milliseconds). Rates are read exactly as
Decimals. As for candles, a bad file is one line: the kind of problem met first, how many records
have it and where the first is (a line of the CSV, an entry of the JSON array, counted from 1).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import attrs

from gridtui.exchanges.sim.tabular import (
    TIME_NAMES,
    Kind,
    Problems,
    TimeColumn,
    TimeKinds,
    column_name,
    read_text,
    rows,
    separator,
    split,
)

_RATE_NAMES = frozenset({"fundingrate", "funding_rate", "rate"})
_EXPECTED = (
    "expected Hyperliquid's fundingHistory JSON, or a CSV with a header naming time, "
    "fundingRate and optionally premium"
)

TOO_FEW = Kind("row with too few columns", "rows with too few columns")
NOT_A_RECORD = Kind("entry that is not a funding record", "entries that are not funding records")
OTHER_COIN = Kind("record of another coin", "records of another coin")
TIME_KINDS = TimeKinds(
    unparseable=Kind("record with an unparseable time", "records with an unparseable time"),
    mixed=Kind(
        "record whose time is in another format than the first",
        "records whose time is in another format than the first",
    ),
    duplicate=Kind("duplicate funding record", "duplicate funding records"),
    out_of_order=Kind("funding record out of order", "funding records out of order"),
)
NON_NUMERIC = Kind("record with a non-numeric rate", "records with a non-numeric rate")
BAD_PREMIUM = Kind("record with a non-numeric premium", "records with a non-numeric premium")


class FundingFileError(Exception):
    """A funding file that cannot be used; the message is one line naming the file and what is
    wrong (for records: how many have the problem and where the first is)."""


@attrs.frozen(slots=True)
class FundingRate:
    time_ms: int
    """When the funding was paid, epoch milliseconds UTC."""
    rate: Decimal
    """Fraction of the position's value a long pays (a short receives) at ``time_ms``;
    negative when shorts pay."""
    premium: Decimal | None
    """Hyperliquid's premium sample behind the rate, when the file has it."""


@attrs.frozen(slots=True)
class _Raw:
    """One record as found, before its values are read: where it is and its text values."""

    where: int
    time: str
    rate: str
    premium: str | None
    coin: str | None = None


def load_funding(path: Path) -> tuple[FundingRate, ...]:
    """The validated funding records of the file at ``path``, oldest first; one-line
    ``FundingFileError`` when the file cannot be used."""
    path = Path(path)
    text = read_text(path, "funding file", FundingFileError)
    if text.lstrip()[:1] in ("[", "{"):
        problems = Problems("entry")
        rates = _read(_json_records(path, text, problems), problems)
    else:
        problems = Problems("line")
        rates = _read(_csv_records(path, text, problems), problems)
    if problems:
        raise FundingFileError(problems.message(path))
    if not rates:
        raise FundingFileError(f"{path}: no funding records ({_EXPECTED})")
    return tuple(rates)


def _json_records(path: Path, text: str, problems: Problems) -> Iterator[_Raw]:
    """Each entry of the array that is an object with a time and a fundingRate; the others
    are counted as problems. Numbers keep their exact text (never a float)."""
    try:
        entries = json.loads(text, parse_float=str)
    except json.JSONDecodeError as exc:
        raise FundingFileError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}; "
            f"{_EXPECTED})"
        ) from exc
    if not isinstance(entries, list):
        raise FundingFileError(f"{path}: not a JSON array ({_EXPECTED})")
    for where, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or "time" not in entry or "fundingRate" not in entry:
            problems.add(NOT_A_RECORD, where, "expected an object with time and fundingRate")
            continue
        premium, coin = entry.get("premium"), entry.get("coin")
        yield _Raw(
            where,
            _text(entry["time"]),
            _text(entry["fundingRate"]),
            None if premium is None else _text(premium),
            None if coin is None else _text(coin),
        )


def _text(value: Any) -> str:
    """A JSON value as the text a CSV would hold (true, null or a list stay JSON: no number)."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value)


def _csv_records(path: Path, text: str, problems: Problems) -> Iterator[_Raw]:
    """Each row under the header; rows too short for its columns are counted as problems."""
    lines = rows(text)
    first = next(lines, None)
    if first is None:
        return
    sep = separator(first[1])
    names = [column_name(field) for field in split(first[1], sep)]
    time_at = next((i for i, name in enumerate(names) if name in TIME_NAMES), None)
    rate_at = next((i for i, name in enumerate(names) if name in _RATE_NAMES), None)
    if time_at is None or rate_at is None:
        missing = "time" if time_at is None else "fundingRate"
        raise FundingFileError(
            f"{path}: the header at line {first[0]} has no {missing} column ({_EXPECTED}; "
            f"got {first[1]!r})"
        )
    premium_at = names.index("premium") if "premium" in names else None
    need = max(time_at, rate_at) + 1
    for lineno, line in lines:
        fields = split(line, sep)
        if len(fields) < need:
            problems.add(TOO_FEW, lineno, f"found {len(fields)}, expected at least {need} columns")
            continue
        premium = fields[premium_at] if premium_at is not None and premium_at < len(fields) else ""
        yield _Raw(lineno, fields[time_at], fields[rate_at], premium or None)


def _read(records: Iterable[_Raw], problems: Problems) -> list[FundingRate]:
    """Every record checked, its problems counted; the rates, which are all good when no
    problem was counted."""
    times = TimeColumn(problems, TIME_KINDS)
    coin: str | None = None
    rates: list[FundingRate] = []
    for record in records:
        coin = coin or record.coin
        if record.coin is not None and record.coin != coin:
            problems.add(OTHER_COIN, record.where, f"{record.coin}, the first is {coin}")
        time_ms = times.read(record.time, record.where)
        rate = _number(record.rate, NON_NUMERIC, "fundingRate", record.where, problems)
        premium = (
            None
            if record.premium is None
            else _number(record.premium, BAD_PREMIUM, "premium", record.where, problems)
        )
        if time_ms is not None and rate is not None:  # any problem, and none is returned
            rates.append(FundingRate(time_ms, rate, premium))
    return rates


def _number(raw: str, kind: Kind, name: str, where: int, problems: Problems) -> Decimal | None:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        problems.add(kind, where, f"{name} {raw!r}")
        return None
    return value
