"""``gridtui bench fills|tick|soak``: figures for the paths whose speed a grid bot lives on, and
for its memory over a long run.

* ``fills`` — durable fill processing: ``FillProcessor`` → ``StateManager`` → ``Store`` on a real
  SQLite file (WAL, ``synchronous=FULL``), one fill at a time and in batches, as throughput and
  per-fill latency; next to it, plain SQLite writing the same rows into the same schema with the
  same pragmas (one ``executemany`` per transaction) on the same disk — the floor no journal
  can beat — and the longest single call (a batch blocks the event loop that long).
* ``tick`` — reaction time: a market tick on the paper venue (file-backed, persisted before it
  streams) until the replacement order for the level it filled is acknowledged, through the real
  bot graph (factory + BotOrchestrator with its stream consumer and engine cycle running).
* ``soak`` — memory over time: N paper bots at high speed under the real ``Supervisor`` for a
  given time; RSS at start, after warm-up and at the end, and the fills processed. Whatever grows
  per fill or per order shows up as RSS growing with the fill count.

They print figures and the machine they ran on; they never judge them (machines differ, so a
timing assertion would only be noise). Wall time is read with ``time.perf_counter`` here, at the
top of the stack; the components still get their time from the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TextIO

import attrs

from gridtui.config.loader import load_config_text
from gridtui.core.clock import RealClock
from gridtui.core.events import Event, EventBus, OrderFilled, OrderPlaced
from gridtui.core.types import Fill, OrderRequest, OrderStatus, Side
from gridtui.exchanges.base import OrderUpdated, StreamEvent
from gridtui.exchanges.sim import SimExchange
from gridtui.execution.fill_deduplicator import FillDeduplicator
from gridtui.execution.fill_processor import FillProcessor
from gridtui.execution.order_state_machine import OrderStateMachine
from gridtui.monitoring.metrics import Metrics
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.orchestrator.factory import BotComponents, build_bot
from gridtui.risk.dead_man_switch import DeadManSwitch
from gridtui.state.accounting import BotState
from gridtui.state.data_dir import venue_identity
from gridtui.state.shadow_ledger import ShadowLedger
from gridtui.state.state_manager import StateManager
from gridtui.state.store import (
    CACHE_KIB,
    INSERT_FILL,
    UPDATE_ORDER,
    UPSERT_STATE,
    Store,
    fill_row,
    state_row,
)

DEFAULT_FILLS = 8000
"""Fills per mode; about 12 s in all on a 2-core VM with an ext4 disk."""
DEFAULT_REPLACEMENTS = 3000
"""Measured tick → replacement samples; about 12 s on the same machine."""
BATCH_SIZES = (10, 100)
FILL_COLUMNS = (
    "mode",
    "fills",
    "fills/s",
    "p50 ms/fill",
    "p99 ms/fill",
    "p50 ms/call",
    "p99 ms/call",
)
REPLACEMENT_TIMEOUT_S = 0.5
"""A replacement not acknowledged this long after its tick is counted as missed (the builder
skips a level that is occupied or outside the grid; the wait must end somewhere)."""
MAX_TICKS_PER_SAMPLE = 50
SHUTDOWN_DEADLINE_S = 10.0
"""How long the tick bench's bot may take to cancel its orders at the end."""
SOAK_BOTS = 10
SOAK_SECONDS = 180.0
SOAK_SPEED = 600.0
SOAK_REPORT_EVERY_S = 30.0
SOAK_COINS = ("BTC", "ETH", "SOL", "XRP", "DOGE", "AVAX", "LINK", "SUI", "ARB", "OP")

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


