"""One SQLite journal per bot: fills, orders, intents, the state row and adjustments.

SQLite in WAL mode with ``synchronous=FULL`` because a committed transaction then survives kill -9
and power loss, and a transaction is all-or-nothing: "fill recorded" and "position changed" can
never disagree (DESIGN §3 Store, §4). The state row carries a schema version and a CRC of its
canonical form, so a hand-edited or torn row is refused on load instead of trading on a wrong
position. One connection, used from the engine's event-loop thread only.

A journal file gridtui did not write is never changed: a new journal is built under a temporary
name and linked into place complete, so a journal that is empty (0 bytes), not a database, or holds
a value that is not a number was damaged after the fact, and opening it raises ``StoreCorrupted``
with one line naming the file and the fix — the bytes stay as they were for a backup to be
compared or a row to be mended. A write the disk refuses (full, read-only, I/O error) raises
``JournalWriteError``: the transaction is rolled back and nothing in memory moved.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import sqlite3
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import attrs

from gridtui.core.types import Fill, OrderRequest, OrderStatus, Side, Tif
from gridtui.state.accounting import (
    BotState,
    HaltKind,
    PositionCorrection,
    from_canonical,
    to_canonical,
)
from gridtui.state.records import Adjustment, OrderRecord

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
"""2 added ``halt_kind`` to the state row. A version-1 row is still read (its checksum over the
version-1 fields) and the column is added by the first write, so an old journal opens unchanged
for reading and upgrades itself when the bot next writes."""
TABLES = frozenset({"fills", "orders", "intents", "state", "adjustments"})
CACHE_KIB = 512
"""SQLite's page cache per journal connection. The default (2 MiB) fills as the journal grows,
which with ten bots read as a leak (issue 8, failure 11); the hot pages of an append-mostly
journal (the tails of ``fills`` and its indexes, the state row, recent orders) fit in far less."""
_RESTORE = "gridtui left it unchanged; restore it from a backup"

_STATE_FIELDS: tuple[str, ...] = tuple(f.name for f in attrs.fields(BotState))
_V1_STATE_FIELDS = tuple(name for name in _STATE_FIELDS if name != "halt_kind")
_LIVE = tuple(s.value for s in OrderStatus if s.is_live)
_FILL_COLUMNS = (
    "venue, coin, trade_id, exchange_order_id, client_id, side, price, size, fee, "
    "timestamp_ms, is_taker"
)
INSERT_FILL = f"INSERT OR IGNORE INTO fills ({_FILL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
UPSERT_STATE = (
    f"INSERT OR REPLACE INTO state (id, schema_version, {', '.join(_STATE_FIELDS)}, crc) "
    f"VALUES ({','.join('?' * (len(_STATE_FIELDS) + 3))})"
)
UPDATE_ORDER = (
    "UPDATE orders SET status = ?, exchange_id = COALESCE(?, exchange_id), "
    "filled = COALESCE(?, filled), updated_ms = ?, "
    "last_error = COALESCE(?, last_error) WHERE client_id = ?"
)
"""Parameters: status, exchange id, filled, updated ms, last error (None keeps each stored
value but ``updated_ms``), client id."""
_INTENT_COLUMNS = (
    "coin, side, price, size, client_id, tif, reduce_only, level, generation, created_ms"
)
_ORDER_COLUMNS = (
    "client_id, exchange_id, coin, side, price, size, filled, level, generation, status, tif, "
    "reduce_only, created_ms, updated_ms, last_error"
)

_WATERMARKS_TABLE = (
    "CREATE TABLE IF NOT EXISTS watermarks (name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
)
"""Added after the first release: created by the first write in older journals."""

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
{_WATERMARKS_TABLE};
"""


class StoreError(Exception):
    """The journal cannot be used as required (e.g. the filesystem refuses WAL mode)."""


class StoreCorrupted(StoreError):
    """The journal cannot be trusted (bad checksum, unknown schema, unreadable file, another bot's
    database). The bot must not start on it: trading on a wrong position is worse than stopping."""


