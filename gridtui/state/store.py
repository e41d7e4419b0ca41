"""One SQLite journal per bot: fills, orders, intents, the state row and adjustments.

SQLite in WAL mode with ``synchronous=FULL`` because a committed transaction then survives kill -9
and power loss, and a transaction is all-or-nothing: "fill recorded" and "position changed" can
never disagree (DESIGN §3 Store, §4). The state row carries a schema version and a CRC of its
canonical form, so a hand-edited or torn row is refused on load instead of trading on a wrong
position. One connection, used from the engine's event-loop thread only.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import sqlite3
import zlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from gridtui.core.types import Fill, OrderRequest, OrderStatus, Side, Tif
from gridtui.state.accounting import BotState, from_canonical, to_canonical
from gridtui.state.records import Adjustment, OrderRecord

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_STATE_FIELDS: tuple[str, ...] = tuple(f.name for f in attrs.fields(BotState))
_LIVE = tuple(s.value for s in OrderStatus if s.is_live)
_FILL_COLUMNS = (
    "venue, coin, trade_id, exchange_order_id, client_id, side, price, size, fee, "
    "timestamp_ms, is_taker"
)
_INTENT_COLUMNS = (
    "coin, side, price, size, client_id, tif, reduce_only, level, generation, created_ms"
)
_ORDER_COLUMNS = (
    "client_id, exchange_id, coin, side, price, size, filled, level, generation, status, tif, "
    "reduce_only, created_ms, updated_ms, last_error"
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS fills (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, venue TEXT NOT NULL, coin TEXT NOT NULL,
    trade_id INTEGER NOT NULL, exchange_order_id INTEGER NOT NULL, client_id TEXT,
    side TEXT NOT NULL, price TEXT NOT NULL, size TEXT NOT NULL, fee TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL, is_taker INTEGER NOT NULL, UNIQUE (venue, coin, trade_id));
CREATE INDEX IF NOT EXISTS fills_by_time ON fills (timestamp_ms, trade_id);
CREATE TABLE IF NOT EXISTS orders (
    client_id TEXT PRIMARY KEY, exchange_id INTEGER, coin TEXT NOT NULL, side TEXT NOT NULL,
    price TEXT NOT NULL, size TEXT NOT NULL, filled TEXT NOT NULL, level INTEGER,
    generation INTEGER NOT NULL, status TEXT NOT NULL, tif TEXT NOT NULL,
    reduce_only INTEGER NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    last_error TEXT);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status);
CREATE INDEX IF NOT EXISTS orders_by_exchange_id ON orders (exchange_id);
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT NOT NULL, coin TEXT NOT NULL,
    side TEXT NOT NULL, price TEXT NOT NULL, size TEXT NOT NULL, tif TEXT NOT NULL,
    reduce_only INTEGER NOT NULL, level INTEGER, generation INTEGER NOT NULL,
    created_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS intents_by_level ON intents (level, generation);
CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 1), schema_version INTEGER NOT NULL,
    {", ".join(f"{name} TEXT" for name in _STATE_FIELDS)}, crc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS adjustments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp_ms INTEGER NOT NULL, field TEXT NOT NULL,
    old_value TEXT NOT NULL, new_value TEXT NOT NULL, reason TEXT NOT NULL,
    fills_before INTEGER NOT NULL);
"""


class StoreError(Exception):
    """The journal cannot be used as required (e.g. the filesystem refuses WAL mode)."""


class StoreCorrupted(StoreError):
    """The journal cannot be trusted (bad checksum, unknown schema, unreadable file, another bot's
    database). The bot must not start on it: trading on a wrong position is worse than stopping."""


