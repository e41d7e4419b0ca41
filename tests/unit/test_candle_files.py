"""Candle files: the common layouts, one-line errors with count and first line, the gap report,
the parsed-candle cache and the three intra-candle path orders."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from gridtui.config.loader import ConfigError, load_config_text
from gridtui.config.schema import CandlePath, PaperMarket
from gridtui.exchanges.sim import (
    Candle,
    CandleFileError,
    CandleReplay,
    Gaps,
    candle_cache,
    candles,
    load_candles,
)
from gridtui.exchanges.sim.candle_cache import cache_path

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTE = 60_000
TIME_RULE = "expected ISO-8601 such as 2024-01-01T00:00:00Z, or epoch seconds or milliseconds"


def write(tmp_path: Path, text: str, name: str = "candles.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(path: Path) -> str:
    with pytest.raises(CandleFileError) as caught:
        load_candles(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def rows(count: int, start: int = T0, step: int = MINUTE) -> list[str]:
    """``count`` good time_ms rows, one ``step`` apart."""
    return [f"{start + i * step},100,101,99,100,1" for i in range(count)]


def strict(lines: list[str]) -> str:
    return "\n".join(["time_ms,open,high,low,close,volume", *lines]) + "\n"


# -- layouts ---------------------------------------------------------------------------------


def test_a_header_in_any_case_and_order_with_extra_columns(tmp_path):
    path = write(
        tmp_path,
        "Close,Trades,LOW,High,Volume,Open,Timestamp\n"
        "100.5,12,99,101,3,100,2024-01-01T00:00:00Z\n"
        "101,7,100,102,4.25,100.5,2024-01-01T00:01:00Z\n",
    )
    series = load_candles(path)
    assert list(series) == [
        Candle(T0, D(100), D(101), D(99), D("100.5"), D(3)),
        Candle(T0 + MINUTE, D("100.5"), D(102), D(100), D(101), D("4.25")),
    ]


@pytest.mark.parametrize(
    "header",
    [
        "t,o,h,l,c,v",
        "time,open,high,low,close,vol",
        "date,open,high,low,close,volume",
        "datetime,open,high,low,close,volume",
        "Open Time,Open,High,Low,Close,Volume",
        "open_time,open,high,low,close,volume",
        "timestamp,open,high,low,close,volume",
        '"time","open","high","low","close","volume"',
    ],
)
def test_every_column_name(tmp_path, header):
    path = write(tmp_path, f"{header}\n{T0},1,2,0.5,1.5,9\n")
    assert list(load_candles(path)) == [Candle(T0, D(1), D(2), D("0.5"), D("1.5"), D(9))]


def test_without_a_volume_column_the_volume_is_zero(tmp_path):
    path = write(tmp_path, f"time,open,high,low,close\n{T0},1,2,0.5,1.5\n")
    assert load_candles(path)[0].volume == D(0)


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolons_and_tabs(tmp_path, sep):
    header = sep.join(["time", "open", "high", "low", "close", "volume"])
    path = write(tmp_path, f"{header}\n{sep.join([str(T0), '1', '2', '0.5', '1.5', '9'])}\n")
    assert load_candles(path)[0] == Candle(T0, D(1), D(2), D("0.5"), D("1.5"), D(9))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"),
        ("2024-01-01 00:00:00", "2024-01-01 00:01:00"),  # naive = UTC
        ("2024-01-01T02:00:00+02:00", "2024-01-01T00:01:00+00:00"),
        ("2024-01-01T00:00:00.000Z", "2024-01-01T00:01:00.000Z"),
        (str(T0 // 1000), str(T0 // 1000 + 60)),  # epoch seconds
        (str(T0), str(T0 + MINUTE)),  # epoch milliseconds
        (str(T0 * 1000), str((T0 + MINUTE) * 1000)),  # epoch microseconds (Binance spot, 2025)
    ],
)
def test_times_as_iso_8601_or_epoch_seconds_milliseconds_or_microseconds(tmp_path, first, second):
    path = write(tmp_path, f"time,open,high,low,close\n{first},1,1,1,1\n{second},1,1,1,1\n")
    assert [c.time_ms for c in load_candles(path)] == [T0, T0 + MINUTE]


def test_binance_klines_without_a_header(tmp_path):
    path = write(
        tmp_path,
        f"{T0},42283.58,42554.57,42261.02,42475.23,1271.68108,{T0 + MINUTE - 1},"
        "53957248.0,47134,682.57581,28957416.81,0\n"
        f"{T0 + MINUTE},42475.23,42775.00,42431.65,42613.56,1196.37856,{T0 + 2 * MINUTE - 1},"
        "50984234.2,44290,630.02124,26849313.45,0\n",
    )
    series = load_candles(path)
    assert series[1] == Candle(
        T0 + MINUTE, D("42475.23"), D("42775.00"), D("42431.65"), D("42613.56"), D("1196.37856")
    )
    assert series.interval_ms == MINUTE


@pytest.mark.parametrize("time", [str(T0), "2024-01-01T00:00:00Z"])
def test_a_time_and_five_numbers_without_a_header(tmp_path, time):
    path = write(tmp_path, f"{time},1,2,0.5,1.5,9\n")
    assert list(load_candles(path)) == [Candle(T0, D(1), D(2), D("0.5"), D("1.5"), D(9))]


def test_the_strict_layout_of_earlier_versions_comments_blank_lines_and_a_bom(tmp_path):
    path = tmp_path / "candles.csv"
    path.write_bytes(("\ufeff" + strict(["# a comment", "", *rows(2)])).encode("utf-8"))
    assert [c.time_ms for c in load_candles(path)] == [T0, T0 + MINUTE]


# -- errors: one line, the count and the first line --------------------------------------------


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (
            [*rows(16), *rows(1, T0 + 15 * MINUTE) * 3],
            "3 duplicate candles, first at line 18 (same time as line 17)",
        ),
        (
            [*rows(3), *rows(2, T0)],
            "2 candles out of order, first at line 5 (earlier than line 4)",
        ),
        (
            [f"{T0},100,99,101,100,1", f"{T0 + MINUTE},100,98,102,100,1"],
            "2 candles with high below low, first at line 2 (high 99 < low 101)",
        ),
        (
            [f"{T0},102,101,99,100,1"],
            "1 candle with open or close outside low..high at line 2 (open 102 outside 99..101)",
        ),
        (
            [f"{T0},100,101,99,98.5,1"],
            "1 candle with open or close outside low..high at line 2 (close 98.5 outside 99..101)",
        ),
        (
            [*rows(1), f"{T0 + MINUTE},0,101,99,100,1", f"{T0 + 2 * MINUTE},100,101,-1,100,1"],
            "2 candles with a non-positive price, first at line 3 (open 0)",
        ),
        (
            [*rows(1), f"{T0 + MINUTE},100,oops,99,100,1"],
            "1 candle with a non-numeric price at line 3 (high 'oops')",
        ),
        (
            [f"{T0},100,101,NaN,100,1", f"{T0 + MINUTE},100,Infinity,99,100,1"],
            "2 candles with a non-numeric price, first at line 2 (low 'NaN')",
        ),
        (
            [f"{T0},100,101,99,100,-2", f"{T0 + MINUTE},100,101,99,100,lots"],
            "2 candles with a bad volume, first at line 2 (volume '-2'; expected a number >= 0)",
        ),
        (
            [*rows(2), "yesterday,100,101,99,100,1"],
            f"1 candle with an unparseable time at line 4 ('yesterday'; {TIME_RULE})",
        ),
        (
            [*rows(1), f"{T0 // 1000 + 60},100,101,99,100,1", "2024-01-01T00:05:00Z,1,1,1,1,1"],
            "2 candles whose time is in another format than the first, first at line 3 "
            "('1704067260' is epoch seconds, the first time epoch milliseconds)",
        ),
        (
            [*rows(1), f"{T0 + MINUTE},100,101,99"],
            "1 row with too few columns at line 3 (found 4, expected at least 6 columns)",
        ),
    ],
)
def test_each_problem_is_one_line_with_its_count_and_first_line(tmp_path, lines, problem):
    path = write(tmp_path, strict(lines))
    assert error(path) == f"{path}: {problem}"


def test_the_problem_met_first_is_the_one_reported(tmp_path):
    lines = [*rows(2), f"{T0 + 2 * MINUTE},100,99,101,100,1", *rows(1, T0), *rows(1, T0)]
    path = write(tmp_path, strict(lines))
    assert error(path) == f"{path}: 1 candle with high below low at line 4 (high 99 < low 101)"


def test_a_header_without_a_price_column(tmp_path):
    path = write(tmp_path, f"time,open,close,volume\n{T0},1,1,1\n")
    assert error(path) == (
        f"{path}: the header at line 1 has no high or low column (expected a header naming "
        "time, open, high, low, close and optionally volume, in any order, or Binance kline "
        "rows; got 'time,open,close,volume')"
    )


@pytest.mark.parametrize(
    "text", ["", "\n# only a comment\n", "time_ms,open,high,low,close,volume\n"]
)
def test_no_candles(tmp_path, text):
    path = write(tmp_path, text)
    assert error(path) == (
        f"{path}: no candles (expected a header naming time, open, high, low, close and "
        "optionally volume, in any order, or Binance kline rows)"
    )


def test_a_missing_file_and_a_binary_file(tmp_path):
    missing = tmp_path / "nope.csv"
    assert error(missing) == f"{missing}: cannot read the candle file (No such file or directory)"
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"time,open\n\xff\xfe")
    assert error(binary) == f"{binary}: not a UTF-8 text file (bad byte at offset 10)"


# -- gaps ------------------------------------------------------------------------------------


def test_the_series_knows_its_interval_and_its_gaps(tmp_path):
    minutes = [0, 1, 2, 5, 6, 8, 9]  # 3 and 4 missing, then 7
    path = write(tmp_path, strict([f"{T0 + m * MINUTE},1,1,1,1,0" for m in minutes]))
    series = load_candles(path)
    assert series.interval_ms == MINUTE
    assert series.gaps == Gaps(count=3, largest_ms=2 * MINUTE)


def test_a_series_without_gaps_and_a_single_candle(tmp_path):
    assert load_candles(write(tmp_path, strict(rows(5)))).gaps == Gaps(0, 0)
    single = load_candles(write(tmp_path, strict(rows(1)), "one.csv"))
    assert (single.interval_ms, single.gaps) == (0, Gaps(0, 0))


def test_the_interval_is_the_most_common_step_not_the_smallest(tmp_path):
    minutes = [0, 1, 6, 11, 16, 26]  # steps 1, 5, 5, 5, 10: every 5 min, minute 21 missing
    path = write(tmp_path, strict([f"{T0 + m * MINUTE},1,1,1,1,0" for m in minutes]))
    series = load_candles(path)
    assert series.interval_ms == 5 * MINUTE
    assert series.gaps == Gaps(count=1, largest_ms=5 * MINUTE)


def test_naive_times_are_utc_whatever_the_local_zone(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "EST+5")
    time.tzset()
    try:
        path = write(tmp_path, "time,open,high,low,close\n2024-01-01 00:00:00,1,1,1,1\n")
        assert load_candles(path)[0].time_ms == T0
    finally:
        monkeypatch.undo()
        time.tzset()


# -- the cache -------------------------------------------------------------------------------

EXACT = strict(
    [
        f"{T0},100.50,101.000,99.5,100.50,0.00000001",
        f"{T0 + MINUTE},1E+3,1.0E+3,1000,1000.0,0",
        f"{T0 + 2 * MINUTE},0.000001,0.0000010,0.000001,0.000001,12345678901234567890.123",
    ]
)


def same_size_edit(path: Path, old: str, new: str) -> None:
    """Change the file's content but not its size or mtime: only the cache can tell."""
    assert len(old) == len(new)
    before = path.stat()
    path.write_text(path.read_text().replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_rerun_reads_the_cache_with_every_decimal_exact(tmp_path):
    path = write(tmp_path, EXACT)
    parsed = load_candles(path)
    assert cache_path(path).name == ".candles.csv.gridtui-cache"
    assert cache_path(path).exists()
    same_size_edit(path, "100.50,101", "200.50,201")
    cached = load_candles(path)
    assert cached == parsed
    assert [str(v) for c in cached for v in (c.open, c.high, c.low, c.close, c.volume)] == [
        str(v) for c in parsed for v in (c.open, c.high, c.low, c.close, c.volume)
    ]
    assert str(cached[1].high) == "1.0E+3" and str(cached[2].high) == "0.0000010"


def test_a_changed_file_is_parsed_again(tmp_path):
    path = write(tmp_path, strict(rows(2)))
    load_candles(path)
    path.write_text(strict(rows(3)))
    assert len(load_candles(path)) == 3


def test_a_touched_file_is_parsed_again(tmp_path):
    path = write(tmp_path, strict(rows(2)))
    load_candles(path)
    same_size_edit(path, ",101,", ",109,")
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 1))
    assert load_candles(path)[0].high == D(109)