def run_bench(
    what: str,
    *,
    count: int | None = None,
    out: TextIO | None = None,
    bots: int | None = None,
    seconds: float | None = None,
    speed: float | None = None,
) -> int:
    """Run benchmark ``what`` ("fills", "tick" or "soak") and print its figures; the exit code.
    ``bots``, ``seconds`` and ``speed`` are for ``soak`` only."""
    stream = out if out is not None else sys.stdout
    if what not in ("fills", "tick", "soak"):
        sys.stderr.write(f"gridtui bench: unknown benchmark {what!r} (use fills, tick or soak)\n")
        return 2
    problem = _soak_arguments_problem(bots, seconds, speed)
    if count is not None and count < 1:
        problem = f"--count must be at least 1, got {count}"
    if problem:
        sys.stderr.write(f"gridtui bench: {problem}\n")
        return 2
    with _engine_logs_quiet(), tempfile.TemporaryDirectory(prefix="gridtui-bench-") as tmp:
        workdir = Path(tmp)
        if what == "fills":
            _bench_fills(workdir, count or DEFAULT_FILLS, stream)
        elif what == "tick":
            asyncio.run(_bench_tick(workdir, count or DEFAULT_REPLACEMENTS, stream))
        else:
            soak = SoakPlan(
                bots=bots or SOAK_BOTS,
                seconds=SOAK_SECONDS if seconds is None else seconds,
                speed=speed or SOAK_SPEED,
            )
            asyncio.run(_bench_soak(workdir, soak, stream))
    return 0


def _soak_arguments_problem(
    bots: int | None, seconds: float | None, speed: float | None
) -> str | None:
    if bots is not None and not 1 <= bots <= len(SOAK_COINS):
        return f"--bots must be 1 to {len(SOAK_COINS)}, got {bots}"
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        return f"--seconds must be a positive number, got {seconds}"
    if speed is not None and not (math.isfinite(speed) and 0 < speed <= 100_000):
        return f"--speed must be above 0 and at most 100000, got {speed}"
    return None


