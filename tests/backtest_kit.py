"""The hand-made backtest of test_backtest.py, shared with the tests of its pictures: the config,
the candles, the files, and the recomputation of net PnL from ``--fills-out`` with plain
arithmetic (nothing of gridtui's)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal as D
from pathlib import Path

HOUR_MS = 3_600_000
YEAR_START = 1_704_067_200_000
"""2024-01-01T00:00:00Z: where the generated hourly series begin."""
T0 = 472_223 * HOUR_MS - 2 * 60_000
"""Two minutes before a full hour: candle 1 closes on the hour (funding is paid then)."""

CONFIG = """\
data_dir = "data"
[venue]
kind = "paper"
[venue.paper]
starting_balance = 10000
maker_fee = 0.00015
taker_fee = 0.00045
[[venue.paper.markets]]
coin = "BTC"
start_price = 100
sz_decimals = 2
[grid]
levels = 3
spacing_pct = 1
size = 0.2
[risk]
max_position = 10
max_notional = 100000
max_drawdown = 100000
daily_loss_limit = 100000
[[bots]]
name = "b1"
coin = "BTC"
"""

CANDLES = [
    (100, 100, 100, 100),
    (100, 100, 98.5, 99),
    (99, 100.5, 99, 100),
    (100, 101, 100, 100.5),
    *[(100.5, 100.5, 100.5, 100.5)] * 8,
]


def hand_made_files(tmp_path: Path) -> tuple[Path, Path]:
    """The config and the candle file of the hand-made run."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    candles = tmp_path / "btc.csv"
    rows = ["time,open,high,low,close,volume"]
    for i, (o, h, low, c) in enumerate(CANDLES):
        rows.append(f"{T0 + i * 60_000},{o},{h},{low},{c},100")
    candles.write_text("\n".join(rows) + "\n")
    return config, candles


def recompute(fills_out: Path) -> tuple[D, D, list[dict[str, object]]]:
    """Cash from every fill and funding payment, the final position, and the records."""
    records = [json.loads(line) for line in fills_out.read_text().splitlines()]
    cash = sum((D(r["amount"]) for r in records), D(0))
    position = sum(
        (
            D(r["size"]) if r["side"] == "buy" else -D(r["size"])
            for r in records
            if r["kind"] == "fill"
        ),
        D(0),
    )
    return cash, position, records


def write_hourly(
    folder: Path, name: str, hours: Iterable[tuple[float, float, float, float, float]]
) -> tuple[Path, Path]:
    """Hourly candles from ``YEAR_START`` (volume 100 each) as ``name``.csv, and each hour's
    funding rate, paid at its close, as funding.csv: ``hours`` gives (open, high, low, close,
    rate) an hour."""
    rows, funding_rows = ["time_ms,open,high,low,close,volume"], ["time,fundingRate,premium"]
    for i, (open_, high, low, close, rate) in enumerate(hours):
        rows.append(f"{YEAR_START + i * HOUR_MS},{open_},{high},{low},{close},100")
        funding_rows.append(f"{YEAR_START + (i + 1) * HOUR_MS},{rate:.8f},0")
    candles = folder / f"{name}.csv"
    candles.write_text("\n".join(rows) + "\n")
    funding = folder / "funding.csv"
    funding.write_text("\n".join(funding_rows) + "\n")
    return candles, funding
