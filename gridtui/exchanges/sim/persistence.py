"""SQLite persistence of the paper venue: orders, fills, positions, cash, markets, path states.

The venue writes each operation's changes (one placement batch, one cancel batch, one market step)
in a single transaction and only then acknowledges or streams anything, with WAL and
``synchronous=FULL``: a process killed with SIGKILL between operations loses nothing it reported.
Decimals are stored as their exact strings and path states as JSON (floats round-trip exactly), so
a reopened venue continues the identical market. ``read_state`` opens a file read-only for tools
that only inspect it (``gridtui audit``).

The file is the venue's history; memory holds only the working set. ``load`` reads the live book
(not every order and fill ever made: that grew a long-running venue without bound), and the
engine asks the store for the rest (``archived_order``, ``client_ids_used``, ``fills_since``)
through indexes, which opening an older file adds (``CREATE INDEX IF NOT EXISTS``: the tables
are unchanged, so the schema version stays and older builds still read the file). Fills are
indexed by (coin, time), the query reconciliation pages with; all coins from 0 is a full read
anyway, so it gets no index of its own (each index costs every fill a write). The start-up
read of live orders scans the orders table (~0.2 s per million orders, once) rather than keep
a partial index, which cost every order write ~5 us.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import attrs

from gridtui.core.types import Fill, Order, OrderStatus, Position, Side, Tif
from gridtui.exchanges.sim.price_path import MarketState
from gridtui.exchanges.sim.vocabulary import EngineRecords

SCHEMA_VERSION = 1
MEMORY = ":memory:"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS orders (
    exchange_id INTEGER PRIMARY KEY, coin TEXT NOT NULL, side TEXT NOT NULL,
    price TEXT NOT NULL, size TEXT NOT NULL, remaining TEXT NOT NULL, client_id TEXT UNIQUE,
    status TEXT NOT NULL, timestamp_ms INTEGER NOT NULL, tif TEXT NOT NULL,
    reduce_only INTEGER NOT NULL, reason TEXT);
CREATE TABLE IF NOT EXISTS fills (
    trade_id INTEGER PRIMARY KEY, venue TEXT NOT NULL, coin TEXT NOT NULL,
    exchange_order_id INTEGER NOT NULL, client_id TEXT, side TEXT NOT NULL, price TEXT NOT NULL,
    size TEXT NOT NULL, fee TEXT NOT NULL, timestamp_ms INTEGER NOT NULL,
    is_taker INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    coin TEXT PRIMARY KEY, size TEXT NOT NULL, entry_price TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS markets (
    coin TEXT PRIMARY KEY, mid TEXT NOT NULL, bid_depth TEXT NOT NULL, ask_depth TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS paths (coin TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS funding (coin TEXT PRIMARY KEY, since_open TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS fills_by_coin_time ON fills (coin, timestamp_ms);
"""
_LIVE = "status IN ({})".format(", ".join(f"'{s.value}'" for s in OrderStatus if s.is_live))
"""The orders that may rest: what ``load`` reads back."""

_FILLS_BY_TIME = "SELECT * FROM fills WHERE timestamp_ms >= ? ORDER BY timestamp_ms, trade_id"
_FILLS_BY_COIN = (
    "SELECT * FROM fills WHERE coin = ? AND timestamp_ms >= ? ORDER BY timestamp_ms, trade_id"
)
_IN_CHUNK = 500
"""Client ids per ``IN (...)`` query: well under SQLite's limit on bound parameters."""
_BAD_CONTENT = (sqlite3.DatabaseError, ValueError, KeyError, TypeError, InvalidOperation)


class StateFileError(Exception):
    """A paper state file that cannot be used; one line naming the file and the problem."""