class Store:
    """The durable journal of one bot (see module docstring)."""

    def __init__(self, path: Path, *, venue: str, bot: str, coin: str) -> None:
        self.path = Path(path)
        self.venue, self.bot, self.coin = venue, bot, coin
        self._batching = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            with self._readable("open"):
                mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: SQLite refused WAL journal mode (got {mode!r})")
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    # ---- state row -------------------------------------------------------------------------

    def load_state(self) -> BotState | None:
        """The saved state, or None for a new database. Raises ``StoreCorrupted`` when the row's
        schema version, checksum or content is wrong, or it belongs to another bot."""
        sql = f"SELECT schema_version, crc, {', '.join(_STATE_FIELDS)} FROM state WHERE id = 1"
        with self._readable("read the state row"):
            row = self._conn.execute(sql).fetchone()
        if row is None:
            return None
        version, crc, *fields = row
        if version != SCHEMA_VERSION:
            raise StoreCorrupted(
                f"{self.path}: state row has schema version {version!r}, "
                f"this build reads version {SCHEMA_VERSION}"
            )
        raw = dict(zip(_STATE_FIELDS, fields, strict=True))
        if _crc(raw) != crc:
            raise StoreCorrupted(f"{self.path}: state row checksum mismatch (row was altered)")
        try:
            state = from_canonical(raw)
        except (ValueError, ArithmeticError, TypeError) as exc:
            raise StoreCorrupted(f"{self.path}: state row does not parse: {exc}") from exc
        if to_canonical(state) != raw:
            raise StoreCorrupted(f"{self.path}: state row is not in canonical form")
        if (state.bot, state.coin) != (self.bot, self.coin):
            raise StoreCorrupted(
                f"{self.path}: holds bot {state.bot!r} on {state.coin!r}, "
                f"expected bot {self.bot!r} on {self.coin!r}"
            )
        return state

    def save_state(self, state: BotState) -> None:
        self._check_state(state)
        with self._transaction():
            self._write_state(state)

    # ---- fills -----------------------------------------------------------------------------

    def commit_fill(self, fill: Fill, new_state: BotState) -> bool:
        """Journal ``fill`` and, only if it was new, ``new_state`` — in one transaction, so a crash
        leaves both or neither. Returns whether the fill was new."""
        if (fill.venue, fill.coin) != (self.venue, self.coin):
            raise ValueError(
                f"fill {fill.trade_id} is {fill.venue}/{fill.coin}, "
                f"this journal is {self.venue}/{self.coin}"
            )
        if self._batching:
            raise StoreError(f"{self.path}: a fill is never journaled inside an order batch")
        self._check_state(new_state)
        with self._transaction():
            cursor = self._conn.execute(
                f"INSERT OR IGNORE INTO fills ({_FILL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                _sql_row(fill),
            )
            inserted = cursor.rowcount == 1
            if inserted:
                self._write_state(new_state)
        return inserted

    def fill_keys(self) -> set[tuple[str, str, int]]:
        rows = self._conn.execute("SELECT venue, coin, trade_id FROM fills").fetchall()
        return {(venue, coin, trade_id) for venue, coin, trade_id in rows}

    def has_fill(self, key: tuple[str, str, int]) -> bool:
        sql = "SELECT 1 FROM fills WHERE venue = ? AND coin = ? AND trade_id = ?"
        return self._conn.execute(sql, key).fetchone() is not None

    def fills(self, since_ms: int | None = None) -> list[Fill]:
        """Journaled fills with ``timestamp_ms >= since_ms``, ordered by (timestamp, trade id)."""
        sql = f"SELECT {_FILL_COLUMNS} FROM fills WHERE timestamp_ms >= ? "
        since = -(2**63) if since_ms is None else since_ms
        rows = self._conn.execute(f"{sql} ORDER BY timestamp_ms, trade_id", (since,)).fetchall()
        return [_fill(row) for row in rows]

    def applied_fills(self) -> list[Fill]:
        """Every fill in the order it was applied to the state — the order ``replay`` needs to
        reproduce the state bit for bit (a late fill is applied after newer ones)."""
        rows = self._conn.execute(f"SELECT {_FILL_COLUMNS} FROM fills ORDER BY seq").fetchall()
        return [_fill(row) for row in rows]

    def fill_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0])

    # ---- orders and intents ----------------------------------------------------------------

    def record_intent(
        self, request: OrderRequest, *, level: int | None, generation: int, created_ms: int
    ) -> None:
        """Journal that ``request`` is about to be sent, durably, before it is sent; the order
        row starts in PENDING_SUBMIT. Re-recording the same request (a resend) only logs another
        intent; reusing its client id for a different request raises ``ValueError``."""
        with self._transaction():
            existing = self.order(request.client_id)
            if existing is not None and (
                existing.request != request
                or (existing.level, existing.generation) != (level, generation)
            ):
                raise ValueError(
                    f"client id {request.client_id} already journaled for another order"
                )
            values = (*_sql_row(request), level, generation, created_ms)
            self._conn.execute(
                f"INSERT INTO intents ({_INTENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", values
            )
            if existing is None:
                self._conn.execute(
                    f"INSERT INTO orders ({_INTENT_COLUMNS}, filled, status, updated_ms) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (*values, "0", OrderStatus.PENDING_SUBMIT.value, created_ms),
                )

    def update_order(
        self,
        client_id: str,
        *,
        status: OrderStatus,
        exchange_id: int | None = None,
        filled: Decimal | None = None,
        updated_ms: int,
        last_error: str | None = None,
    ) -> None:
        """Persist a new status; ``None`` arguments keep the stored value. ``KeyError`` if the
        order was never journaled (every order must go through ``record_intent`` first)."""
        with self._transaction():
            cursor = self._conn.execute(
                "UPDATE orders SET status = ?, exchange_id = COALESCE(?, exchange_id), "
                "filled = COALESCE(?, filled), updated_ms = ?, "
                "last_error = COALESCE(?, last_error) WHERE client_id = ?",
                (status.value, exchange_id, _sql(filled), updated_ms, last_error, client_id),
            )
            if cursor.rowcount != 1:
                raise KeyError(f"order {client_id} was never journaled in {self.path}")

    def orders(self, *, live_only: bool = False) -> list[OrderRecord]:
        sql = f"SELECT {_ORDER_COLUMNS} FROM orders"
        params: tuple[str, ...] = ()
        if live_only:
            sql += f" WHERE status IN ({','.join('?' * len(_LIVE))})"
            params = _LIVE
        rows = self._conn.execute(f"{sql} ORDER BY created_ms, client_id", params).fetchall()
        return [_order(row) for row in rows]

    def order(self, client_id: str) -> OrderRecord | None:
        sql = f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_id = ?"
        row = self._conn.execute(sql, (client_id,)).fetchone()
        return None if row is None else _order(row)

    def order_by_exchange_id(self, exchange_id: int) -> OrderRecord | None:
        sql = f"SELECT {_ORDER_COLUMNS} FROM orders WHERE exchange_id = ? ORDER BY created_ms"
        row = self._conn.execute(sql, (exchange_id,)).fetchone()
        return None if row is None else _order(row)

    def next_generation(self, level: int) -> int:
        """1 + the highest generation ever journaled for ``level`` (0 if none), so a fresh client
        id never collides with one sent before a crash."""
        sql = "SELECT MAX(generation) FROM intents WHERE level = ?"
        highest = self._conn.execute(sql, (level,)).fetchone()[0]
        return 0 if highest is None else int(highest) + 1

    # ---- adjustments -----------------------------------------------------------------------

    def commit_adjustment(
        self, field: str, old: str, new: str, reason: str, timestamp_ms: int, new_state: BotState
    ) -> None:
        self._check_state(new_state)
        with self._transaction():
            self._conn.execute(
                "INSERT INTO adjustments (timestamp_ms, field, old_value, new_value, reason, "
                "fills_before) VALUES (?,?,?,?,?,(SELECT COUNT(*) FROM fills))",
                (timestamp_ms, field, old, new, reason),
            )
            self._write_state(new_state)

    def adjustments(self) -> list[Adjustment]:
        sql = (
            "SELECT id, timestamp_ms, field, old_value, new_value, reason, fills_before "
            "FROM adjustments"
        )
        return [Adjustment(*row) for row in self._conn.execute(f"{sql} ORDER BY id").fetchall()]

    # ---- internals -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._batching:
            yield  # part of the enclosing batch: committed (or rolled back) with it
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            log.error("%s: transaction rolled back: %r", self.path, exc)
            raise

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Journal a burst of order writes (a grid's intents, a cancel-all) in ONE durable
        transaction: one fsync instead of one per order. Everything inside is committed before
        the block exits, so "journaled before sent" holds when the send follows the block.
        Fills are never batched: each stays its own transaction with its state row."""
        if self._batching:
            yield
            return
        with self._transaction():
            self._batching = True
            try:
                yield
            finally:
                self._batching = False

    @contextlib.contextmanager
    def _readable(self, what: str) -> Iterator[None]:
        """Turn SQLite's "not a database" / "malformed" errors into ``StoreCorrupted``; operational
        errors (locked, disk full) stay what they are."""
        try:
            yield
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupted(f"{self.path}: cannot {what}: {exc}") from exc

    def _check_state(self, state: BotState) -> None:
        if (state.bot, state.coin) != (self.bot, self.coin):
            raise ValueError(f"state of {state.bot}/{state.coin} is not for journal {self.path}")

    def _write_state(self, state: BotState) -> None:
        values = to_canonical(state)
        columns = ", ".join(_STATE_FIELDS)
        marks = ",".join("?" * (len(_STATE_FIELDS) + 3))
        self._conn.execute(
            f"INSERT OR REPLACE INTO state (id, schema_version, {columns}, crc) VALUES ({marks})",
            (1, SCHEMA_VERSION, *(values[k] for k in _STATE_FIELDS), _crc(values)),
        )


def _sql(value: Any) -> Any:
    """A value as SQLite stores it: Decimals as exact text, enums by value, booleans as 0/1."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


def _sql_row(value: Fill | OrderRequest) -> tuple[Any, ...]:
    return tuple(_sql(v) for v in attrs.astuple(value, recurse=False))


def _crc(values: dict[str, Any]) -> int:
    """CRC-32 of the canonical serialization: the schema version and every field, in order."""
    canonical = json.dumps(
        [SCHEMA_VERSION, [[name, values[name]] for name in _STATE_FIELDS]],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return zlib.crc32(canonical.encode("ascii"))


def _fill(row: tuple[Any, ...]) -> Fill:
    venue, coin, tid, oid, cid, side, price, size, fee, ts, taker = row
    side, price, size, fee = Side(side), Decimal(price), Decimal(size), Decimal(fee)
    return Fill(venue, coin, tid, oid, cid, side, price, size, fee, ts, bool(taker))


def _order(row: tuple[Any, ...]) -> OrderRecord:
    cid, eid, coin, side, price, size, filled, level, gen, status, tif, ro, *rest = row
    side, status, tif = Side(side), OrderStatus(status), Tif(tif)
    price, size, filled = Decimal(price), Decimal(size), Decimal(filled)
    return OrderRecord(
        cid, eid, coin, side, price, size, filled, level, gen, status, tif, bool(ro), *rest
    )