def test_a_new_cache_format_is_a_miss(tmp_path, monkeypatch):
    path = write(tmp_path, strict(rows(2)))
    load_candles(path)
    same_size_edit(path, ",101,", ",109,")
    monkeypatch.setattr(candle_cache, "FORMAT_VERSION", candle_cache.FORMAT_VERSION + 1)
    assert load_candles(path)[0].high == D(109)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"garbage",
        lambda data: b"",
        lambda data: data[:-7],
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),
        lambda data: data[:60] + bytes([data[60] ^ 1]) + data[61:],
    ],
)
def test_a_damaged_cache_is_ignored_with_a_debug_line(tmp_path, caplog, damage):
    path = write(tmp_path, strict(rows(3)))
    expected = load_candles(path)
    cache = cache_path(path)
    cache.write_bytes(damage(cache.read_bytes()))
    with caplog.at_level(logging.DEBUG, logger="gridtui.exchanges.sim.candle_cache"):
        assert load_candles(path) == expected
    assert any("damaged candle cache" in r.getMessage() for r in caplog.records)
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_a_folder_that_cannot_be_written_only_costs_a_parse(tmp_path, monkeypatch, caplog):
    """chmod cannot stop root (the CI user), so creating the file is made to fail."""

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    path = write(tmp_path, strict(rows(2)))
    with caplog.at_level(logging.DEBUG, logger="gridtui.exchanges.sim.candle_cache"):
        assert len(load_candles(path)) == 2
    assert not cache_path(path).exists()
    assert "cannot write the candle cache" in caplog.text
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_a_cache_that_cannot_be_replaced_leaves_no_temporary_behind(tmp_path):
    path = write(tmp_path, strict(rows(2)))
    cache_path(path).mkdir()
    assert len(load_candles(path)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".candles.csv.gridtui-cache", path.name]


