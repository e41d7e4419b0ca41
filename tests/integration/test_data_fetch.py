"""``gridtui data fetch`` against the Hyperliquid mock over a real socket (issue 10): candles and
funding paged under the client's rate limiter, pages joined without a duplicate or a missing
candle, the 5000-candle limit said in one line, files the backtest's readers load, and every
problem one line with a non-zero exit."""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from config_kit import write_paper_config
from hl_mock_kit import SETTINGS, D, MockClient, hl

from gridtui.backtest import fetch as fetch_module
from gridtui.backtest.fetch import FetchArgs, FetchError, fetch_data, funding_path_of, iso
from gridtui.cli import main
from gridtui.core.clock import SimClock
from gridtui.exchanges.base import VenueUnavailable
from gridtui.exchanges.hyperliquid import wire
from gridtui.exchanges.hyperliquid.market_data import HyperliquidMarketData
from gridtui.exchanges.hyperliquid.mock import MockExchange, start_site
from gridtui.exchanges.hyperliquid.mock import info as mock_info
from gridtui.exchanges.sim import load_candles, load_funding

__all__ = ["hl"]

MINUTE = 60_000
HOUR = 3_600_000


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def count_calls(monkeypatch: pytest.MonkeyPatch, kind: str) -> list[Mapping[str, Any]]:
    """The bodies of every ``kind`` info request the mock answers from now on."""
    bodies: list[Mapping[str, Any]] = []
    handler = mock_info.HANDLERS[kind]

    async def counted(mock: MockExchange, body: Mapping[str, Any]) -> Any:
        bodies.append(body)
        return await handler(mock, body)

    monkeypatch.setitem(mock_info.HANDLERS, kind, counted)
    return bodies


async def mock_answer(hl: MockClient, body: dict[str, Any]) -> Any:
    """What the mock answers ``body`` with, every page's limit lifted."""
    page, funding_page = mock_info.CANDLES_PAGE, mock_info.FUNDING_PAGE
    mock_info.CANDLES_PAGE = mock_info.FUNDING_PAGE = 1_000_000
    try:
        return await hl.info(body)
    finally:
        mock_info.CANDLES_PAGE, mock_info.FUNDING_PAGE = page, funding_page


def csv_rows(path: Path) -> list[str]:
    return path.read_text().splitlines()


async def test_candles_span_several_pages_without_gaps_or_duplicates(
    hl: MockClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mock_info, "CANDLES_PAGE", 700)
    calls = count_calls(monkeypatch, "candleSnapshot")
    now = hl.clock.now_ms()
    start, end = now - 3000 * MINUTE, now - 10 * MINUTE
    out = tmp_path / "btc.csv"
    result = await fetch_data(
        hl.url, FetchArgs("BTC", "1m", out, start=str(start), end=str(end)), hl.clock
    )
    assert len(calls) == 5  # 700 × 4 + 200: the fifth page reaches the candle of --end

    first = wire.candle_open_ms("1m", start) + MINUTE  # the first candle opening at or after
    expected_times = list(range(first, wire.candle_open_ms("1m", end) + 1, MINUTE))
    series = load_candles(out)
    assert [c.time_ms for c in series.candles] == expected_times  # none missing, none twice
    assert series.interval_ms == MINUTE and series.gaps.count == 0
    assert result.notice is None

    # exactly the venue's text, oldest first: the same candles one unpaged request returns
    whole = await mock_answer(hl, wire.candle_snapshot_request("BTC", "1m", start, end))
    assert csv_rows(out) == ["time_ms,open,high,low,close,volume"] + [
        f"{c['t']},{c['o']},{c['h']},{c['l']},{c['c']},{c['v']}" for c in whole
    ]


