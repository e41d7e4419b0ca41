"""``gridtui bench sweep``: how fast ``gridtui optimize`` scores trials, with one worker and
with two (the machine's two cores), on generated 1m candles.

It reports candle-evaluations a second (trials × candles / wall time) and per core, and how
close two workers come to twice one. The evaluator is the engine replay: the faster evaluator
for sweeps (and its differential test against the replay) does not exist yet, so the speed-up
over the replay is 1× by construction and there is no agreement count to print.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

from gridtui.bench.backtest import CONFIG, write_candles
from gridtui.bench.report import machine_line, table
from gridtui.optimize.evaluator import Inputs
from gridtui.optimize.study import StorageSpec, open_study, run

DEFAULT_CANDLES = 20_000
TRIALS_PER_WORKER = 4
SPACE = ("spacing_pct=0.1:1:0.05",)


def run_sweep_bench(workdir: Path, count: int, out: TextIO) -> None:
    candles = workdir / "btc-1m.csv"
    write_candles(candles, count)
    config = workdir / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    out.write(
        f"gridtui bench sweep: optimize trials over {count} generated 1m candles, "
        f"{TRIALS_PER_WORKER} trials per worker\n"
        f"{machine_line()}\n"
        "evaluator: the engine replay (no faster sweep evaluator yet: speed-up 1x, "
        "no differential agreement count)\n"
    )
    rows = [["jobs", "trials", "seconds", "candle-evals/s", "per core"]]
    rates: dict[int, float] = {}
    for jobs in (1, 2):
        trials = TRIALS_PER_WORKER * jobs
        inputs = Inputs(
            config_text=CONFIG,
            config_dir=str(workdir),
            bot="bench",
            candles_file=str(candles),
            funding_file=None,
            params=SPACE,
            objective="net_pnl",
            walk_forward=None,
            fill_model="strict",
            trials=trials,
            seed=1,
        )
        spec = StorageSpec(journal=str(workdir / f"sweep-{jobs}.journal"))
        open_study(spec, "sweep", inputs)
        started = time.perf_counter()
        run(spec, "sweep", jobs)
        elapsed = time.perf_counter() - started
        rates[jobs] = trials * count / elapsed
        rows.append(
            [
                str(jobs),
                str(trials),
                f"{elapsed:.1f}",
                f"{rates[jobs]:.0f}",
                f"{rates[jobs] / jobs:.0f}",
            ]
        )
    table(rows, out)
    out.write(
        f"two workers: {rates[2] / rates[1]:.2f}x one worker "
        f"(ideal 2x; {rates[2] / (2 * rates[1]) * 100:.0f} % of it)\n"
    )
