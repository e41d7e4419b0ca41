"""``gridtui bench tick``: reaction time, from a market tick to the replacement order's ack.

A market tick on the paper venue (file-backed, persisted before it streams) until the replacement
order for the level it filled is acknowledged, through the real bot graph (factory +
BotOrchestrator with its stream consumer and engine cycle running).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import TextIO

import attrs

from gridtui.bench.report import SQLITE, SYSTEM, filesystem, machine_line, ms, percentile, table
from gridtui.config.loader import load_config_text
from gridtui.core.clock import RealClock
from gridtui.core.events import Event, EventBus, OrderPlaced
from gridtui.core.types import OrderStatus, Side
from gridtui.exchanges.base import OrderUpdated, StreamEvent
from gridtui.exchanges.sim import SimExchange
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.orchestrator.factory import BotComponents, build_bot
from gridtui.risk.dead_man_switch import DeadManSwitch
from gridtui.state.data_dir import venue_identity

DEFAULT_REPLACEMENTS = 3000
"""Measured tick → replacement samples; about 12 s on a 2-core VM with an ext4 disk."""
REPLACEMENT_TIMEOUT_S = 0.5
"""A replacement not acknowledged this long after its tick is counted as missed (the builder
skips a level that is occupied or outside the grid; the wait must end somewhere)."""
MAX_TICKS_PER_SAMPLE = 50
SHUTDOWN_DEADLINE_S = 10.0
"""How long the tick bench's bot may take to cancel its orders at the end."""
TICK_CONFIG = """
data_dir = "journals"
[engine]
cycle_interval_s = 0.02
[venue.paper]
state_file = "paper.db"
speed = 60.0
[[venue.paper.markets]]
coin = "ETH"
start_price = 3000
sz_decimals = 4
volatility = 0.8
[grid]
levels = 10
spacing_pct = 0.1
size = 0.01
[risk]
max_position = 1000
max_notional = 10000000
max_orders_per_second = 100000
order_burst = 100000
max_drawdown = 10000000
daily_loss_limit = 10000000
[[bots]]
name = "bench"
coin = "ETH"
"""


@attrs.define
class _Placements:
    """OrderPlaced events with the perf_counter time they were published (acknowledged)."""

    seen: list[tuple[float, OrderPlaced]] = attrs.field(factory=list)
    arrived: asyncio.Event = attrs.field(factory=asyncio.Event)

    def __call__(self, event: Event) -> None:
        if isinstance(event, OrderPlaced):
            self.seen.append((time.perf_counter(), event))
            self.arrived.set()


def _expected_replacements(
    components: BotComponents, events: list[StreamEvent]
) -> list[tuple[int, Side]]:
    """(level, side) of the replacement each order this tick filled completely should get."""
    snapshot = components.builder.snapshot
    expected = []
    for event in events:
        if not isinstance(event, OrderUpdated) or event.order.status is not OrderStatus.FILLED:
            continue
        tracked = components.ledger.get(event.order.client_id or "")
        if snapshot is None or tracked is None or tracked.level is None:
            continue
        side = tracked.request.side
        target = tracked.level + 1 if side is Side.BUY else tracked.level - 1
        if -snapshot.levels_per_side <= target <= snapshot.levels_per_side:
            expected.append((target, side.opposite))
    return expected


async def _await_replacements(
    placements: _Placements, expected: list[tuple[int, Side]], t0: float, start: int
) -> tuple[list[float], int]:
    """Latency (from ``t0``) of each expected replacement, and how many never came."""
    pending = list(expected)
    latencies: list[float] = []
    deadline = t0 + REPLACEMENT_TIMEOUT_S
    index = start
    while pending:
        while index < len(placements.seen):
            at, event = placements.seen[index]
            index += 1
            key = (event.grid_level, event.side)
            if key in pending:
                pending.remove(key)
                latencies.append(at - t0)
        remaining = deadline - time.perf_counter()
        if not pending or remaining <= 0:
            break
        placements.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(placements.arrived.wait(), remaining)
    return latencies, len(pending)


def run_tick_bench(workdir: Path, count: int, out: TextIO) -> None:
    """Measure ``count`` tick → replacement latencies with the paper venue's state in ``workdir``
    and print them."""
    asyncio.run(_measure(workdir, count, out))


async def _measure(workdir: Path, count: int, out: TextIO) -> None:
    config = load_config_text(TICK_CONFIG, base_dir=workdir, source="bench")
    clock = RealClock()
    exchange = SimExchange(config.venue.paper, clock)
    bus = EventBus()
    metrics = Metrics()
    dead_man = DeadManSwitch(exchange, config.dead_man, clock, Alerter(bus, clock), metrics)
    placements = _Placements()
    bus.subscribe(placements)
    components = await build_bot(
        config.bots[0],
        config=config,
        exchange=exchange,
        dead_man=dead_man,
        bus=bus,
        clock=clock,
        metrics=metrics,
        identity=venue_identity(config, None),
    )
    bot = BotOrchestrator(components, config.engine)
    watch = exchange.subscribe()
    task = asyncio.create_task(bot.run(), name="bench-bot")
    latencies: list[float] = []
    ticks = missed = 0
    try:
        while components.builder.snapshot is None or components.ledger.live_count() == 0:
            exchange.step()
            await asyncio.sleep(0.01)
            if task.done():
                task.result()
        while len(latencies) < count and ticks < count * MAX_TICKS_PER_SAMPLE:
            while not watch.empty():
                watch.get_nowait()
            start = len(placements.seen)
            t0 = time.perf_counter()
            exchange.step()
            ticks += 1
            events = []
            while not watch.empty():
                events.append(watch.get_nowait())
            expected = _expected_replacements(components, events)
            got, lost = await _await_replacements(placements, expected, t0, start)
            latencies += got
            missed += lost
            await asyncio.sleep(0)  # let the consumer take the tick's mid before the next one
            if task.done():
                task.result()
    finally:
        bot.stop()
        try:
            await task
        finally:
            await bot.shutdown(time.monotonic() + SHUTDOWN_DEADLINE_S)
            await dead_man.disarm()
            bot.detach()
            exchange.unsubscribe(watch)
            await exchange.close()
    _report_tick(workdir, ticks, latencies, missed, out)


def _report_tick(
    workdir: Path, ticks: int, latencies: list[float], missed: int, out: TextIO
) -> None:
    out.write(
        "gridtui bench tick: market tick -> replacement order acknowledged "
        "(paper venue + journal on disk, SQLite synchronous=FULL, real bot graph)\n"
        f"{machine_line(SYSTEM, SQLITE)}\nstate files: {workdir} ({filesystem(workdir)})\n"
    )
    if not latencies:
        out.write(f"tick -> replacement: no replacement measured in {ticks} ticks\n")
        return
    rows = [
        ["path", "ticks", "samples", "missed", "p50 ms", "p99 ms", "max ms"],
        [
            "tick -> replacement",
            str(ticks),
            str(len(latencies)),
            str(missed),
            ms(percentile(latencies, 50)),
            ms(percentile(latencies, 99)),
            ms(max(latencies)),
        ],
    ]
    table(rows, out)
    out.write("(missed: the builder placed no replacement within 0.5 s, e.g. level occupied)\n")
