"""``gridtui backtest``: the live engine over a dozen hand-made candles, every figure worked out by
hand. Grid: 3 levels a side, 1 % apart, 0.2 a level, built at the first close (100): buys 99/98/97,
sells 101/102/103, the 100 slot empty. Maker fee 0.00015.

- candle 1 (100 → high 100 → low 98.5 → close 99) trades through 99: the buy fills, and its
  replacement, a sell at 100, goes on the book at once;
- candle 2 (99 → low 99 → high 100.5 → close 100) trades through 100: that sell fills, a round
  trip worth 0.2 × (100 − 99) = 0.2 gross, fees 0.00015 × 0.2 × (99 + 100) = 0.00597;
- candle 3 (100 → low 100 → high 101 → close 100.5) only touches 101: a sell there fills under
  ``touch`` and not under ``strict``.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from backtest_kit import CONFIG, HOUR_MS, T0, hand_made_files, recompute, write_hourly

from gridtui.cli import main


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return hand_made_files(tmp_path)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["backtest", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_round_trip_worked_out_by_hand(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, candles = files
    out = tmp_path / "fills.jsonl"
    report = _run(
        capsys, "--config", str(config), "--candles", str(candles), "--fills-out", str(out)
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["kind"], r["side"], r["price"], r["size"]) for r in rows] == [
        ("fill", "buy", "99", "0.2"),
        ("fill", "sell", "100", "0.2"),
    ]
    fees = sum(D(r["fee"]) for r in rows)
    assert fees == D("0.00015") * D("0.2") * (99 + 100)
    assert sum(D(r["amount"]) for r in rows) == D("0.2") - fees  # flat again: PnL is cash
    assert report["fills"] == 2 and report["round_trips"] == 1
    assert report["realized_pnl"] == report["net_pnl"] == str((D("0.2") - fees).quantize(D("0.01")))
    assert report["final_position"] == "0"
    assert report["funding"] is None
    assert (report["candles"], report["gaps"]) == (12, {"count": 0, "largest_ms": 0})
    assert report["buy_and_hold_pnl"] == "50.00"  # 10000 / 100 × (100.5 − 100)


def test_equity_out_and_progress_lines_for_a_program_running_the_command(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the cockpit's backtest reads: the equity at each close, progress on stderr."""
    config, candles = files
    out = tmp_path / "equity.csv"
    args = ["--config", str(config), "--candles", str(candles), "--equity-out", str(out)]
    assert main(["backtest", *args, "--json", "--progress", "lines"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert captured.err.splitlines()[-1] == "progress 12 12"
    rows = out.read_text().splitlines()
    assert rows[0] == "time_ms,equity" and len(rows) == 1 + 12
    assert D(rows[-1].split(",")[1]).quantize(D("0.01")) == D(report["net_pnl"])


def test_a_candle_that_only_touches_a_level_fills_it_under_touch_only(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, candles = files
    both = _run(capsys, "--config", str(config), "--candles", str(candles), "--fill-model", "both")
    assert (both["strict"]["fills"], both["touch"]["fills"]) == (2, 3)  # type: ignore[index]
    assert both["touch"]["final_position"] == "-0.2"  # type: ignore[index]
    # the open short is marked at the last close, 100.5, against its entry at 101
    assert both["touch"]["unrealized_pnl"] == "0.10"  # type: ignore[index]


@pytest.mark.parametrize(("rate", "paid"), [("0.01", "-0.20"), ("-0.01", "0.20")])
def test_funding_is_paid_on_the_position_held_at_the_hour(
    files: tuple[Path, Path], tmp_path: Path, rate: str, paid: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    config, candles = files
    funding = tmp_path / "funding.json"
    hour = T0 + 2 * 60_000  # candle 1 closes here holding the 0.2 bought at 99
    funding.write_text(
        json.dumps([{"coin": "BTC", "time": hour, "fundingRate": rate, "premium": "0"}])
    )
    report = _run(
        capsys, "--config", str(config), "--candles", str(candles), "--funding", str(funding)
    )
    # long 0.2 × close 99 × rate: a positive rate makes longs pay, a negative one pays them
    assert report["funding"] == paid
    fees = D("0.00015") * D("0.2") * (99 + 100)
    funding_exact = -D("0.2") * 99 * D(rate)
    assert D(paid) == funding_exact.quantize(D("0.01"))
    assert D(report["net_pnl"]) == (D("0.2") - fees + funding_exact).quantize(D("0.01"))  # type: ignore[arg-type]


def test_the_same_inputs_give_byte_identical_json(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, candles = files
    args = ["backtest", "--config", str(config), "--candles", str(candles), "--json"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--bot", "nope"], "--bot nope: no such bot"),
        (["--candles", "ETH=btc.csv"], "the file is for ETH, bot b1 trades BTC"),
        (["--candles", "missing.csv"], "missing.csv"),
        (["--sz-decimals", "-3"], "--sz-decimals -3: give 0 to 6"),
        (["--sz-decimals", "7"], "--sz-decimals 7: give 0 to 6"),
    ],
)
def test_bad_input_is_one_line(
    files: tuple[Path, Path],
    args: list[str],
    problem: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, candles = files
    monkeypatch.chdir(candles.parent)
    base = ["backtest", "--config", str(config)]
    if "--candles" not in args:
        base += ["--candles", str(candles)]
    assert main([*base, *args]) == 2
    err = capsys.readouterr().err
    assert problem in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_net_pnl_recomputed_from_fills_out_with_plain_arithmetic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cash from every fill and funding payment, plus the final position at the last close,
    equals the report's net PnL to the cent: nothing in the figures needs our code."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    candles = tmp_path / "wave.csv"
    rows = ["time_ms,open,high,low,close,volume"]
    price = 100.0
    for i in range(1500):  # a few waves across the grid and beyond it
        close = round(100 + 4 * math.sin(i / 40) + 0.6 * math.sin(i / 3), 2)
        high, low = round(max(price, close) + 0.2, 2), round(min(price, close) - 0.2, 2)
        rows.append(f"{T0 + i * 60_000},{price},{high},{low},{close},100")
        price = close
    candles.write_text("\n".join(rows) + "\n")
    funding = tmp_path / "funding.csv"
    hours = range(T0 // HOUR_MS + 1, (T0 + 1500 * 60_000) // HOUR_MS + 1)
    funding.write_text(
        "time,fundingRate,premium\n"
        + "".join(f"{h * HOUR_MS},{'0.0001' if h % 2 else '-0.00005'},0\n" for h in hours)
    )
    out = tmp_path / "fills.jsonl"
    report = _run(
        capsys, "--config", str(config), "--candles", str(candles), "--funding", str(funding),
        "--fills-out", str(out),
    )  # fmt: skip
    cash, position, records = recompute(out)
    assert position == D(report["final_position"])  # type: ignore[arg-type]
    assert report["fills"] > 20 and any(r["kind"] == "funding" for r in records)
    assert (cash + position * D(str(price))).quantize(D("0.01")) == D(report["net_pnl"])  # type: ignore[arg-type]


def test_a_generated_year_recomputes_to_the_cent_from_fills_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same recomputation over a generated year (8,760 hourly candles, a seeded random walk
    that trends both ways, so the rolling grid re-centres many times, and an hourly funding rate
    of either sign): cash + final position × last close = net PnL, to the cent."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.replace("spacing_pct = 1", 'spacing_pct = 1\nmode = "rolling"'))
    rng = random.Random(2024)
    closes: list[float] = []

    def hours() -> Iterator[tuple[float, float, float, float, float]]:
        price = 100.0
        for _ in range(8_760):
            close = round(price * (1 + rng.gauss(0, 0.006)), 2)
            high = round(max(price, close) * (1 + abs(rng.gauss(0, 0.002))), 2)
            low = round(min(price, close) * (1 - abs(rng.gauss(0, 0.002))), 2)
            yield price, high, low, close, rng.gauss(0.00001, 0.00004)
            closes.append(close)
            price = close

    candles, funding = write_hourly(tmp_path, "year", hours())
    price = closes[-1]
    out = tmp_path / "fills.jsonl"
    report = _run(
        capsys, "--config", str(config), "--candles", str(candles), "--funding", str(funding),
        "--fills-out", str(out),
    )  # fmt: skip
    cash, position, records = recompute(out)
    fills = [r for r in records if r["kind"] == "fill"]
    assert report["candles"] == 8_760 and len(fills) > 500
    assert sum(r["kind"] == "funding" for r in records) > 1_000
    assert position == D(report["final_position"])  # type: ignore[arg-type]
    assert (cash + position * D(str(price))).quantize(D("0.01")) == D(report["net_pnl"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "first", "position"),
    [("ohlc", "sell", "0.2"), ("olhc", "buy", "-0.2"), ("adaptive", "buy", "-0.2")],
)
def test_the_path_through_a_candle_decides_which_level_fills_first(
    tmp_path: Path, path: str, first: str, position: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One wide candle (100 → 101.5 and 98.5 → 100) after the grid is built. High first: the sell
    at 101 fills, its replacement buy at 100 and the buy at 99 fill on the way down (long 0.2).
    Low first: the mirror (short 0.2). Adaptive visits the nearer extreme first, the low on a
    tie, as here."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    candles = tmp_path / "wide.csv"
    bars = [(100, 100, 100, 100), (100, 101.5, 98.5, 100), *[(100, 100, 100, 100)] * 4]
    rows = ["time,open,high,low,close"]
    rows += [f"{T0 + i * 60_000},{o},{h},{low},{c}" for i, (o, h, low, c) in enumerate(bars)]
    candles.write_text("\n".join(rows) + "\n")
    out = tmp_path / "fills.jsonl"
    report = _run(
        capsys, "--config", str(config), "--candles", str(candles), "--path", path,
        "--fills-out", str(out),
    )  # fmt: skip
    fills = [json.loads(line) for line in out.read_text().splitlines()]
    assert (fills[0]["side"], len(fills)) == (first, 3)
    assert report["final_position"] == position and report["path"] == path


def test_a_risk_halt_inside_a_backtest_stops_the_grid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The three buys fill on the way down (long 0.6 at 98 on average); at the close of 95 the
    equity is 1.8 (+ fees) below its peak, beyond max_drawdown 1: the bot halts, cancels, and
    the recovery to 100 fills nothing. Halted from the fourth of 12 closes on: 75 %."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.replace("max_drawdown = 100000", "max_drawdown = 1"))
    candles = tmp_path / "drop.csv"
    bars = [
        (100, 100, 100, 100),
        (100, 100, 97.5, 97.5),  # buys at 99 and 98
        (97.5, 97.5, 96.5, 96.6),  # the buy at 97; 96.6 is not beyond the rolling threshold
        (96.6, 96.6, 95, 95),  # drawdown 1.8: halt
        *[(95, 100, 95, 100)] * 8,  # back up through every old sell level: nothing rests
    ]
    rows = ["time,open,high,low,close"]
    rows += [f"{T0 + i * 60_000},{o},{h},{low},{c}" for i, (o, h, low, c) in enumerate(bars)]
    candles.write_text("\n".join(rows) + "\n")
    report = _run(capsys, "--config", str(config), "--candles", str(candles))
    assert (report["fills"], report["halts"], report["final_position"]) == (3, 1, "0.6")
    assert report["time_halted_pct"] == "75.00"


def test_the_bot_gets_the_venues_rounding_and_minimum_as_live(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, candles = files
    # geometric 0.7 %: 100 / 1.007 = 99.3048…, which Hyperliquid's 5 significant figures round
    geometric = CONFIG.replace("spacing_pct = 1", 'spacing_pct = 0.7\nspacing = "geometric"')
    config.write_text(geometric)
    out = tmp_path / "fills.jsonl"
    _run(capsys, "--config", str(config), "--candles", str(candles), "--fills-out", str(out))
    prices = [D(json.loads(line)["price"]) for line in out.read_text().splitlines()]
    assert prices and all(len(p.normalize().as_tuple().digits) <= 5 for p in prices), prices
    too_small = CONFIG.replace("size = 0.2", "size = 0.05")  # $5 an order: below $10
    config.write_text(too_small)
    assert main(["backtest", "--config", str(config), "--candles", str(candles)]) == 2
    err = capsys.readouterr().err.strip()
    assert "$10" in err and len(err.splitlines()) == 1, err


def test_from_and_to_replay_only_the_candles_opening_in_between(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """From candle 2 to candle 9: the grid is built at candle 2's close (100) and no later candle
    in range trades through a level (candle 1's trade through 99 is outside it)."""
    config, candles = files
    start, end = T0 + 2 * 60_000, T0 + 10 * 60_000
    report = _run(
        capsys, "--config", str(config), "--candles", str(candles),
        "--from", _iso(start), "--to", str(end),
    )  # fmt: skip
    assert report["candles"] == 8
    assert report["start"] == _iso(start) and report["fills"] == 0
    assert main(["backtest", "--config", str(config), "--candles", str(candles),
                 "--from", str(T0 + 11 * 60_000)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "--from/--to keep 1 of the 12 candles" in err and len(err.strip().splitlines()) == 1