# ---------------------------------------------------------------------- report helpers


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: a value that was actually measured, never an interpolation."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def machine_line() -> str:
    return (
        f"machine: {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )


def _filesystem(path: Path) -> str:
    """The filesystem type holding ``path`` (fsync on tmpfs is free, on a disk it is not)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown filesystem"
    best, kind = "", "unknown filesystem"
    resolved = str(path.resolve())
    for line in mounts:
        parts = line.split()
        mount = parts[1] if len(parts) >= 3 else ""
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if mount and inside and len(mount) > len(best):
            best, kind = mount, parts[2]
    return kind


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        out.write("  ".join(cells) + "\n")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


@contextlib.contextmanager
def _engine_logs_quiet() -> Iterator[None]:
    """Engine warnings (e.g. drift alerts during fill bursts) are not what a benchmark reports."""
    logger = logging.getLogger("gridtui")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# ---------------------------------------------------------------------- bench fills


def _fill_graph(path: Path) -> tuple[FillProcessor, Store, tuple[str, str]]:
    """The production fill path on a fresh journal, with one resting buy and one resting sell
    big enough to absorb every fill (each fill also updates its order row, as in production)."""
    clock = RealClock()
    store = Store(path, venue="paper", bot="bench", coin="ETH")
    state = StateManager(store, clock, bot="bench", coin="ETH")
    ledger = ShadowLedger(store, OrderStateMachine(), clock)
    processor = FillProcessor(state, FillDeduplicator(store), ledger, EventBus(), clock)
    client_ids = []
    for level, side, price in ((-1, Side.BUY, "2999"), (1, Side.SELL, "3001")):
        cid = f"0x{level + 2:032x}"
        request = OrderRequest("ETH", side, Decimal(price), Decimal(10**9), cid)
        ledger.add_pending(request, level=level, generation=0)
        ledger.mark(cid, OrderStatus.OPEN, exchange_id=level + 2)
        client_ids.append(cid)
    return processor, store, (client_ids[0], client_ids[1])


def _make_fills(count: int, client_ids: tuple[str, str]) -> list[Fill]:
    """Alternating buys and sells at two prices: the position flips, so every other fill
    realizes PnL and the average-cost arithmetic is exercised, not just additions."""
    start_ms = RealClock().now_ms()
    size, fee = Decimal("0.0123"), Decimal("0.0055")
    buy = ("paper", "ETH", 1, client_ids[0], Side.BUY, Decimal("2999"), size, fee)
    sell = ("paper", "ETH", 3, client_ids[1], Side.SELL, Decimal("3001"), size, fee)
    fills = []
    for i in range(count):
        venue, coin, oid, cid, side, price, size, fee = buy if i % 2 == 0 else sell
        fills.append(Fill(venue, coin, i + 1, oid, cid, side, price, size, fee, start_ms + i))
    return fills


@attrs.frozen(slots=True)
class FillRun:
    """One mode's measurement: the time of each call and their sum."""

    batch: int
    count: int
    elapsed: float
    calls: tuple[float, ...]

    @classmethod
    def of(cls, batch: int, count: int, calls: Sequence[float]) -> FillRun:
        return cls(batch, count, sum(calls), tuple(calls))

    @property
    def rate(self) -> float:
        return self.count / self.elapsed

    def row(self) -> list[str]:
        # A short last batch would skew the per-fill figures: only whole batches count, if any.
        calls = self.calls[: self.count // self.batch] or self.calls
        per_fill = [latency / min(self.batch, self.count) for latency in calls]
        return [
            _mode(self.batch),
            str(self.count),
            f"{self.rate:.0f}",
            *(_ms(percentile(values, p)) for values in (per_fill, calls) for p in (50, 99)),
        ]


def _mode(batch: int) -> str:
    return "single" if batch == 1 else f"batch {batch}"


@attrs.frozen(slots=True)
class FillsMeasured:
    """One batch size: gridtui's journal, and plain SQLite writing the fill rows alone and
    writing the same rows the journal writes per call (fills, the state row, the order rows)."""

    journal: FillRun
    fill_rows: FillRun
    same_rows: FillRun


def _measure_fills(workdir: Path, count: int, batch: int) -> FillsMeasured:
    """``count`` fills through ``process_fill`` (batch 1) or ``process_fills``, and the same
    work done by plain SQLite with the journal's schema and pragmas (WAL, ``synchronous=FULL``),
    one transaction per batch, nothing else: once with only the fill rows (one ``executemany``),
    once with every row the journal's transaction writes (the fill rows, the ``state`` row and
    the rows of the orders the fills belong to), the rows prepared beforehand.

    The three alternate call by call (and the order rotates), so all meet the same disk: a
    shared disk's fsync time drifts by several times within seconds, and measured one after
    the other the ratio would mostly measure that drift. Rates are fills over the summed call
    times."""
    processor, store, client_ids = _fill_graph(workdir / f"fills-{batch}.db")
    fills = _make_fills(count, client_ids)
    fill_rows = [fill_row(fill) for fill in fills]
    state = state_row(store.load_state() or BotState.fresh("bench", "ETH", 0))
    conns = [_plain_sqlite(store.path, workdir / f"sqlite-{batch}-{n}.db") for n in range(2)]
    calls: list[list[float]] = [[], [], []]
    try:
        for n, offset in enumerate(range(0, count, batch)):
            chunk = fills[offset : offset + batch]
            rows = fill_rows[offset : offset + batch]
            orders = _order_updates(chunk, offset)
            steps = [
                (calls[0], _journal_call(processor, fills, offset, batch)),
                (calls[1], _sqlite_call(conns[0], rows)),
                (calls[2], _sqlite_call(conns[1], rows, state, orders)),
            ]
            shift = n % len(steps)
            for times, step in steps[shift:] + steps[:shift]:
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
        if store.fill_count() != count:
            raise RuntimeError(f"journal holds {store.fill_count()} fills, expected {count}")
    finally:
        store.close()
        for conn in conns:
            conn.close()
    journal, fills_only, same = (FillRun.of(batch, count, times) for times in calls)
    return FillsMeasured(journal, fills_only, same)


def _plain_sqlite(journal: Path, path: Path) -> sqlite3.Connection:
    """A copy of the fresh journal (schema, its order rows, its state row) opened with the
    journal's pragmas: what plain SQLite starts from."""
    conn = sqlite3.connect(path, isolation_level=None)
    source = sqlite3.connect(journal)
    try:
        source.backup(conn)
    finally:
        source.close()
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    return conn


def _order_updates(fills: Sequence[Fill], offset: int) -> list[tuple[object, ...]]:
    """``UPDATE_ORDER`` parameters for each order the fills belong to, as the ledger writes
    them: one row per order and call, with the amount filled so far."""
    filled: dict[str | None, Decimal] = {}
    for fill in fills:
        filled[fill.client_id] = filled.get(fill.client_id, Decimal(0)) + fill.size
    status = OrderStatus.PARTIALLY_FILLED.value
    return [
        (status, None, str(amount * (offset + 1)), offset, None, cid)
        for cid, amount in filled.items()
    ]


def _journal_call(
    processor: FillProcessor, fills: list[Fill], offset: int, batch: int
) -> Callable[[], object]:
    if batch == 1:
        return lambda: processor.process_fill(fills[offset])
    return lambda: processor.process_fills(fills[offset : offset + batch])


def _sqlite_call(
    conn: sqlite3.Connection,
    fill_rows: list[tuple[object, ...]],
    state: tuple[object, ...] | None = None,
    orders: list[tuple[object, ...]] | None = None,
) -> Callable[[], None]:
    def write() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT_FILL, fill_rows)
        if state is not None:
            conn.execute(UPSERT_STATE, state)
        if orders:
            conn.executemany(UPDATE_ORDER, orders)
        conn.execute("COMMIT")

    return write


def _bench_fills(workdir: Path, count: int, out: TextIO) -> None:
    out.write(
        "gridtui bench fills: durable fill processing "
        "(FillProcessor -> StateManager -> Store; SQLite WAL, synchronous=FULL)\n"
        f"{machine_line()}\n"
        f"journal: {workdir} ({_filesystem(workdir)}), {count} fills per mode\n"
    )
    runs = [_measure_fills(workdir, count, batch) for batch in (1, *BATCH_SIZES)]
    _table([list(FILL_COLUMNS), *(run.journal.row() for run in runs)], out)
    out.write("(batch: per-fill figures are the call time divided by the batch size)\n")
    out.write(
        "plain SQLite on the same disk, schema and pragmas, one transaction per call, rows "
        "prepared beforehand:\n"
        "  same rows = the rows gridtui's transaction writes (fills, state row, order rows); "
        "fill rows = the fill rows alone\n"
    )
    rows = [
        [
            "mode",
            "gridtui fills/s",
            "same rows fills/s",
            "gridtui/same",
            "fill rows fills/s",
            "gridtui/fill rows",
            "max ms/call",
        ]
    ]
    for run in runs:
        mine = run.journal
        rows.append(
            [
                _mode(mine.batch),
                f"{mine.rate:.0f}",
                f"{run.same_rows.rate:.0f}",
                f"{mine.rate / run.same_rows.rate * 100:.0f}%",
                f"{run.fill_rows.rate:.0f}",
                f"{mine.rate / run.fill_rows.rate * 100:.0f}%",
                _ms(max(mine.calls)),
            ]
        )
    _table(rows, out)
    largest = runs[-1].journal
    out.write(
        f"event-loop stall: longest process_fills call of {largest.batch} fills "
        f"{_ms(max(largest.calls))} ms (p99 {_ms(percentile(largest.calls, 99))} ms)\n"
    )


# ---------------------------------------------------------------------- bench tick


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


async def _bench_tick(workdir: Path, count: int, out: TextIO) -> None:
    config = load_config_text(TICK_CONFIG, base_dir=workdir, source="bench")
    clock = RealClock()
    exchange = SimExchange(config.venue.paper, clock)
    dead_man = DeadManSwitch(exchange, config.dead_man, clock)
    bus = EventBus()
    placements = _Placements()
    bus.subscribe(placements)
    components = await build_bot(
        config.bots[0],
        config=config,
        exchange=exchange,
        dead_man=dead_man,
        bus=bus,
        clock=clock,
        metrics=Metrics(),
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
        f"{machine_line()}\nstate files: {workdir} ({_filesystem(workdir)})\n"
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
            _ms(percentile(latencies, 50)),
            _ms(percentile(latencies, 99)),
            _ms(max(latencies)),
        ],
    ]
    _table(rows, out)
    out.write("(missed: the builder placed no replacement within 0.5 s, e.g. level occupied)\n")


# ---------------------------------------------------------------------- bench soak


@attrs.frozen(slots=True)
class SoakPlan:
    bots: int
    seconds: float
    speed: float

    @property
    def warmup_s(self) -> float:
        """Imports, journals, first grids and caches settle in the first minute; growth after
        that is what a long run keeps paying."""
        return min(60.0, self.seconds / 3)


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


async def _bench_soak(workdir: Path, plan: SoakPlan, out: TextIO) -> None:
    from gridtui.supervisor import Supervisor

    config = load_config_text(soak_config(plan), base_dir=workdir, source="bench soak")
    out.write(
        f"gridtui bench soak: {plan.bots} paper bots at speed {plan.speed:g} for "
        f"{plan.seconds:g} s (real Supervisor, journals on disk)\n"
        f"{machine_line()}\ndata: {workdir} ({_filesystem(workdir)})\n"
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
