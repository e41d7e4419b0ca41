"""``gridtui data fetch``: a coin's candles (and funding rates) from Hyperliquid, written as the
files ``gridtui backtest`` reads.

Candles come from ``candleSnapshot``, funding from ``fundingHistory``, both paged by
``HyperliquidMarketData`` under the client's IP weight budget and retry policy. The candle file is
``time_ms,open,high,low,close,volume``, one row per candle, oldest first, each open time once,
every number exactly the venue's text; the funding file is a JSON array of the venue's own records
(``coin``, ``fundingRate``, ``premium``, ``time``), named like the candle file with its suffix
replaced by ``.funding.json``. Both are written whole or not at all (a temporary file renamed over
the target). The venue keeps only the newest 5000 candles of each interval: a range reaching
further back is said in one line on stderr, with where the data starts.

Every problem is one line (``FetchError``, ``VenueUnavailable``): bad input and an unwritable
output file before anything is asked of the venue, an unreachable venue after the client's
retries.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import attrs

from gridtui.backtest import BacktestError
from gridtui.config.schema import VenueSettings
from gridtui.core.clock import Clock, RealClock
from gridtui.core.files import write_atomically
from gridtui.core.types import ExchangeError
from gridtui.exchanges.base import VenueUnavailable
from gridtui.exchanges.hyperliquid.info_parse import FundingRecord, VenueCandle
from gridtui.exchanges.hyperliquid.market_data import HyperliquidMarketData
from gridtui.exchanges.hyperliquid.wire import (
    CANDLE_INTERVALS,
    CANDLES_KEPT,
    candle_open_ms,
    candle_shift_ms,
)
from gridtui.venues import MAINNET_URL, TESTNET_URL

FUNDING_SUFFIX = ".funding.json"
CANDLE_HEADER = "time_ms,open,high,low,close,volume"
MAX_ATTEMPTS = 4
"""Tries of each request before the venue counts as unreachable (the client's jittered backoff
waits between them: a few seconds in all)."""
TIME_RULE = "ISO-8601 such as 2024-01-01T00:00:00Z, or epoch milliseconds"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_LAST_MS = (datetime(9999, 12, 31, tzinfo=UTC) - _EPOCH) // _MS


class FetchError(BacktestError):
    """A fetch that cannot run as asked; the message is one line naming the fix."""


@attrs.frozen(slots=True)
class FetchArgs:
    coin: str
    interval: str
    out: Path
    start: str | None = None
    """TIME as typed: ISO-8601 or epoch milliseconds; default: ``end`` − 5000 intervals."""
    end: str | None = None
    """TIME as typed; default: now."""
    funding: bool = False


@attrs.frozen(slots=True)
class FetchResult:
    start_ms: int
    end_ms: int
    candles: tuple[VenueCandle, ...]
    funding: tuple[FundingRecord, ...] | None
    candles_path: Path
    funding_path: Path | None
    notice: str | None
    """The one line said on stderr when the venue has no candles as far back as the range."""


def funding_path_of(out: Path) -> Path:
    """Where ``--funding`` writes: ``out`` with its suffix replaced by (or, without one, followed
    by) ``.funding.json`` (``btc.csv`` → ``btc.funding.json``)."""
    return (
        out.with_name(out.stem + FUNDING_SUFFIX) if out.suffix else Path(f"{out}{FUNDING_SUFFIX}")
    )


def base_url_of(venue: VenueSettings) -> str:
    """The venue's REST base URL, chosen as ``venues.make_exchange`` chooses it."""
    if venue.api_url:
        return venue.api_url
    return MAINNET_URL if venue.network == "mainnet" else TESTNET_URL


