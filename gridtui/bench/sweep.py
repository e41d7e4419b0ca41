"""``gridtui bench sweep``: how fast ``gridtui optimize`` scores trials, and whether its fast
evaluator can be trusted, on generated 1m candles.

- The evaluators, one core each: the engine replay (one run) and the compiled evaluator the
  optimizer uses where it models the settings (several trials, after the first, which loads the
  compiled code and builds the candle arrays once per process): candle-evaluations a second
  (trials × candles / time) and the speed-up.
- Workers: a study with one worker process and with two, throughput read off the trials' own
  start and end times (a worker's start-up, once per process, is not a trial's cost), and how
  close two come to twice one: in ``ROUNDS`` rounds, each round's ratio shown, the median
  reported, next to what the machine itself gave two busy processes over one in the same
  round (``bench.cores``: a shared VM's second core comes and goes). Both studies run the
  same trials (the spacings above, queued in the study in turn: TPE's picks would give the
  two studies different work, small spacings costing five times large ones). A trial
  includes Optuna's own work (the storage's writes), so the per-core figure is below the
  evaluator's.
- Agreement: ``--cases`` random settings and markets through both evaluators
  (``bench.agreement``): how many agree to the fill and the cent.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import TextIO

import optuna

from gridtui.backtest.replay import ReplayOptions, replay
from gridtui.bench.agreement import run_agreement
from gridtui.bench.backtest import CONFIG, write_candles
from gridtui.bench.cores import SPIN_LOOPS, busy_ratio
from gridtui.bench.report import machine_line, table
from gridtui.config.loader import load_config_text
from gridtui.exchanges.sim import load_candles
from gridtui.optimize.evaluator import Evaluator, Inputs
from gridtui.optimize.study import StorageSpec, open_study, run

DEFAULT_CANDLES = 525_600
"""A year of 1m candles: the trial the issue sizes the evaluator by."""
DEFAULT_CASES = 50
ENGINE_CANDLES = 20_000
"""The engine replay runs at thousands of candles a second: this many are enough to time it."""
TRIALS_PER_WORKER = 100
"""Trials per worker of the two-worker study; the one-worker study runs the same trials. At the
default size a worker's trials then last seconds, and the workers' start-up skew (spawn,
candles, arrays) is small beside it. Smaller runs (the smoke test) take fewer."""
ROUNDS = 5
"""One-worker and two-worker studies in turn, this many times, at full size: the two-worker
figure is the median round's. A shared machine's second core comes and goes (the same two
studies measured 72 % and 110 % of 2x minutes apart, and one worker's identical trials took
8.3 s to 10.1 s in one run), and one round is one draw of that."""
FULL_SIZE = 100_000
"""Smaller runs (the smoke test) measure one round."""
SMOKE_SPIN_SHARE = 25
"""Smaller runs (the smoke test) time the machine's busy loops over a 25th of the loops."""
SPACE = ("spacing_pct=0.1:1:0.05",)
SPACINGS = (0.1, 0.15, 0.2, 0.3, 0.5, 0.8)


