"""A parsed-candle cache beside the CSV, so a rerun (a backtest sweep, a restarted paper venue)
does not parse and validate the same file again.

``.<name>.gridtui-cache`` holds the CSV's size and mtime_ns when it was read, the times as
little-endian int64 and every price and volume as its exact Decimal text (never a float: the
replay must see the very prices of the file, "100.50" included), under a CRC. Any change of the
CSV, of the format version or a damaged cache makes it a miss; a cache is an optimisation, so
nothing about it is ever an error: a folder that cannot be written or a corrupt file costs one
parse and a debug line. Nothing in it is executed (no pickle), so a planted cache cannot run
code.
"""

from __future__ import annotations

import logging
import operator
import os
import struct
import sys
import zlib
from array import array
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from itertools import chain
from pathlib import Path

from gridtui.core.files import write_atomically
from gridtui.exchanges.sim.candle_series import Candle, CandleSeries

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_MAGIC = b"gridtui-candles\n"
_HEAD = struct.Struct("<16sIQqQI")
"""magic, format version, CSV size, CSV mtime_ns, candle count, CRC-32 of what follows."""
_VALUES = operator.attrgetter("open", "high", "low", "close", "volume")
_PIECE = 10_000
"""Candles encoded at a time."""


def cache_path(source: Path) -> Path:
    return source.with_name(f".{source.name}.gridtui-cache")


def read_cache(source: Path, stat: os.stat_result) -> CandleSeries | None:
    """The cached series of ``source`` as it was at ``stat``, or None (missing, stale, bad)."""
    cache = cache_path(source)
    try:
        data = cache.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.debug("%s: cannot read the candle cache (%s); parsing the CSV", cache, exc)
        return None
    try:
        return _decode(data, stat, cache)
    except (ValueError, InvalidOperation, struct.error, UnicodeDecodeError) as exc:
        log.debug("%s: ignoring a damaged candle cache (%s)", cache, exc)
        return None


def write_cache(source: Path, stat: os.stat_result, series: CandleSeries) -> None:
    """Store ``series`` as parsed from ``source`` at ``stat``; replaced atomically, so a
    concurrent reader sees the old cache or the new one, never half of one."""
    cache = cache_path(source)
    try:
        write_atomically(cache, _encode(series, stat))
    except OSError as exc:
        log.debug("%s: cannot write the candle cache (%s); the next load parses again", cache, exc)
        return
    log.debug("%s: cached %d candles", cache, len(series))


def _encode(series: CandleSeries, stat: os.stat_result) -> bytes:
    times = array("q", (candle.time_ms for candle in series))
    if sys.byteorder == "big":
        times.byteswap()
    pieces = (
        ",".join(map(str, chain.from_iterable(map(_VALUES, series[at : at + _PIECE]))))
        for at in range(0, len(series), _PIECE)
    )
    text = ",".join(pieces).encode("ascii")  # a piece at a time: see ``_texts``
    body = times.tobytes() + text
    head = _HEAD.pack(
        _MAGIC, FORMAT_VERSION, stat.st_size, stat.st_mtime_ns, len(series), zlib.crc32(body)
    )
    return head + body


def _decode(data: bytes, stat: os.stat_result, cache: Path) -> CandleSeries | None:
    magic, version, size, mtime_ns, count, crc = _HEAD.unpack_from(data)
    if magic != _MAGIC:
        raise ValueError("not a candle cache")
    if (version, size, mtime_ns) != (FORMAT_VERSION, stat.st_size, stat.st_mtime_ns):
        log.debug("%s: stale candle cache; parsing the CSV", cache)
        return None
    body = memoryview(data)[_HEAD.size :]
    if zlib.crc32(body) != crc:
        raise ValueError("checksum mismatch")
    times = array("q")
    text_at = count * times.itemsize
    times.frombytes(body[:text_at])
    if sys.byteorder == "big":
        times.byteswap()
    known: dict[str, Decimal] = {}  # equal texts share one Decimal (see candle_csv._values)
    values = (
        known.get(text) or known.setdefault(text, Decimal(text))
        for text in _texts(bytes(body[text_at:]).decode("ascii"))
    )
    rows = zip(values, values, values, values, values, strict=False)
    candles = [Candle(time_ms, *row) for time_ms, row in zip(times, rows, strict=False)]
    if len(times) != count or len(candles) != count or next(values, None) is not None:
        raise ValueError(f"{count} candles announced, {len(times)} times, other values")
    return CandleSeries.of(candles)


def _texts(text: str, chunk: int = 1 << 20) -> Iterator[str]:
    """The comma-separated values a piece at a time: one split of the whole text held a
    string object per value, millions for a year of 1m candles."""
    start, end = 0, len(text)
    while start < end:
        stop = text.find(",", min(start + chunk, end))
        if stop == -1:
            stop = end
        yield from text[start:stop].split(",")
        start = stop + 1