def iso(time_ms: int) -> str:
    """``2024-01-01T00:00:00Z`` (milliseconds shown only when there are some)."""
    moment = _EPOCH + time_ms * _MS
    spec = "milliseconds" if time_ms % 1000 else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def parse_time(text: str, option: str) -> int:
    """TIME as epoch milliseconds: digits are milliseconds, anything else ISO-8601 (UTC unless
    it names an offset)."""
    raw = text.strip()
    if raw.isdigit() and raw.isascii():
        if len(raw) > len(str(_LAST_MS)) or int(raw) > _LAST_MS:
            raise FetchError(f"{option} {text!r} is after the year 9999 (expected {TIME_RULE})")
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise FetchError(f"{option} {text!r}: expected {TIME_RULE}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    time_ms = (moment - _EPOCH) // _MS
    if time_ms < 0:
        raise FetchError(f"{option} {text!r} is before 1970 (expected {TIME_RULE})")
    return time_ms


def check_interval(interval: str) -> None:
    if interval not in CANDLE_INTERVALS:
        raise FetchError(
            f"--interval {interval!r}: Hyperliquid has no such candle interval "
            f"(expected one of {' '.join(CANDLE_INTERVALS)})"
        )


def resolve_range(
    interval: str, start: str | None, end: str | None, now_ms: int
) -> tuple[int, int]:
    """The range as epoch ms. Without ``--start`` it opens 4999 candles before the candle ``end``
    falls in: the 5000 newest candles when ``end`` is now, and what ``end`` − 5000 intervals
    would give (the venue answers with the candles opening inside the range)."""
    end_ms = now_ms if end is None else parse_time(end, "--end")
    if start is None:
        start_ms = max(
            candle_shift_ms(interval, candle_open_ms(interval, end_ms), 1 - CANDLES_KEPT), 0
        )
    else:
        start_ms = parse_time(start, "--start")
    if start_ms > end_ms:
        until = f"--end {iso(end_ms)}" if end is not None else f"the end, now ({iso(end_ms)})"
        raise FetchError(f"--start {iso(start_ms)} is after {until}")
    return start_ms, end_ms


def check_writable(path: Path, what: str) -> None:
    """Refuse before fetching an output file that cannot be written: a folder, or a missing or
    unwritable folder to put it in."""
    if path.is_dir():
        raise FetchError(f"{path}: cannot write the {what} (it is a directory)")
    folder = path.parent
    if not folder.is_dir():
        reason = "is not a directory" if folder.exists() else "does not exist"
        raise FetchError(f"{path}: cannot write the {what} (the folder {folder} {reason})")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FetchError(f"{path}: cannot write the {what} (the folder {folder} is not writable)")


def first_open_at_or_after(interval: str, time_ms: int) -> int:
    opened = candle_open_ms(interval, time_ms)
    return opened if opened == time_ms else candle_shift_ms(interval, opened, 1)


def limit_notice(
    coin: str, interval: str, start_ms: int, now_ms: int, candles: Sequence[VenueCandle]
) -> str | None:
    """One line when the venue has no candles as far back as the range starts: because it keeps
    only the newest 5000 (counted back from the candle ``now_ms`` falls in), or because its data
    begins later (a coin listed since)."""
    wanted = first_open_at_or_after(interval, start_ms)
    kept_from = candle_shift_ms(interval, candle_open_ms(interval, now_ms), 1 - CANDLES_KEPT)
    data_from = candles[0].open_ms if candles else None
    if wanted < kept_from:
        starts = iso(data_from) if data_from is not None else "nowhere in the range"
        return (
            f"{coin} {interval}: the venue keeps the newest {CANDLES_KEPT} candles; "
            f"the range starts {iso(start_ms)}, data starts {starts}"
        )
    if data_from is not None and data_from > wanted:
        return (
            f"{coin} {interval}: the venue has no candles before {iso(data_from)}; "
            f"the range starts {iso(start_ms)}"
        )
    return None


async def fetch_data(
    base_url: str,
    args: FetchArgs,
    clock: Clock,
    *,
    max_attempts: int | None = None,
    backoff_seed: int | None = None,
) -> FetchResult:
    """Check the input, fetch, write the file(s); ``FetchError`` or ``VenueUnavailable`` (one
    line) when any of it cannot be done. Nothing is written unless everything was fetched."""
    coin = args.coin.strip()
    if not coin:
        raise FetchError("--coin: expected a coin such as BTC")
    check_interval(args.interval)
    now_ms = clock.now_ms()
    start_ms, end_ms = resolve_range(args.interval, args.start, args.end, now_ms)
    check_writable(args.out, "candle file")
    funding_path = funding_path_of(args.out) if args.funding else None
    if funding_path is not None:
        check_writable(funding_path, "funding file")
    where = f"{coin} {args.interval} candles"
    try:
        async with HyperliquidMarketData(
            base_url,
            clock,
            max_attempts=MAX_ATTEMPTS if max_attempts is None else max_attempts,
            backoff_seed=backoff_seed,
        ) as venue:
            candles = await venue.candles(coin, args.interval, start_ms, end_ms)
            funding = None
            if funding_path is not None:
                where = f"{coin} funding"
                funding = await venue.funding(coin, start_ms, end_ms)
    except ExchangeError as exc:
        raise VenueUnavailable(f"cannot fetch {where} from {base_url}: {exc}") from exc
    if not candles:
        raise FetchError(
            f"{base_url} has no {coin} {args.interval} candles from {iso(start_ms)} to "
            f"{iso(end_ms)} (is {coin} listed there? the venue keeps the newest {CANDLES_KEPT})"
        )
    if funding is not None and not funding:
        raise FetchError(
            f"{base_url} has no {coin} funding records from {iso(start_ms)} to {iso(end_ms)} "
            "(funding is paid hourly; leave out --funding for a shorter range)"
        )
    write_candles(args.out, candles)
    if funding_path is not None and funding is not None:
        write_funding(funding_path, funding)
    return FetchResult(
        start_ms,
        end_ms,
        tuple(candles),
        None if funding is None else tuple(funding),
        args.out,
        funding_path,
        limit_notice(coin, args.interval, start_ms, clock.now_ms(), candles),
    )


def write_candles(path: Path, candles: Sequence[VenueCandle]) -> None:
    rows = [CANDLE_HEADER]
    rows += [f"{c.open_ms},{c.open},{c.high},{c.low},{c.close},{c.volume}" for c in candles]
    _write_whole(path, "\n".join(rows) + "\n", "candle file")


def write_funding(path: Path, records: Sequence[FundingRecord]) -> None:
    body = ",\n".join(json.dumps(r.wire(), separators=(",", ":")) for r in records)
    _write_whole(path, f"[\n{body}\n]\n", "funding file")


def _write_whole(path: Path, text: str, what: str) -> None:
    """A reader (or a crash) never sees half a file."""
    try:
        write_atomically(path, text.encode("utf-8"))
    except OSError as exc:
        raise FetchError(f"{path}: cannot write the {what} ({exc.strerror or exc})") from exc


def report(result: FetchResult, coin: str, interval: str, out: TextIO) -> None:
    """The lines printed at the end: what was written where."""
    first, last = result.candles[0].open_ms, result.candles[-1].open_ms
    print(
        f"wrote {len(result.candles)} {coin} {interval} candles ({iso(first)} to {iso(last)}) "
        f"to {result.candles_path}",
        file=out,
    )
    if result.funding is not None and result.funding_path is not None:
        first, last = result.funding[0].time_ms, result.funding[-1].time_ms
        print(
            f"wrote {len(result.funding)} {coin} funding records ({iso(first)} to {iso(last)}) "
            f"to {result.funding_path}",
            file=out,
        )


def run_fetch(
    venue: VenueSettings, args: FetchArgs, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """``gridtui data fetch``: fetch from the venue's URL and write; 0 when written."""
    result = asyncio.run(fetch_data(base_url_of(venue), args, RealClock()))
    if result.notice is not None:
        print(result.notice, file=err or sys.stderr)
    report(result, args.coin.strip(), args.interval, out or sys.stdout)
    return 0
