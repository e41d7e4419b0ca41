"""``gridtui bench backtest``: candles a second of the engine replay, per fill model, and the
process's peak memory, on generated 1m candles (a seeded random walk around 64,000)."""

from __future__ import annotations

import multiprocessing
import random
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TextIO

import attrs

from gridtui.backtest.replay import ReplayOptions, replay
from gridtui.bench.report import machine_line, table
from gridtui.config.loader import load_config_text
from gridtui.exchanges.sim import load_candles
from gridtui.exchanges.sim.vocabulary import FillModel

DEFAULT_CANDLES = 500_000
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SEED = 7

CONFIG = """\
data_dir = "data"
[venue]
kind = "paper"
[venue.paper]
starting_balance = 100000
[[venue.paper.markets]]
coin = "BTC"
start_price = 64000
sz_decimals = 5
[grid]
levels = 10
spacing_pct = 0.2
size = 0.001
[risk]
max_position = 1
max_notional = 1000000
max_drawdown = 1000000
daily_loss_limit = 1000000
[[bots]]
name = "bench"
coin = "BTC"
"""


def run_backtest_bench(workdir: Path, count: int, out: TextIO) -> None:
    candles_file = workdir / "btc-1m.csv"
    write_candles(candles_file, count)
    load_candles(candles_file)  # parsed once here: each run below reads the cache, as a rerun does
    out.write(
        f"gridtui bench backtest: the engine replay over {count} generated 1m candles, each fill\n"
        f"model in a process of its own (its peak memory is one backtest's, load included)\n"
        f"{machine_line()}\n"
    )
    rows = [["fill model", "candles", "fills", "load s", "replay s", "candles/s", "peak RSS MB"]]
    spawn = multiprocessing.get_context("spawn")
    for model in (FillModel.STRICT, FillModel.TOUCH):
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            run = pool.submit(_one_run, workdir, candles_file, model).result()
        rows.append(
            [
                model.value,
                str(count),
                str(run.fills),
                f"{run.load_s:.2f}",
                f"{run.replay_s:.1f}",
                f"{count / run.replay_s:.0f}",
                f"{run.peak_mb:.0f}",
            ]
        )
    table(rows, out)


@attrs.frozen(slots=True)
class _RunFigures:
    fills: int
    load_s: float
    replay_s: float
    peak_mb: float


def _one_run(workdir: Path, candles_file: Path, model: FillModel) -> _RunFigures:
    """One backtest as ``gridtui backtest`` runs it (in a spawned process)."""
    config = load_config_text(CONFIG, base_dir=workdir, source="bench")
    started = time.perf_counter()
    series = load_candles(candles_file)
    loaded = time.perf_counter()
    run = replay(config, config.bots[0], candles_file, series, None, ReplayOptions(model))
    done = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return _RunFigures(len(run.fills), loaded - started, done - loaded, peak_mb)


def write_candles(path: Path, count: int) -> None:
    """A seeded random walk (σ 0.08 % a candle, wicks of 0.03 %): a 0.2 % grid fills on about
    one candle in seven, a busy grid (quiet candles are the cheap ones)."""
    rng = random.Random(SEED)
    price = 64000.0
    with path.open("w", encoding="utf-8") as out:
        out.write("time_ms,open,high,low,close,volume\n")
        for i in range(count):
            close = max(price * (1 + rng.gauss(0, 0.0008)), 1.0)
            high = max(price, close) * (1 + abs(rng.gauss(0, 0.0003)))
            low = min(price, close) * (1 - abs(rng.gauss(0, 0.0003)))
            out.write(f"{START_MS + i * 60_000},{price:.1f},{high:.1f},{low:.1f},{close:.1f},10\n")
            price = float(f"{close:.1f}")