def test_a_bad_file_writes_no_cache(tmp_path):
    path = write(tmp_path, strict([*rows(1), *rows(1)]))
    error(path)
    assert not cache_path(path).exists()


def test_the_cache_is_used_without_parsing(tmp_path, monkeypatch):
    path = write(tmp_path, strict(rows(2)))
    expected = load_candles(path)

    def no_parse(*args):
        raise AssertionError("parsed although the cache is fresh")

    monkeypatch.setattr(candles, "parse_candles", no_parse)
    assert load_candles(path) == expected


# -- intra-candle paths ----------------------------------------------------------------------

NEAR_LOW = Candle(T0, D(100), D(110), D(98), D(105), D(0))
NEAR_HIGH = Candle(T0, D(100), D(101), D(90), D(95), D(0))
TIE = Candle(T0, D(100), D(105), D(95), D(100), D(0))


@pytest.mark.parametrize(
    ("candle", "order", "path"),
    [
        (NEAR_LOW, CandlePath.ADAPTIVE, (100, 98, 110, 105)),
        (NEAR_HIGH, CandlePath.ADAPTIVE, (100, 101, 90, 95)),
        (TIE, CandlePath.ADAPTIVE, (100, 95, 105, 100)),
        (NEAR_LOW, CandlePath.OHLC, (100, 110, 98, 105)),
        (NEAR_HIGH, CandlePath.OHLC, (100, 101, 90, 95)),
        (NEAR_LOW, CandlePath.OLHC, (100, 98, 110, 105)),
        (NEAR_HIGH, CandlePath.OLHC, (100, 90, 101, 95)),
    ],
)
def test_the_three_path_orders(candle, order, path):
    assert candle.path(order) == tuple(D(p) for p in path)


