"""``gridtui bench fills``: durable fill processing, next to plain SQLite on the same disk.

``FillProcessor`` → ``StateManager`` → ``Store`` on a real SQLite file (WAL, ``synchronous=FULL``),
one fill at a time and in batches, as throughput and per-fill latency; next to it, plain SQLite
writing the same rows into the same schema with the same pragmas (one ``executemany`` per
transaction) on the same disk — the floor no journal can beat — and the longest single call (a
batch blocks the event loop that long).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TextIO

import attrs

from gridtui.bench.report import SQLITE, SYSTEM, filesystem, machine_line, ms, percentile, table
from gridtui.core.clock import RealClock
from gridtui.core.events import EventBus
from gridtui.core.types import Fill, OrderRequest, OrderStatus, Side
from gridtui.execution.fill_deduplicator import FillDeduplicator
from gridtui.execution.fill_processor import FillProcessor
from gridtui.state.accounting import BotState
from gridtui.state.order_state_machine import OrderStateMachine
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
        ledger.on_ack(cid, level + 2)
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
            *(ms(percentile(values, p)) for values in (per_fill, calls) for p in (50, 99)),
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


def run_fills_bench(workdir: Path, count: int, out: TextIO) -> None:
    """Measure ``count`` fills per mode in ``workdir`` and print both tables."""
    out.write(
        "gridtui bench fills: durable fill processing "
        "(FillProcessor -> StateManager -> Store; SQLite WAL, synchronous=FULL)\n"
        f"{machine_line(SYSTEM, SQLITE)}\n"
        f"journal: {workdir} ({filesystem(workdir)}), {count} fills per mode\n"
    )
    runs = [_measure_fills(workdir, count, batch) for batch in (1, *BATCH_SIZES)]
    table([list(FILL_COLUMNS), *(run.journal.row() for run in runs)], out)
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
                ms(max(mine.calls)),
            ]
        )
    table(rows, out)
    largest = runs[-1].journal
    out.write(
        f"event-loop stall: longest process_fills call of {largest.batch} fills "
        f"{ms(max(largest.calls))} ms (p99 {ms(percentile(largest.calls, 99))} ms)\n"
    )