class JournalWriteError(StoreError):
    """The disk refused a journal write (full, read-only, I/O error, locked by another process).
    The transaction was rolled back and memory left as it was, so nothing is half-recorded; the
    bot must halt (cancel its orders: the exchange does not need our disk) rather than crash-loop.
    """


class Store:
    """The durable journal of one bot (see module docstring)."""

    def __init__(self, path: Path, *, venue: str, bot: str, coin: str) -> None:
        self.path = Path(path)
        self.venue, self.bot, self.coin = venue, bot, coin
        self._depth = 0
        self._on_commit: list[Callable[[], None]] = []
        self._on_rollback: list[Callable[[], None]] = []
        if not os.path.lexists(self.path):
            _create_journal(self.path)
        check_journal_file(self.path)
        empty = self._inspect()
        self._conn = self._connect("rw")
        try:
            self._prepare(create_schema=empty)
        except BaseException:
            self._conn.close()
            raise

    def _connect(self, mode: str) -> sqlite3.Connection:
        """A connection that never creates the file (``_create_journal`` does)."""
        uri = f"{self.path.resolve().as_uri()}?mode={mode}"
        try:
            return sqlite3.connect(uri, uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise _write_error(self.path, "open", exc) from exc

    def _inspect(self) -> bool:
        """Check what the file holds through a read-only connection, which cannot change a byte
        of it (a read-write one would fold the WAL into the file on close): a damaged journal is
        refused before anything writes to it. True for a database without tables."""
        # Without a -wal file everything is in the main file: "immutable" then reads it without
        # creating the -wal/-shm files a WAL database otherwise gets on open.
        has_wal = os.path.lexists(f"{self.path}-wal")
        with contextlib.closing(self._connect("ro" if has_wal else "ro&immutable=1")) as conn:
            with self._readable("open"):
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if not tables:
                # Only an interrupted first start of an older gridtui leaves a valid database
                # with no tables (it had nothing to record yet): finish what it began.
                return True
            if not TABLES <= tables:
                missing = ", ".join(sorted(TABLES - tables))
                raise StoreCorrupted(
                    f"{self.path}: not a gridtui journal (no {missing} table); {_RESTORE}, or "
                    "point data_dir elsewhere"
                )
            self._check_fill_values(conn)
        return False

    def _prepare(self, *, create_schema: bool) -> None:
        with self._readable("open"):
            mode = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
        if create_schema:
            try:
                self._conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
            except sqlite3.OperationalError as exc:
                raise _write_error(self.path, "creation", exc) from exc
        if str(mode).lower() != "wal":
            try:
                mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                raise _write_error(self.path, "switch to WAL mode", exc) from exc
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: SQLite refused WAL journal mode (got {mode!r})")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        with self._readable("open"):
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(state)")}
        self._state_v2 = "halt_kind" in columns

    def _check_fill_values(self, conn: sqlite3.Connection) -> None:
        """Refuse a fill row whose price, size or fee is not a number ('abc', NaN, Infinity,
        '', a blob): the audit replays every fill, so such a row means the books can no longer
        be proven. A SQL pattern test (one pass, no row reaches Python) — a malformed number
        that gets past it is still refused when the row is read (``_fill``)."""
        bad = " OR ".join(
            f"typeof({c}) <> 'text' OR {c} GLOB '*[^0-9.E+-]*' OR {c} NOT GLOB '*[0-9]*'"
            for c in ("price", "size", "fee")
        )
        sql = f"SELECT trade_id, price, size, fee FROM fills WHERE {bad} ORDER BY seq LIMIT 1"
        with self._readable("read the fills"):
            row = conn.execute(sql).fetchone()
        if row is not None:
            for column, value in zip(("price", "size", "fee"), row[1:], strict=True):
                _decimal(self.path, f"fill {row[0]}", column, value)

    def close(self) -> None:
        self._conn.close()

    # ---- state row -------------------------------------------------------------------------

    def load_state(self) -> BotState | None:
        """The saved state, or None for a new database. Raises ``StoreCorrupted`` when the row's
        schema version, checksum or content is wrong, or it belongs to another bot."""
        columns = _STATE_FIELDS if self._state_v2 else _V1_STATE_FIELDS
        sql = f"SELECT schema_version, crc, {', '.join(columns)} FROM state WHERE id = 1"
        with self._readable("read the state row"):
            row = self._conn.execute(sql).fetchone()
        if row is None:
            return None
        version, crc, *fields = row
        raw = dict(zip(columns, fields, strict=True))
        if version == 1:
            fields_of_version = _V1_STATE_FIELDS
        elif version == SCHEMA_VERSION and self._state_v2:
            fields_of_version = _STATE_FIELDS
        else:
            raise StoreCorrupted(
                f"{self.path}: state row has schema version {version!r}, "
                f"this build reads versions 1 and {SCHEMA_VERSION}; {_RESTORE}"
            )
        if _crc(raw, version, fields_of_version) != crc:
            raise StoreCorrupted(
                f"{self.path}: state row checksum mismatch (row was altered); {_RESTORE}"
            )
        if version == 1:
            raw["halt_kind"] = _halt_kind_of_version_1(raw)
        try:
            state = from_canonical(raw)
        except (ValueError, ArithmeticError, TypeError) as exc:
            raise StoreCorrupted(
                f"{self.path}: state row does not parse ({exc}); {_RESTORE}"
            ) from exc
        if to_canonical(state) != raw:
            raise StoreCorrupted(f"{self.path}: state row is not in canonical form; {_RESTORE}")
        if (state.bot, state.coin) != (self.bot, self.coin):
            raise StoreCorrupted(
                f"{self.path}: holds bot {state.bot!r} on {state.coin!r}, "
                f"expected bot {self.bot!r} on {self.coin!r}"
            )
        return state

    def save_state(self, state: BotState) -> None:
        self._check_state(state)
        with self.transaction():
            self._write_state(state)

    # ---- fills -----------------------------------------------------------------------------

    def commit_fill(self, fill: Fill, new_state: BotState) -> bool:
        """Journal ``fill`` and, only if it was new, ``new_state`` — in one transaction, so a crash
        leaves both or neither. Returns whether the fill was new."""
        self._check_state(new_state)
        with self.transaction():
            (inserted,) = self.insert_fills([fill])
            if inserted:
                self._write_state(new_state)
        return inserted

    def insert_fills(self, fills: Sequence[Fill]) -> list[bool]:
        """Insert each fill the journal does not hold yet (unique on venue, coin, trade id), in
        the order given — the order ``applied_fills`` returns them. Which ones were new; a fill
        repeated within ``fills`` is new only once.

        Part of the caller's transaction (``StoreError`` if none is open): the caller writes
        the state those fills produce in the same transaction, so fills and state commit
        together or not at all. One ``executemany`` for the whole burst, and one lookup more
        only when the unique key turned some away.
        """
        if not self._depth:
            raise StoreError(f"{self.path}: fills are only inserted inside a transaction")
        for fill in fills:
            if fill.venue != self.venue or fill.coin != self.coin:
                raise ValueError(
                    f"fill {fill.trade_id} is {fill.venue}/{fill.coin}, "
                    f"this journal is {self.venue}/{self.coin}"
                )
        if not fills:
            return []
        with self._readable("read the fills"):
            last_seq = self._conn.execute("SELECT MAX(seq) FROM fills").fetchone()[0] or 0
        cursor = self._conn.executemany(INSERT_FILL, [fill_row(fill) for fill in fills])
        if cursor.rowcount == len(fills):
            return [True] * len(fills)  # the common case: no duplicate, nothing to look up
        # Some were ignored (already journaled, or repeated in ``fills``): the rows this
        # statement added are those past the previous last seq, each the first of its trade id.
        sql = "SELECT trade_id FROM fills WHERE seq > ?"
        added = {row[0] for row in self._conn.execute(sql, (last_seq,))}
        new = []
        for fill in fills:
            new.append(fill.trade_id in added)
            added.discard(fill.trade_id)
        return new

    def recent_fill_keys(self, limit: int) -> list[tuple[str, str, int]]:
        """Keys of the ``limit`` fills journaled last, oldest first: what a bounded dedup
        memory is seeded with (older ones are answered by the unique key)."""
        sql = "SELECT venue, coin, trade_id FROM fills ORDER BY seq DESC LIMIT ?"
        with self._readable("read the fills"):
            rows = self._conn.execute(sql, (limit,)).fetchall()
        return [(venue, coin, trade_id) for venue, coin, trade_id in reversed(rows)]

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
        with self._readable("read the fills"):
            rows = self._conn.execute(f"{sql} ORDER BY timestamp_ms, trade_id", (since,))
            return [self._fill(row) for row in rows]

    def applied_fills(self) -> list[Fill]:
        """Every fill in the order it was applied to the state — the order ``replay`` needs to
        reproduce the state bit for bit (a late fill is applied after newer ones)."""
        with self._readable("read the fills"):
            rows = self._conn.execute(f"SELECT {_FILL_COLUMNS} FROM fills ORDER BY seq")
            return [self._fill(row) for row in rows]

    def fill_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0])

    # ---- orders and intents ----------------------------------------------------------------

    def record_intent(
        self, request: OrderRequest, *, level: int | None, generation: int, created_ms: int
    ) -> None:
        """Journal that ``request`` is about to be sent, durably, before it is sent; the order
        row starts in PENDING_SUBMIT. Re-recording the same request (a resend) only logs another
        intent; reusing its client id for a different request raises ``ValueError``."""
        with self.transaction():
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
        with self.transaction():
            cursor = self._conn.execute(
                UPDATE_ORDER,
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
        with self._readable("read the orders"):
            rows = self._conn.execute(f"{sql} ORDER BY created_ms, client_id", params)
            return [self._order(row) for row in rows]

    def order(self, client_id: str) -> OrderRecord | None:
        sql = f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_id = ?"
        with self._readable("read the orders"):
            row = self._conn.execute(sql, (client_id,)).fetchone()
        return None if row is None else self._order(row)

    def order_by_exchange_id(self, exchange_id: int) -> OrderRecord | None:
        sql = f"SELECT {_ORDER_COLUMNS} FROM orders WHERE exchange_id = ? ORDER BY created_ms"
        with self._readable("read the orders"):
            row = self._conn.execute(sql, (exchange_id,)).fetchone()
        return None if row is None else self._order(row)

    def next_generation(self, level: int) -> int:
        """1 + the highest generation ever journaled for ``level`` (0 if none), so a fresh client
        id never collides with one sent before a crash."""
        sql = "SELECT MAX(generation) FROM intents WHERE level = ?"
        highest = self._conn.execute(sql, (level,)).fetchone()[0]
        return 0 if highest is None else int(highest) + 1

    # ---- adjustments -----------------------------------------------------------------------

    # ---- fill catch-up watermark ------------------------------------------------------------

    def fills_confirmed_ms(self) -> int | None:
        """Up to when the exchange's own fill history (not the stream) has been read into this
        journal; None before the first complete catch-up (a journal of an older version)."""
        try:
            row = self._conn.execute(
                "SELECT value FROM watermarks WHERE name = 'fills_confirmed_ms'"
            ).fetchone()
        except sqlite3.OperationalError:
            return None  # a journal of an older version: the table comes with the first write
        return None if row is None else int(row[0])

    def confirm_fills_up_to(self, ms: int) -> None:
        """Move the watermark forward (never back): every fill before ``ms`` is journaled."""
        with self.transaction():
            self._conn.execute(_WATERMARKS_TABLE)
            self._conn.execute(
                "INSERT INTO watermarks (name, value) VALUES ('fills_confirmed_ms', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value)",
                (ms,),
            )

    def initial_position_held_ms(self) -> int | None:
        """When the bot first held its ``initial_position`` (None: not yet): from then on its
        inventory is the grid's to trade, never topped up again."""
        try:
            row = self._conn.execute(
                "SELECT value FROM watermarks WHERE name = 'initial_position_held_ms'"
            ).fetchone()
        except sqlite3.OperationalError:
            return None  # a journal of an older version: the table comes with the first write
        return None if row is None else int(row[0])

    def mark_initial_position_held(self, ms: int) -> None:
        with self.transaction():
            self._conn.execute(_WATERMARKS_TABLE)
            self._conn.execute(
                "INSERT INTO watermarks (name, value) VALUES ('initial_position_held_ms', ?) "
                "ON CONFLICT (name) DO NOTHING",
                (ms,),
            )

    def commit_adjustment(
        self, field: str, old: str, new: str, reason: str, timestamp_ms: int, new_state: BotState
    ) -> None:
        self._check_state(new_state)
        with self.transaction():
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

    def position_corrections(self) -> list[PositionCorrection]:
        """The position corrections among the adjustments, where ``replay`` applies them."""
        out = []
        for adjustment in self.adjustments():
            if adjustment.field == "position":
                position, avg = adjustment.new_value.split("@")
                out.append(
                    PositionCorrection(adjustment.fills_before, Decimal(position), Decimal(avg))
                )
        return out

    # ---- transactions ----------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: everything written inside commits together with one fsync, or is
        rolled back. A transaction opened inside another is part of it. Memory that mirrors the
        journal is updated through ``after_commit``, so it only moves once the disk has.

        A write the disk refuses raises ``JournalWriteError``; a file found damaged,
        ``StoreCorrupted``; any other exception propagates unchanged. The transaction is rolled
        back in every case.
        """
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            failure = self._failure("begin a transaction", exc)
            if failure is exc:
                raise
            raise failure from exc
        self._depth = 1
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException as exc:
            self._depth = 0
            self._roll_back()
            failure = self._failure("write", exc)
            log.error("%s: transaction rolled back: %s", self.path, failure)
            if failure is exc:
                raise
            raise failure from exc
        finally:
            self._depth = 0
        hooks, self._on_commit, self._on_rollback = self._on_commit, [], []
        for hook in hooks:
            hook()

    def after_commit(
        self, on_commit: Callable[[], None], on_rollback: Callable[[], None] | None = None
    ) -> None:
        """Run ``on_commit`` once the enclosing transaction commits (at once outside one), or
        ``on_rollback`` if it is rolled back instead."""
        if not self._depth:
            on_commit()
            return
        self._on_commit.append(on_commit)
        if on_rollback is not None:
            self._on_rollback.append(on_rollback)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Journal a burst of order writes (a grid's intents, a cancel-all) in ONE durable
        transaction: one fsync instead of one per order. Everything inside is committed before
        the block exits, so "journaled before sent" holds when the send follows the block."""
        with self.transaction():
            yield

    # ---- internals -------------------------------------------------------------------------

    def _roll_back(self) -> None:
        if self._conn.in_transaction:
            # After an I/O error SQLite may refuse even this; it then rolls back by itself.
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
        hooks, self._on_commit, self._on_rollback = self._on_rollback, [], []
        for hook in hooks:
            hook()

    def _failure(self, what: str, exc: BaseException) -> BaseException:
        """The exception a failed transaction raises: disk errors as ``JournalWriteError``, a
        damaged file as ``StoreCorrupted``, anything else (a bug, a refused value) unchanged."""
        if isinstance(exc, sqlite3.OperationalError):
            return _write_error(self.path, what, exc)
        if type(exc) is sqlite3.DatabaseError:  # SQLITE_CORRUPT / SQLITE_NOTADB
            return StoreCorrupted(f"{self.path}: cannot {what}: {exc}; {_RESTORE}")
        return exc

    @contextlib.contextmanager
    def _readable(self, what: str) -> Iterator[None]:
        """Turn SQLite's "not a database" / "malformed" errors into ``StoreCorrupted``; operational
        errors (locked, I/O) into ``StoreError``, each one line naming the file."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: cannot {what} ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupted(f"{self.path}: cannot {what}: {exc}; {_RESTORE}") from exc

    def _fill(self, row: tuple[Any, ...]) -> Fill:
        venue, coin, tid, oid, cid, side, price, size, fee, ts, taker = row
        where = f"fill {tid}"
        price = _decimal(self.path, where, "price", price, positive=True)
        size = _decimal(self.path, where, "size", size, positive=True)
        fee = _decimal(self.path, where, "fee", fee)
        return Fill(venue, coin, tid, oid, cid, _side(self.path, where, side), price, size, fee,
                    ts, bool(taker))  # fmt: skip

    def _order(self, row: tuple[Any, ...]) -> OrderRecord:
        cid, eid, coin, side, price, size, filled, level, gen, status, tif, ro, *rest = row
        where = f"order {cid}"
        try:
            status, tif = OrderStatus(status), Tif(tif)
        except ValueError as exc:
            raise StoreCorrupted(f"{self.path}: {where}: {exc}; {_RESTORE}") from None
        side = _side(self.path, where, side)
        price = _decimal(self.path, where, "price", price, positive=True)
        size = _decimal(self.path, where, "size", size, positive=True)
        filled = _decimal(self.path, where, "filled", filled)
        return OrderRecord(
            cid, eid, coin, side, price, size, filled, level, gen, status, tif, bool(ro), *rest
        )

    def _check_state(self, state: BotState) -> None:
        if (state.bot, state.coin) != (self.bot, self.coin):
            raise ValueError(f"state of {state.bot}/{state.coin} is not for journal {self.path}")

    def _write_state(self, state: BotState) -> None:
        if not self._state_v2:
            self._add_halt_kind_column()
        self._conn.execute(UPSERT_STATE, state_row(state))

    def _add_halt_kind_column(self) -> None:
        """Upgrade a version-1 table in the transaction that writes its first version-2 row
        (the flag follows the transaction: a rollback undoes the column too)."""
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(state)")}
        if "halt_kind" not in columns:
            self._conn.execute("ALTER TABLE state ADD COLUMN halt_kind TEXT")
        self._state_v2 = True
        self.after_commit(lambda: None, self._forget_state_v2)

    def _forget_state_v2(self) -> None:
        self._state_v2 = False


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


def _crc(
    values: Mapping[str, Any],
    version: int = SCHEMA_VERSION,
    fields: tuple[str, ...] = _STATE_FIELDS,
) -> int:
    """CRC-32 of the canonical serialization: the schema version and every field, in order."""
    canonical = json.dumps(
        [version, [[name, values[name]] for name in fields]],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return zlib.crc32(canonical.encode("ascii"))


def _halt_kind_of_version_1(raw: Mapping[str, str | None]) -> str | None:
    """A version-1 row kept the halt's kind only as its reason's prefix (the risk engine's
    ``drawdown: ...`` and ``daily_loss: ...``); read once here, never again once rewritten."""
    if raw["halted"] != "1":
        return None
    reason = raw["halt_reason"] or ""
    for prefix, kind in (("drawdown", HaltKind.DRAWDOWN), ("daily_loss", HaltKind.DAILY_LOSS)):
        if reason.startswith(prefix):
            return kind.value
    return HaltKind.MANUAL.value


def state_row(state: BotState) -> tuple[Any, ...]:
    """The books as their ``state`` row (``UPSERT_STATE``'s order), with its checksum."""
    values = to_canonical(state)
    return (1, SCHEMA_VERSION, *(values[k] for k in _STATE_FIELDS), _crc(values))


def fill_row(fill: Fill) -> tuple[Any, ...]:
    """A fill as its ``fills`` row (``INSERT_FILL``'s order); the hot path, so spelled out."""
    return (
        fill.venue, fill.coin, fill.trade_id, fill.exchange_order_id, fill.client_id,
        fill.side.value, str(fill.price), str(fill.size), str(fill.fee), fill.timestamp_ms,
        int(fill.is_taker),
    )  # fmt: skip


def _decimal(
    path: Path, where: str, column: str, value: object, *, positive: bool = False
) -> Decimal:
    """A stored amount, or ``StoreCorrupted`` naming the row: gridtui only ever writes finite
    decimals as text, so anything else was written by someone else."""
    try:
        number = Decimal(value) if isinstance(value, str) else None
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite() or (positive and number <= 0):
        raise StoreCorrupted(
            f"{path}: {where} has {column} {value!r}, not a "
            f"{'positive ' if positive else ''}number; the journal was edited or damaged — "
            f"{_RESTORE} (or correct that row)"
        )
    return number


def _side(path: Path, where: str, value: object) -> Side:
    try:
        return Side(value)
    except ValueError:
        raise StoreCorrupted(
            f"{path}: {where} has side {value!r} (expected B or A); {_RESTORE}"
        ) from None


_WRITE_FIXES = {
    "SQLITE_FULL": "free space on its disk",
    "SQLITE_READONLY": "make the file and its folder writable",
    "SQLITE_CANTOPEN": "make sure its folder exists and is writable",
    "SQLITE_IOERR": "check the disk (dmesg) and free space",
    "SQLITE_BUSY": "another process is writing it; stop that process",
    "SQLITE_LOCKED": "another process is writing it; stop that process",
    "SQLITE_PERM": "make the file and its folder writable",
}


def _write_error(path: Path, what: str, exc: sqlite3.Error) -> JournalWriteError:
    """One line: the file, what failed, SQLite's reason and what to do about it."""
    name = str(getattr(exc, "sqlite_errorname", ""))
    fix = next(
        (fix for code, fix in _WRITE_FIXES.items() if name.startswith(code)),
        "check the disk and the file's permissions",
    )
    return JournalWriteError(
        f"{path}: journal {what} failed ({exc}); {fix} — nothing of it was recorded"
    )


def check_journal_file(path: Path) -> None:
    """Raise ``StoreCorrupted`` when ``path`` cannot be a journal, before SQLite touches it.

    An empty file above all: SQLite would take it for a new database and the bot would start
    with empty books while the exchange still holds its position. gridtui never leaves an empty
    journal behind (``_create_journal`` links a finished one into place), so an empty file was
    truncated by something else (a full disk during a copy or restore, an editor, ``>``) and
    what it held is gone from it — the trader must be told, not handed a fresh journal.
    """
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise StoreCorrupted(f"{path}: journal not found") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the journal ({exc.strerror})") from None
    if size == 0:
        raise StoreCorrupted(
            f"{path}: journal is empty (0 bytes) — gridtui never leaves one empty, so it was "
            f"truncated and its books are gone from it; {_RESTORE}, or delete it if this bot "
            "never traded"
        )
    with contextlib.suppress(OSError), open(path, "rb") as head:
        if not head.read(16).startswith(b"SQLite format 3"):
            raise StoreCorrupted(
                f"{path}: not a journal (not an SQLite database); {_RESTORE}, or move it "
                "aside to start this bot with empty books"
            )


def _create_journal(path: Path) -> None:
    """Build a new journal (WAL mode, full schema) under a temporary name and link it into
    place complete, so no crash or power cut can leave an empty or half-made journal at
    ``path`` — which is what lets ``check_journal_file`` call an empty one truncated."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JournalWriteError(
            f"{path.parent}: cannot create the journal folder ({exc.strerror})"
        ) from None
    partial = path.with_name(f".{path.name}.new")
    for leftover in (partial, *(partial.with_name(partial.name + s) for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)  # a crash during an earlier creation; never a journal
    try:
        conn = sqlite3.connect(partial, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
        finally:
            conn.close()  # the last connection: the WAL is folded into the file and removed
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(partial, path)  # never replaces a journal that appeared meanwhile
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links
            if not os.path.lexists(path):
                os.replace(partial, path)
        partial.unlink(missing_ok=True)
        sync_dir(path.parent)
    except sqlite3.Error as exc:
        raise _write_error(path, "creation", exc) from exc
    except OSError as exc:
        raise JournalWriteError(f"{path}: cannot create the journal ({exc.strerror})") from None


def sync_dir(folder: Path) -> None:
    """Make a new name in ``folder`` durable (a crash may otherwise undo the link)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
