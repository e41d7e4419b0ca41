"""``gridtui bench soak``: memory over a long run, N paper bots at high speed.

The real ``Supervisor`` runs the bots for a given time; RSS is read at start, after warm-up and at
the end, next to the fills processed. Whatever grows per fill or per order shows up as RSS growing
with the fill count.
"""

from __future__ import annotations

import asyncio
import gc
import math
import sys
import time
from pathlib import Path
from typing import TextIO

import attrs

from gridtui.bench.report import SQLITE, SYSTEM, filesystem, machine_line
from gridtui.config.loader import load_config_text
from gridtui.core.events import Event, OrderFilled
from gridtui.supervisor import Supervisor

SOAK_BOTS = 10
SOAK_SECONDS = 180.0
SOAK_SPEED = 600.0
SOAK_REPORT_EVERY_S = 30.0
SOAK_COINS = ("BTC", "ETH", "SOL", "XRP", "DOGE", "AVAX", "LINK", "SUI", "ARB", "OP")


def arguments_problem(
    bots: int | None, seconds: float | None, speed: float | None, warmup: float | None = None
) -> str | None:
    """What is wrong with the soak's command-line options, or None."""
    if bots is not None and not 1 <= bots <= len(SOAK_COINS):
        return f"--bots must be 1 to {len(SOAK_COINS)}, got {bots}"
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        return f"--seconds must be a positive number, got {seconds}"
    if speed is not None and not (math.isfinite(speed) and 0 < speed <= 100_000):
        return f"--speed must be above 0 and at most 100000, got {speed}"
    if warmup is not None and not (
        math.isfinite(warmup) and 0 <= warmup < (seconds or SOAK_SECONDS)
    ):
        return f"--warmup must be at least 0 and below --seconds, got {warmup}"
    return None


@attrs.frozen(slots=True)
class SoakPlan:
    bots: int
    seconds: float
    speed: float
    warmup: float | None = None
    """None: the default below."""

    @property
    def warmup_s(self) -> float:
        """Imports, journals, first grids settle in the first minute, the default; bounded
        memory (SQLite's page cache of each journal, the recent-fill memories) keeps filling
        for several minutes at speed 600, so a verdict on flatness wants ``--warmup`` of ten
        minutes in a run of twenty or more. Growth after it is what a long run keeps paying."""
        return min(60.0, self.seconds / 3) if self.warmup is None else self.warmup


def soak_plan(
    bots: int | None, seconds: float | None, speed: float | None, warmup: float | None = None
) -> SoakPlan:
    """The plan for the given options, each one not given taking its default."""
    return SoakPlan(
        bots=bots or SOAK_BOTS,
        seconds=SOAK_SECONDS if seconds is None else seconds,
        speed=speed or SOAK_SPEED,
        warmup=warmup,
    )


def soak_config(plan: SoakPlan) -> str:
    """N paper markets and one bot each, with risk limits no bot reaches: a halted bot stops
    filling, and the soak is about what every fill and order leaves behind."""
    parts = [
        'data_dir = "data"',
        "[engine]",
        "cycle_interval_s = 0.25",
        "[venue.paper]",
        'state_file = "data/paper.db"',
        f"speed = {plan.speed!r}",
    ]
    for coin in SOAK_COINS[: plan.bots]:
        parts += [
            "[[venue.paper.markets]]",
            f'coin = "{coin}"',
            "start_price = 3000",
            "sz_decimals = 3",
            "volatility = 0.8",
        ]
    parts += [
        "[grid]",
        "levels = 8",
        "spacing_pct = 0.15",
        "size = 0.01",
        "[risk]",
        "max_position = 1000",
        "max_notional = 100000000",
        "max_open_orders = 200",
        "max_orders_per_second = 1000",
        "order_burst = 1000",
        "max_drawdown = 100000000",
        "daily_loss_limit = 100000000",
    ]
    for coin in SOAK_COINS[: plan.bots]:
        parts += ["[[bots]]", f'name = "{coin.lower()}"', f'coin = "{coin}"']
    return "\n".join(parts) + "\n"


def rss_bytes() -> int:
    """Resident set size now (Linux /proc), or the peak where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@attrs.define
class _FillCounter:
    count: int = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, OrderFilled):
            self.count += 1


def _mb(value: int) -> str:
    return f"{value / 2**20:.1f}"


def run_soak_bench(workdir: Path, plan: SoakPlan, out: TextIO) -> None:
    """Run ``plan`` with its data in ``workdir``, printing RSS as it goes and a summary."""
    asyncio.run(_measure(workdir, plan, out))


async def _measure(workdir: Path, plan: SoakPlan, out: TextIO) -> None:
    config = load_config_text(soak_config(plan), base_dir=workdir, source="bench soak")
    out.write(
        f"gridtui bench soak: {plan.bots} paper bots at speed {plan.speed:g} for "
        f"{plan.seconds:g} s (real Supervisor, journals on disk)\n"
        f"{machine_line(SYSTEM, SQLITE)}\ndata: {workdir} ({filesystem(workdir)})\n"
    )
    gc.collect()
    samples: list[tuple[float, int, int]] = []  # (elapsed s, fills, RSS)
    fills = _FillCounter()
    supervisor = Supervisor(config)
    supervisor.bus.subscribe(fills)
    started = time.monotonic()
    samples.append((0.0, 0, rss_bytes()))
    out.write(f"{'at s':>6}  {'fills':>7}  {'RSS MB':>7}\n")
    out.write(f"{0:>6}  {0:>7}  {_mb(samples[0][2]):>7}\n")
    out.flush()
    try:
        await supervisor.start()
        marks = sorted({plan.warmup_s, plan.seconds, *_every(SOAK_REPORT_EVERY_S, plan.seconds)})
        for mark in marks:
            await asyncio.sleep(max(0.0, started + mark - time.monotonic()))
            gc.collect()
            samples.append((mark, fills.count, rss_bytes()))
            out.write(f"{mark:>6g}  {fills.count:>7}  {_mb(samples[-1][2]):>7}\n")
            out.flush()  # a long run shows its progress
    finally:
        report = await supervisor.stop()
    _report_soak(plan, samples, report.open_orders, out)


def _every(step: float, until: float) -> list[float]:
    marks, at = [], step
    while at < until:
        marks.append(at)
        at += step
    return marks


def _report_soak(
    plan: SoakPlan,
    samples: list[tuple[float, int, int]],
    open_orders: int,
    out: TextIO,
) -> None:
    start = samples[0]
    warm = next(s for s in samples if s[0] >= plan.warmup_s)
    end = samples[-1]
    out.write(
        f"RSS start {_mb(start[2])} MB, after warm-up ({warm[0]:g} s) {_mb(warm[2])} MB, "
        f"end ({end[0]:g} s) {_mb(end[2])} MB; fills processed {end[1]}\n"
    )
    minutes = (end[0] - warm[0]) / 60
    fills = end[1] - warm[1]
    if minutes > 0:
        growth = end[2] - warm[2]
        per_fill = f", {growth / fills / 1024:.2f} KB per fill" if fills else ""
        out.write(
            f"after warm-up: {growth / 2**20 / minutes:+.2f} MB/min over {minutes:.1f} min, "
            f"{fills} fills{per_fill}\n"
        )
    out.write(f"open orders left after stop: {open_orders}\n")