def run_sweep_bench(workdir: Path, count: int, cases: int, out: TextIO) -> None:
    candles = workdir / "btc-1m.csv"
    write_candles(candles, count)
    config = workdir / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    out.write(
        f"gridtui bench sweep: optimize trials over {count} generated 1m candles (spacing "
        f"{', '.join(map(str, SPACINGS))} %)\n{machine_line()}\n"
    )
    engine_rate = _engine_rate(workdir, candles, min(count, ENGINE_CANDLES))
    evaluator = Evaluator(_inputs(workdir, candles, 1))  # compiled code and arrays, once
    started = time.perf_counter()
    for spacing in SPACINGS:
        evaluator.in_sample(_spacing(spacing))
    fast_rate = len(SPACINGS) * count / (time.perf_counter() - started)
    used = "compiled (fast_replay)" if evaluator.engine_runs == 0 else "mixed"
    table(
        [
            ["evaluator", "candle-evals/s per core"],
            ["engine replay", f"{engine_rate:,.0f}"],
            [used, f"{fast_rate:,.0f}"],
        ],
        out,
    )
    out.write(
        f"evaluator used by optimize here: {used}, {evaluator.fast_runs} runs "
        f"({evaluator.engine_runs} by the engine replay); speed-up over the engine replay "
        f"{fast_rate / engine_rate:,.0f}x\n"
    )
    rows = [["round", "jobs", "trials", "trial seconds", "candle-evals/s", "per core", "2 / 1",
             "machine 2 / 1"]]  # fmt: skip
    trials = 2 * max(16, min(TRIALS_PER_WORKER, count // 2000))
    ratios: list[float] = []
    machine: list[float] = []
    full = count >= FULL_SIZE
    for number in range(ROUNDS if full else 1):
        rates: dict[int, float] = {}
        for jobs in (1, 2):
            rates[jobs], done, span = _study_rate(workdir, candles, count, trials, number, jobs)
            rows.append([str(number + 1), str(jobs), str(done), f"{span:.2f}",
                         f"{rates[jobs]:,.0f}", f"{rates[jobs] / jobs:,.0f}", "", ""])  # fmt: skip
        ratios.append(rates[2] / rates[1])
        machine.append(busy_ratio(SPIN_LOOPS if full else SPIN_LOOPS // SMOKE_SPIN_SHARE))
        rows[-1][-2:] = [f"{ratios[-1]:.2f}x", f"{machine[-1]:.2f}x"]
    table(rows, out)
    middle, capacity = statistics.median(ratios), statistics.median(machine)
    medians = f", the medians of {len(ratios)} rounds" if len(ratios) > 1 else ""
    out.write(
        f"two workers: {middle:.2f}x one worker (ideal 2x; {middle / 2 * 100:.0f} % of it); "
        f"two busy processes got {capacity:.2f}x one from this machine{medians}\n"
    )
    out.write(f"agreement with the engine replay: {run_agreement(cases).summary()}\n")


def _study_rate(
    workdir: Path, candles: Path, count: int, trials: int, number: int, jobs: int
) -> tuple[float, int, float]:
    """One study of ``trials`` queued trials with ``jobs`` workers: candle-evaluations a
    second, the trials done and the seconds they took."""
    spec = StorageSpec(journal=str(workdir / f"sweep-{number}-{jobs}.journal"))
    study, _ = open_study(spec, "sweep", _inputs(workdir, candles, trials))
    for trial in range(trials):  # the same work for one worker and two
        study.enqueue_trial({"spacing_pct": SPACINGS[trial % len(SPACINGS)]})
    run(spec, "sweep", jobs)
    done, span = _trials_and_span(spec, trials)
    return done * count / span, done, span


def _engine_rate(workdir: Path, candles_file: Path, count: int) -> float:
    part = workdir / "engine.csv"
    lines = candles_file.read_text(encoding="utf-8").splitlines()[: count + 1]
    part.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = load_config_text(CONFIG, base_dir=workdir, source="bench")
    series = load_candles(part)
    started = time.perf_counter()
    replay(config, config.bots[0], part, series, None, ReplayOptions())
    return count / (time.perf_counter() - started)


def _trials_and_span(spec: StorageSpec, trials: int) -> tuple[int, float]:
    """The trials done and the seconds from the first one's start to the last one's end (two
    workers may each start a last trial at once: a study can end one past its count)."""
    study = optuna.load_study(study_name="sweep", storage=spec.open())
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(done) < trials:
        raise RuntimeError(f"the study finished {len(done)} trials, expected {trials}")
    start = min(t.datetime_start for t in done if t.datetime_start is not None)
    end = max(t.datetime_complete for t in done if t.datetime_complete is not None)
    return len(done), (end - start).total_seconds()


def _spacing(value: float) -> dict[tuple[str, str], float]:
    return {("grid", "spacing_pct"): value}


def _inputs(workdir: Path, candles: Path, trials: int) -> Inputs:
    return Inputs(
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
