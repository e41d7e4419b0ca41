"""``gridtui bench``: figures for the paths whose speed a grid bot lives on, and for its memory
over a long run.

* ``fills`` (fills.py) — durable fill processing, next to plain SQLite on the same disk.
* ``tick`` (tick.py) — a market tick until the replacement order is acknowledged.
* ``soak`` (soak.py) — RSS of N paper bots at high speed under the real ``Supervisor``.
* ``keys`` (keys.py) — key press until the action is done, in the cockpit under load.
* ``orders`` (orders.py) — orders a second the live client signs and sends to the mock.
* ``backtest`` (backtest.py) — candles a second of the engine replay, and peak memory.
* ``sweep`` (sweep.py) — candle-evaluations a second of optimize trials (engine replay and the
  compiled evaluator, one and two workers) and the compiled evaluator's agreement with the
  engine replay on random settings.

They print figures and the machine they ran on (report.py); they never judge them (machines
differ, so a timing assertion would only be noise). Wall time is read with ``time.perf_counter``
here, at the top of the stack; the components still get their time from the injected clock.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from gridtui.bench import soak, sweep
from gridtui.bench.backtest import DEFAULT_CANDLES, run_backtest_bench
from gridtui.bench.fills import DEFAULT_FILLS, run_fills_bench
from gridtui.bench.orders import run_orders_bench
from gridtui.bench.sweep import run_sweep_bench
from gridtui.bench.tick import DEFAULT_REPLACEMENTS, run_tick_bench

__all__ = ["run_bench"]


def run_bench(
    what: str,
    *,
    count: int | None = None,
    out: TextIO | None = None,
    bots: int | None = None,
    seconds: float | None = None,
    speed: float | None = None,
    warmup: float | None = None,
    cases: int | None = None,
) -> int:
    """Run benchmark ``what`` ("fills", "tick", "soak", "keys", "orders", "backtest" or "sweep") and
    print its figures; the exit code. ``bots``, ``seconds``, ``speed`` and ``warmup`` are for
    ``soak`` only, ``cases`` for ``sweep``."""
    stream = out if out is not None else sys.stdout
    if what == "keys":
        # Textual is loaded for the one bench that drives the cockpit, so importing this
        # package (and every other bench) stays Textual-free.
        from gridtui.bench.keys import run_keys_bench

        return run_keys_bench(count, stream)
    if what == "orders":
        return run_orders_bench(count, stream)
    if what not in ("fills", "tick", "soak", "backtest", "sweep"):
        sys.stderr.write(
            f"gridtui bench: unknown benchmark {what!r} "
            "(use fills, tick, soak, keys, orders, backtest or sweep)\n"
        )
        return 2
    problem = soak.arguments_problem(bots, seconds, speed, warmup)
    if count is not None and count < 1:
        problem = f"--count must be at least 1, got {count}"
    if cases is not None and cases < 1:
        problem = f"--cases must be at least 1, got {cases}"
    if problem:
        sys.stderr.write(f"gridtui bench: {problem}\n")
        return 2
    with _engine_logs_quiet(), tempfile.TemporaryDirectory(prefix="gridtui-bench-") as tmp:
        workdir = Path(tmp)
        if what == "fills":
            run_fills_bench(workdir, count or DEFAULT_FILLS, stream)
        elif what == "tick":
            run_tick_bench(workdir, count or DEFAULT_REPLACEMENTS, stream)
        elif what == "backtest":
            run_backtest_bench(workdir, count or DEFAULT_CANDLES, stream)
        elif what == "sweep":
            run_sweep_bench(
                workdir, count or sweep.DEFAULT_CANDLES, cases or sweep.DEFAULT_CASES, stream
            )
        else:
            soak.run_soak_bench(workdir, soak.soak_plan(bots, seconds, speed, warmup), stream)
    return 0


@contextlib.contextmanager
def _engine_logs_quiet() -> Iterator[None]:
    """The benchmarked bots' own lines (drift alerts during fill bursts, the halts the sweep's
    agreement cases provoke on purpose) are not what a benchmark reports."""
    logger = logging.getLogger("gridtui")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)