async def test_overlapping_pages_are_deduplicated_on_time(
    hl: MockClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A venue answering each page from the candle that contains its start time repeats the
    previous page's last candle: it is written once."""
    monkeypatch.setattr(mock_info, "CANDLES_PAGE", 400)
    handler = mock_info.HANDLERS["candleSnapshot"]
    pages: list[list[int]] = []

    async def overlapping(mock: MockExchange, body: Mapping[str, Any]) -> Any:
        req = dict(body["req"])
        req["startTime"] = wire.candle_open_ms(req["interval"], req["startTime"] - 1)
        answer = await handler(mock, {**body, "req": req})
        pages.append([c["t"] for c in answer])
        return answer

    monkeypatch.setitem(mock_info.HANDLERS, "candleSnapshot", overlapping)
    now = hl.clock.now_ms()
    start = wire.candle_open_ms("5m", now) - 1500 * 5 * MINUTE
    out = tmp_path / "eth.csv"
    await fetch_data(hl.url, FetchArgs("ETH", "5m", out, start=str(start)), hl.clock)
    assert len(pages) >= 4
    assert all(later[0] == earlier[-1] for earlier, later in itertools.pairwise(pages))
    times = [c.time_ms for c in load_candles(out).candles]
    assert times == sorted(set(times)) and len(times) == 1502
    assert times == list(range(start - 5 * MINUTE, wire.candle_open_ms("5m", now) + 1, 5 * MINUTE))


async def test_a_range_older_than_the_5000_kept_candles_is_said_in_one_line(
    hl: MockClient, tmp_path: Path
) -> None:
    now = hl.clock.now_ms()
    start = now - 6000 * MINUTE
    out = tmp_path / "btc.csv"
    result = await fetch_data(hl.url, FetchArgs("BTC", "1m", out, start=iso(start)), hl.clock)
    kept_from = wire.candle_open_ms("1m", now) - 4999 * MINUTE
    assert result.notice == (
        f"BTC 1m: the venue keeps the newest 5000 candles; the range starts {iso(start)}, "
        f"data starts {iso(kept_from)}"
    )
    times = [c.time_ms for c in load_candles(out).candles]
    assert len(times) == 5000 and times[0] == kept_from

    # the default range is the 5000 newest candles: nothing to say
    default = await fetch_data(hl.url, FetchArgs("BTC", "1m", out), hl.clock)
    assert default.notice is None and len(default.candles) == 5000
    assert default.candles[0].open_ms == kept_from


async def test_funding_pages_by_the_last_time_plus_one(
    hl: MockClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_calls(monkeypatch, "fundingHistory")
    now = hl.clock.now_ms()
    start = now - 1234 * HOUR
    out = tmp_path / "btc-1h.csv"
    result = await fetch_data(
        hl.url, FetchArgs("BTC", "1h", out, start=str(start), funding=True), hl.clock
    )
    assert [len(c) for c in calls][:1] == [4]  # coin, startTime, endTime, type
    starts = [body["startTime"] for body in calls]
    assert starts[0] == start and len(starts) >= 3  # 500 + 500 + 234 (+ one empty answer)
    funding_file = tmp_path / "btc-1h.funding.json"
    assert result.funding_path == funding_file
    records = json.loads(funding_file.read_text())
    for earlier, later in itertools.pairwise(starts):
        assert later == max(r["time"] for r in records if r["time"] < later) + 1 > earlier
    times = [r["time"] for r in records]
    first_hour = -(-start // HOUR) * HOUR
    assert times == list(range(first_hour, now + 1, HOUR)) and len(times) == 1234
    assert records == await mock_answer(hl, wire.funding_history_request("BTC", start, now))
    assert list(records[0]) == ["coin", "fundingRate", "premium", "time"]

    rates = load_funding(funding_file)
    assert [r.time_ms for r in rates] == times
    assert [r.rate for r in rates] == [D(r["fundingRate"]) for r in records]
    assert [r.premium for r in rates] == [D(r["premium"]) for r in records]
    assert len(load_candles(out).candles) == len(result.candles) == 1234


def test_funding_file_name() -> None:
    assert funding_path_of(Path("d/btc.csv")) == Path("d/btc.funding.json")
    assert funding_path_of(Path("btc.1m.csv")) == Path("btc.1m.funding.json")
    assert funding_path_of(Path("d/btc")) == Path("d/btc.funding.json")


async def test_the_market_data_client_charges_the_documented_weights(hl: MockClient) -> None:
    """20 a call, plus 1 per 60 candles and 1 per 20 funding records returned."""
    async with HyperliquidMarketData(hl.url, hl.clock) as venue:
        budget = venue._ip_budget
        now = hl.clock.now_ms()
        start = wire.candle_open_ms("1m", now) - 599 * MINUTE
        candles = await venue.candle_snapshot("BTC", "1m", start, now)
        assert len(candles) == 600 and budget.used() == 20 + 10
        records = await venue.funding_history("BTC", now - 100 * HOUR, now)
        assert len(records) == 100 and budget.used() == 30 + 20 + 5
        assert await venue.candle_snapshot("NOPE", "1h", 0, now) == []


async def test_a_write_that_fails_is_one_line_and_leaves_no_file(
    hl: MockClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fetch_module.os, "replace", disk_full)
    out = tmp_path / "btc.csv"
    with pytest.raises(FetchError) as caught:
        await fetch_data(hl.url, FetchArgs("BTC", "1h", out), hl.clock)
    assert str(caught.value) == f"{out}: cannot write the candle file (No space left on device)"
    assert list(tmp_path.iterdir()) == []


async def test_an_unknown_coin_and_a_refused_request_are_one_line(
    hl: MockClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "x.csv"
    with pytest.raises(FetchError, match=r"has no NOPE 1h candles from .* \(is NOPE listed"):
        await fetch_data(hl.url, FetchArgs("NOPE", "1h", out), hl.clock)
    malformed = {"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "2m"}}
    monkeypatch.setattr(wire, "candle_snapshot_request", lambda *args: malformed)
    with pytest.raises(VenueUnavailable) as caught:
        await fetch_data(hl.url, FetchArgs("BTC", "1m", out), hl.clock)
    assert str(caught.value).startswith(
        f"cannot fetch BTC 1m candles from {hl.url}: /info candleSnapshot: HTTP 422 "
    )
    assert "unknown variant `2m`" in str(caught.value) and "\n" not in str(caught.value)
    assert not out.exists()


# -- the command line ----------------------------------------------------------------------------


@pytest.fixture
def no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty folder: no config.toml, so the flags alone choose the venue."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def live_mock() -> Iterator[str]:
    """The mock on its own thread and loop, its clock at the wall clock's time (the command's
    clock), so ``main`` can run here as the console script runs it."""
    ready: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        async def run() -> None:
            mock = MockExchange(SETTINGS, SimClock(int(time.time() * 1000)))
            runner, port = await start_site(mock)
            ready.append(f"http://127.0.0.1:{port}")
            while not stop.is_set():
                await asyncio.sleep(0.02)
            await runner.cleanup()
            await mock.close()

        asyncio.run(run())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not ready and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ready, "the mock did not start"
    try:
        yield ready[0]
    finally:
        stop.set()
        thread.join(10)


def test_the_command_writes_both_files_and_says_the_limit(
    live_mock: str, no_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = iso((int(time.time()) // 3600 - 24 * 5) * HOUR)  # 7200 minutes back: 5000 kept
    argv = ["--api-url", live_mock, "data", "fetch", "--coin", "ETH", "--interval", "1m"]
    code = main([*argv, "--start", start, "--funding", "--out", "eth.csv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    candles = load_candles(no_config / "eth.csv").candles
    funding = load_funding(no_config / "eth.funding.json")
    assert one_line(err) == (
        "ETH 1m: the venue keeps the newest 5000 candles; the range starts "
        f"{start}, data starts {iso(candles[0].time_ms)}"
    )
    assert len(candles) == 5000
    assert out.splitlines() == [
        f"wrote 5000 ETH 1m candles ({iso(candles[0].time_ms)} to {iso(candles[-1].time_ms)}) "
        "to eth.csv",
        f"wrote {len(funding)} ETH funding records ({iso(funding[0].time_ms)} to "
        f"{iso(funding[-1].time_ms)}) to eth.funding.json",
    ]
    assert [r.time_ms for r in funding] == list(
        range(funding[0].time_ms, funding[-1].time_ms + 1, HOUR)
    )
    assert funding[0].time_ms == (int(time.time()) // 3600 - 24 * 5) * HOUR


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--interval", "2m"],
            "gridtui: --interval '2m': Hyperliquid has no such candle interval (expected one of "
            "1m 3m 5m 15m 30m 1h 2h 4h 8h 12h 1d 3d 1w 1M)",
        ),
        (
            ["--interval", "1h", "--start", "2024-02-01", "--end", "2024-01-01T00:00:00Z"],
            "gridtui: --start 2024-02-01T00:00:00Z is after --end 2024-01-01T00:00:00Z",
        ),
        (
            ["--interval", "1h", "--start", "4102444800000"],
            "gridtui: --start 2100-01-01T00:00:00Z is after the end, now (",
        ),
        (
            ["--interval", "1h", "--end", "9" * 40],
            f"gridtui: --end '{'9' * 40}' is after the year 9999 (expected ISO-8601",
        ),
        (
            ["--interval", "1h", "--end", "yesterday"],
            "gridtui: --end 'yesterday': expected ISO-8601 such as 2024-01-01T00:00:00Z, or "
            "epoch milliseconds",
        ),
        (
            ["--interval", "1h", "--out", "missing/btc.csv"],
            "gridtui: missing/btc.csv: cannot write the candle file (the folder missing does "
            "not exist)",
        ),
        (
            ["--interval", "1h", "--out", "."],
            "gridtui: .: cannot write the candle file (it is a directory)",
        ),
        (
            ["--interval", "1h", "--funding", "--out", "btc"],
            "gridtui: btc.funding.json: cannot write the funding file (it is a directory)",
        ),
    ],
)
def test_bad_input_is_one_line_before_the_venue_is_asked(
    args: list[str], message: str, no_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (no_config / "btc.funding.json").mkdir()
    base = ["--api-url", "http://127.0.0.1:9", "data", "fetch", "--coin", "BTC"]
    out_args = [] if "--out" in args else ["--out", "btc.csv"]
    code, out, err = run_cli([*base, *args, *out_args], capsys)
    assert code == 2 and out == ""
    assert one_line(err).startswith(message)
    assert sorted(p.name for p in no_config.iterdir()) == ["btc.funding.json"]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_venue_is_one_line(
    closed_port: int,
    no_config: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fetch_module, "MAX_ATTEMPTS", 1)  # one retry, half a second
    url = f"http://127.0.0.1:{closed_port}"
    argv = ["data", "fetch", "--api-url", url, "--coin", "BTC", "--interval", "1h"]
    code, out, err = run_cli([*argv, "--out", "btc.csv"], capsys)
    assert code == 2 and out == ""
    assert one_line(err) == (
        f"gridtui: cannot fetch BTC 1h candles from {url}: /info candleSnapshot failed: "
        "ConnectError"
    )
    assert list(no_config.iterdir()) == []


def test_the_network_follows_the_flags_and_the_config(
    no_config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --api-url: testnet by default, mainnet with --mainnet, a config's api_url."""
    asked: list[str] = []

    async def record(base_url: str, args: FetchArgs, clock: object, **kwargs: object) -> None:
        asked.append(base_url)
        raise FetchError("stop here")

    monkeypatch.setattr(fetch_module, "fetch_data", record)
    argv = ["data", "fetch", "--coin", "BTC", "--interval", "1h", "--out", "btc.csv"]
    assert main(argv) == 2
    assert main(["--mainnet", *argv]) == 2
    assert main([*argv, "--mainnet"]) == 2
    write_paper_config(no_config / "config.toml", venue={"api_url": "http://127.0.0.1:3001"})
    assert main(argv) == 2
    live_mainnet = {
        "kind": "hyperliquid",
        "network": "mainnet",
        "account_address": "0x" + "ab" * 20,
    }
    write_paper_config(no_config / "live.toml", venue=live_mainnet)
    assert main(["--config", "live.toml", *argv, "--mainnet"]) == 2
    assert asked == [
        "https://api.hyperliquid-testnet.xyz",
        "https://api.hyperliquid.xyz",
        "https://api.hyperliquid.xyz",
        "http://127.0.0.1:3001",
        "https://api.hyperliquid.xyz",
    ]
    # as for every command, a config trading mainnet needs --mainnet on the command line
    capsys.readouterr()
    assert main([*argv, "--config", "live.toml"]) == 2
    assert one_line(capsys.readouterr().err).endswith(
        "venue.network is mainnet (real funds); add --mainnet to confirm"
    )
    assert len(asked) == 5


def test_data_needs_its_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["data"])
    assert exited.value.code == 2
    assert "fetch" in one_line(capsys.readouterr().err)