def test_adaptive_is_the_default():
    assert NEAR_HIGH.path() == NEAR_HIGH.path(CandlePath.ADAPTIVE)


def test_an_up_candle_near_its_high_now_visits_the_high_first():
    """The rule of earlier versions was "low first for an up candle"."""
    up = Candle(T0, D(100), D(101), D(90), D("100.5"), D(0))
    assert up.path() == (D(100), D(101), D(90), D("100.5"))


@pytest.mark.parametrize(
    ("order", "mids"),
    [
        (CandlePath.ADAPTIVE, ["100", "101", "90", "95"]),
        (CandlePath.OHLC, ["100", "101", "90", "95"]),
        (CandlePath.OLHC, ["100", "90", "101", "95"]),
    ],
)
def test_the_replay_walks_the_markets_order(tmp_path, order, mids):
    path = write(tmp_path, strict([f"{T0},100,101,90,95,4"]))
    market = PaperMarket("X", D(1), 2, candles_file=path, candle_path=order)
    replay = CandleReplay(market, load_candles(path), D(1000))
    assert [replay.mid] + [replay.next_tick(0.0).close for _ in range(3)] == [D(m) for m in mids]


# -- the candle_path setting -----------------------------------------------------------------

CONFIG = """
[venue.paper]
{paper}
[[venue.paper.markets]]
coin = "BTC"
start_price = 64000
sz_decimals = 5
{btc}
[[venue.paper.markets]]
coin = "ETH"
start_price = 3200
sz_decimals = 4

[[bots]]
coin = "BTC"
[bots.grid]
size = 0.001
"""