@attrs.frozen(slots=True)
class StoredState:
    """What a state file holds: all of it (``read_state``), or the venue's working set
    (``SimStore.load``: live orders only, no fills)."""

    records: EngineRecords
    path_states: Mapping[str, Mapping[str, Any]]

    @property
    def balance(self) -> Decimal:
        return self.records.balance

    @property
    def open_orders(self) -> tuple[Order, ...]:
        live = (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
        return tuple(o for o in self.records.orders if o.status in live)

    @property
    def positions(self) -> dict[str, Position]:
        return {p.coin: p for p in self.records.positions}

    @property
    def fills(self) -> tuple[Fill, ...]:
        return self.records.fills

    @property
    def mids(self) -> dict[str, Decimal]:
        return {m.coin: m.mid for m in self.records.markets}


class SimStore:
    """The read-write state file of one paper venue (``":memory:"`` for tests), and the
    engine's archive of everything it no longer keeps in memory."""

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        if self._path != MEMORY:
            file = Path(path)
            _refuse_truncated(file)
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
                if not file.exists():
                    _create(file)
            except (OSError, sqlite3.Error) as exc:
                raise StateFileError(f"{path}: cannot create the paper state file ({exc})") from exc
        try:
            self._conn = sqlite3.connect(self._path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StateFileError(f"{path}: cannot open the paper state file ({exc})") from exc
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
            _check_version(self._conn, path, create=True)
        except StateFileError:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StateFileError(f"{path}: not a usable paper state file ({exc})") from exc

    @property
    def path(self) -> str:
        return self._path

    @property
    def durable(self) -> bool:
        """False for ``":memory:"``: nothing outlives the object, so prices need not be kept."""
        return self._path != MEMORY

    def load(self) -> StoredState | None:
        """The venue's working set (scalars, live orders, positions, markets, paths; no
        finished orders, no fills), or None for a new file."""
        try:
            return _read(self._conn, history=False)
        except _BAD_CONTENT as exc:
            raise StateFileError(f"{self._path}: unreadable paper state ({exc})") from exc

    def commit(self, records: EngineRecords, path_states: Mapping[str, Mapping[str, Any]]) -> None:
        """Write one operation's changes atomically (raises sqlite3.Error, rolled back)."""
        with self._transaction() as conn:
            _write(conn, records, path_states)

    def archived_order(
        self, *, exchange_id: int | None = None, client_id: str | None = None
    ) -> tuple[Order, str | None] | None:
        """A stored order and its status word (canceled, rejected: None otherwise), by either
        id. Raises StateFileError when the file cannot be read."""
        if exchange_id is not None:
            sql, key = "SELECT * FROM orders WHERE exchange_id = ?", exchange_id
        else:
            sql, key = "SELECT * FROM orders WHERE client_id = ?", client_id
        try:
            row = self._conn.execute(sql, (key,)).fetchone()
            return None if row is None else (_order(row), row[11])
        except _BAD_CONTENT as exc:
            raise StateFileError(f"{self._path}: unreadable paper order ({exc})") from exc

    def client_ids_used(self, client_ids: Collection[str]) -> set[str]:
        """Which of ``client_ids`` a stored order ever carried (the unique index answers; one
        query per batch of orders, not one per order)."""
        wanted = list(client_ids)
        used: set[str] = set()
        try:
            for at in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[at : at + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT client_id FROM orders WHERE client_id IN ({marks})"
                used.update(row[0] for row in self._conn.execute(sql, chunk))
        except sqlite3.Error as exc:
            raise StateFileError(f"{self._path}: unreadable paper orders ({exc})") from exc
        return used

    def fills_since(self, start_ms: int, coin: str | None = None) -> list[Fill]:
        """Stored fills at or after ``start_ms`` (of one coin, or all), sorted by (timestamp,
        trade id): read from the file (one coin's through its index), never kept in memory."""
        try:
            if coin is None:
                rows = self._conn.execute(_FILLS_BY_TIME, (start_ms,))
            else:
                rows = self._conn.execute(_FILLS_BY_COIN, (coin, start_ms))
            return [_fill(row) for row in rows]
        except _BAD_CONTENT as exc:
            raise StateFileError(f"{self._path}: unreadable paper fills ({exc})") from exc

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")


def read_state(path: Path | str) -> StoredState:
    """Open a state file read-only and return all it holds, history included (for inspection
    tools and tests: a short-lived read, unlike the venue, which keeps only its working set)."""
    file = Path(path)
    if not file.is_file():
        raise StateFileError(f"{path}: no such paper state file")
    _refuse_truncated(file)
    try:
        conn = sqlite3.connect(file.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            _check_version(conn, path, create=False)
            state = _read(conn, history=True)
        finally:
            conn.close()
    except _BAD_CONTENT as exc:
        raise StateFileError(f"{path}: not a readable paper state file ({exc})") from exc
    if state is None:
        raise StateFileError(f"{path}: the paper state file is empty")
    return state


def _refuse_truncated(file: Path) -> None:
    """SQLite takes a zero-length file for a new database, so the venue would silently start a
    fresh account over a truncated one (positions and orders gone). Every file the venue creates
    is whole from its first byte (``_create``), so zero length means damage: refuse it, touch
    nothing, and say how to recover."""
    try:
        empty = file.is_file() and file.stat().st_size == 0
    except OSError:
        return  # unreadable metadata: opening it reports the problem
    if empty:
        raise StateFileError(
            f"{file}: the paper state file is empty (0 bytes: truncated, its positions and "
            "orders are gone); restore it from a backup, or delete it to start a fresh paper "
            "account"
        )


def _create(file: Path) -> None:
    """Create a new state file whole: built under a temporary name, then renamed. Opening the
    final name directly leaves a zero-length file until SQLite writes its first page, and a
    crash or a full disk in between would leave exactly what ``_refuse_truncated`` refuses."""
    temporary = file.with_name(file.name + ".new")
    leftovers = [temporary.with_name(temporary.name + end) for end in ("", "-wal", "-shm")]
    for leftover in leftovers:  # a creation that crashed: its WAL must not apply to this one
        leftover.unlink(missing_ok=True)
    try:
        conn = sqlite3.connect(temporary, isolation_level=None)
        try:
            conn.executescript(_SCHEMA)
            _check_version(conn, file, create=True)
            conn.execute("PRAGMA journal_mode=WAL")  # set in the header, empty WAL: nothing lost
        finally:
            conn.close()
        os.replace(temporary, file)
    finally:
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
    directory = os.open(file.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _check_version(conn: sqlite3.Connection, path: Path | str, *, create: bool) -> None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None and create:
        conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    elif row is None or row[0] != str(SCHEMA_VERSION):
        found = "none" if row is None else row[0]
        raise StateFileError(
            f"{path}: paper state schema version {found}, expected {SCHEMA_VERSION}; "
            "move the file away to start a new paper account"
        )


def _read(conn: sqlite3.Connection, *, history: bool) -> StoredState | None:
    """The stored venue; ``history``: every order and fill too, else only live orders."""
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if "balance" not in meta:
        return None
    schedule = meta.get("schedule_cancel_ms")
    where = "" if history else f" WHERE {_LIVE}"
    orders = []
    reasons = {}
    for row in conn.execute(f"SELECT * FROM orders{where} ORDER BY exchange_id"):
        order = _order(row)
        orders.append(order)
        if row[11] is not None:
            reasons[order.exchange_id] = row[11]
    fills = tuple(_fill(row) for row in conn.execute(_FILLS_BY_TIME, (0,))) if history else ()
    positions = tuple(
        Position(coin, Decimal(size), Decimal(entry))
        for coin, size, entry in conn.execute("SELECT coin, size, entry_price FROM positions")
    )
    markets = tuple(
        MarketState(coin, Decimal(mid), Decimal(bid_depth), Decimal(ask_depth))
        for coin, mid, bid_depth, ask_depth in conn.execute(
            "SELECT coin, mid, bid_depth, ask_depth FROM markets"
        )
    )
    paths = {coin: json.loads(state) for coin, state in conn.execute("SELECT * FROM paths")}
    try:
        rows = conn.execute("SELECT coin, since_open FROM funding").fetchall()
    except sqlite3.OperationalError:  # a file of an older version, opened read-only
        rows = []
    funding = {coin: Decimal(paid) for coin, paid in rows}
    hour = meta.get("funding_hour")
    records = EngineRecords(
        balance=Decimal(meta["balance"]),
        next_order_id=int(meta["next_order_id"]),
        next_trade_id=int(meta["next_trade_id"]),
        schedule_cancel_ms=None if schedule is None else int(schedule),
        orders=tuple(orders),
        reasons=reasons,
        fills=fills,
        positions=positions,
        markets=markets,
        funding=funding,
        funding_hour=None if hour is None else int(hour),
    )
    return StoredState(records=records, path_states=paths)


def _order(row: Sequence[Any]) -> Order:
    return Order(
        coin=row[1],
        side=Side(row[2]),
        price=Decimal(row[3]),
        size=Decimal(row[4]),
        remaining=Decimal(row[5]),
        exchange_id=row[0],
        client_id=row[6],
        status=OrderStatus(row[7]),
        timestamp_ms=row[8],
        tif=Tif(row[9]),
        reduce_only=bool(row[10]),
    )


def _fill(row: Sequence[Any]) -> Fill:
    return Fill(
        venue=row[1],
        coin=row[2],
        trade_id=row[0],
        exchange_order_id=row[3],
        client_id=row[4],
        side=Side(row[5]),
        price=Decimal(row[6]),
        size=Decimal(row[7]),
        fee=Decimal(row[8]),
        timestamp_ms=row[9],
        is_taker=bool(row[10]),
    )


def _write(
    conn: sqlite3.Connection,
    records: EngineRecords,
    path_states: Mapping[str, Mapping[str, Any]],
) -> None:
    schedule = records.schedule_cancel_ms
    conn.executemany(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)",
        [
            ("balance", str(records.balance)),
            ("next_order_id", str(records.next_order_id)),
            ("next_trade_id", str(records.next_trade_id)),
            ("schedule_cancel_ms", None if schedule is None else str(schedule)),
            ("funding_hour", None if records.funding_hour is None else str(records.funding_hour)),
        ],
    )
    for coin, paid in records.funding.items():
        if paid == 0:
            conn.execute("DELETE FROM funding WHERE coin = ?", (coin,))
        else:
            conn.execute("INSERT OR REPLACE INTO funding VALUES (?, ?)", (coin, str(paid)))
    conn.executemany(  # only these columns of a placed order change; indexes on others stay put
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (exchange_id) "
        "DO UPDATE SET remaining = excluded.remaining, status = excluded.status, "
        "reason = excluded.reason",
        [
            (
                o.exchange_id,
                o.coin,
                o.side.value,
                str(o.price),
                str(o.size),
                str(o.remaining),
                o.client_id,
                o.status.value,
                o.timestamp_ms,
                o.tif.value,
                int(o.reduce_only),
                records.reasons.get(o.exchange_id),
            )
            for o in records.orders
        ],
    )
    conn.executemany(
        "INSERT INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                f.trade_id,
                f.venue,
                f.coin,
                f.exchange_order_id,
                f.client_id,
                f.side.value,
                str(f.price),
                str(f.size),
                str(f.fee),
                f.timestamp_ms,
                int(f.is_taker),
            )
            for f in records.fills
        ],
    )
    for p in records.positions:
        if p.size == 0:
            conn.execute("DELETE FROM positions WHERE coin = ?", (p.coin,))
        else:
            conn.execute(
                "INSERT OR REPLACE INTO positions VALUES (?, ?, ?)",
                (p.coin, str(p.size), str(p.entry_price)),
            )
    conn.executemany(
        "INSERT OR REPLACE INTO markets VALUES (?, ?, ?, ?)",
        [(m.coin, str(m.mid), str(m.bid_depth), str(m.ask_depth)) for m in records.markets],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO paths VALUES (?, ?)",
        [(coin, json.dumps(state, sort_keys=True)) for coin, state in path_states.items()],
    )