def paths(paper: str = "", btc: str = "") -> list[CandlePath]:
    config = load_config_text(
        CONFIG.format(paper=paper, btc=btc), base_dir=Path("/x"), source="c.toml"
    )
    return [config.venue.paper.candle_path] + [m.candle_path for m in config.venue.paper.markets]


def test_candle_path_defaults_to_adaptive_and_reaches_every_market():
    assert paths() == [CandlePath.ADAPTIVE] * 3
    assert paths('candle_path = "ohlc"') == [CandlePath.OHLC] * 3


def test_a_market_may_set_its_own_candle_path():
    assert paths('candle_path = "ohlc"', 'candle_path = "olhc"') == [
        CandlePath.OHLC,
        CandlePath.OLHC,
        CandlePath.OHLC,
    ]


def test_an_unknown_candle_path_is_one_line():
    with pytest.raises(ConfigError) as caught:
        paths('candle_path = "zigzag"', "candle_path = 3")
    assert caught.value.problems == [
        "venue.paper.candle_path: unknown candle path 'zigzag' (expected adaptive, ohlc or olhc)",
        "venue.paper.markets[0].candle_path: must be adaptive, ohlc or olhc in quotes, got 3",
    ]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_equal_prices_share_one_decimal_parsed_or_cached(tmp_path, ending):
    """A year of 1m candles is half a million rows whose prices mostly repeat (each candle opens
    at the last close): equal texts are one Decimal object, from the CSV and from its cache,
    and every line ending reads the same."""
    text = "time_ms,open,high,low,close,volume\n"
    text += f"{T0},100.5,101,100,100.25,3\n{T0 + MINUTE},100.25,100.5,99.75,100.5,3\n"
    path = write(tmp_path, text.replace("\n", ending))
    for series in (load_candles(path), load_candles(path)):  # parsed, then from the cache
        first, second = series
        assert second.open is first.close and second.close is first.open
        assert second.volume is first.volume
        assert (first.open, second.low) == (D("100.5"), D("99.75"))


def test_the_cache_is_the_same_bytes_whatever_piece_it_is_written_and_read_in(
    tmp_path, monkeypatch
):
    path = write(tmp_path, strict(rows(5)))
    series = load_candles(path)
    encoded = candle_cache._encode(series, path.stat())
    monkeypatch.setattr(candle_cache, "_PIECE", 2)
    assert candle_cache._encode(series, path.stat()) == encoded
    assert list(candle_cache._texts("1,22,333,4444", chunk=3)) == ["1", "22", "333", "4444"]
