"""A damaged journal is refused with one line naming the file and the fix, and never changed.

Issue 8, failure 9: random bytes in a .db file, a zero-length journal and a fill row with a price
that is not a number gave tracebacks (or, for the empty file, a fresh empty journal: the bot would
have traded from flat with its books silently gone).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from gridtui.cli import main
from gridtui.core.types import Fill, Side
from gridtui.state.accounting import BotState, apply_fill
from gridtui.state.store import Store, StoreCorrupted

D = Decimal
T0 = 1_700_000_000_000


def open_store(path: Path) -> Store:
    return Store(path, venue="paper", bot="b1", coin="BTC")


def journal_with_fills(path: Path, count: int = 3) -> None:
    store = open_store(path)
    state = BotState.fresh("b1", "BTC", T0)
    for tid in range(1, count + 1):
        fill = Fill("paper", "BTC", tid, 7, None, Side.BUY, D("100.5"), D("0.1"), D("0.01"), T0)
        state, _ = apply_fill(state, fill)
        store.commit_fill(fill, state)
    store.close()


def tamper(path: Path, sql: str) -> None:
    """Closed here, not whenever the garbage collector gets to it: an open connection closed
    later, during the command under test, would checkpoint its log into the file then."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute(sql)
    finally:
        conn.close()


def fingerprint(folder: Path) -> dict[str, str]:
    """The journal files in ``folder`` (the database and its write-ahead log) with a hash of
    their bytes: none may change, appear or vanish. The ``-shm`` file is left out: it is
    SQLite's shared-memory index of the log, rebuilt at will, and holds no data."""
    files = (p for p in sorted(folder.iterdir()) if not p.name.endswith("-shm"))
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def refused(path: Path) -> str:
    before = fingerprint(path.parent)
    with pytest.raises(StoreCorrupted) as err:
        open_store(path)
    assert fingerprint(path.parent) == before, "a damaged journal was modified"
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_random_bytes_are_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "b1.db"
    path.write_bytes(os.urandom(8192))
    message = refused(path)
    assert "not a journal" in message and "restore it from a backup" in message


def test_a_zero_length_journal_is_refused_not_started_afresh(tmp_path: Path) -> None:
    path = tmp_path / "b1.db"
    path.write_bytes(b"")
    message = refused(path)
    assert "empty" in message and "restore it from a backup" in message
    assert "delete it if this bot never traded" in message
    assert path.stat().st_size == 0


def test_a_truncated_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b1.db"
    journal_with_fills(path)
    path.write_bytes(path.read_bytes()[:1500])  # the header survives, the pages do not
    refused(path)


@pytest.mark.parametrize(
    ("column", "value"),
    [("price", "abc"), ("price", "NaN"), ("size", "Infinity"), ("fee", ""), ("price", "sNaN")],
)
def test_a_fill_row_that_is_not_a_number_is_refused_at_open(
    tmp_path: Path, column: str, value: str
) -> None:
    path = tmp_path / "b1.db"
    journal_with_fills(path)
    tamper(path, f"UPDATE fills SET {column} = '{value}' WHERE trade_id = 2")
    message = refused(path)
    assert f"fill 2 has {column} {value!r}" in message
    assert "restore it from a backup" in message


@pytest.mark.parametrize(("column", "value"), [("price", "1.2.3"), ("size", "-0.1")])
def test_a_malformed_number_is_refused_when_the_fills_are_read(
    tmp_path: Path, column: str, value: str
) -> None:
    path = tmp_path / "b1.db"
    journal_with_fills(path)
    tamper(path, f"UPDATE fills SET {column} = '{value}' WHERE trade_id = 3")
    store = open_store(path)
    try:
        for read in (store.fills, store.applied_fills):
            with pytest.raises(StoreCorrupted, match=f"fill 3 has {column} '{value}'"):
                read()
    finally:
        store.close()


def test_an_order_row_with_a_bad_amount_is_refused(tmp_path: Path) -> None:
    from gridtui.core.types import OrderRequest

    path = tmp_path / "b1.db"
    store = open_store(path)
    request = OrderRequest("BTC", Side.BUY, D("100"), D("0.1"), "0x" + "a" * 32)
    store.record_intent(request, level=-1, generation=0, created_ms=T0)
    tamper(path, "UPDATE orders SET price = 'NaN'")
    with pytest.raises(StoreCorrupted, match="has price 'NaN'"):
        store.orders(live_only=True)
    store.close()


def test_a_new_journal_is_never_left_empty_or_half_made(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "b1.db"
    open_store(path).close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["b1.db"]  # no temporary left
    assert path.stat().st_size > 0
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"fills", "orders", "intents", "state", "adjustments"} <= tables
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_interrupted_first_start_of_an_older_version_is_completed(tmp_path: Path) -> None:
    """An empty but valid SQLite file (older versions created the file, then the schema) had
    nothing recorded yet: it is finished, not refused."""
    path = tmp_path / "b1.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    store = open_store(path)
    assert store.load_state() is None and store.fill_count() == 0
    store.close()


def test_a_database_of_something_else_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b1.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    message = refused(path)
    assert "not a gridtui journal" in message


# ---- through the CLI -------------------------------------------------------------------------

CONFIG = """
data_dir = "data"
[engine]
cycle_interval_s = 0.05
[venue.paper]
state_file = "data/paper.db"
speed = 60.0
[[venue.paper.markets]]
coin = "ETH"
start_price = 3000
sz_decimals = 4
[grid]
levels = 3
spacing_pct = 0.2
size = 0.01
[risk]
max_position = 10
max_notional = 100000
[[bots]]
name = "b1"
coin = "ETH"
"""


async def _run_bot_once(config_path: Path) -> None:
    """Create the bot's journal the way gridtui does (wherever the current layout puts it)."""
    from gridtui.config.loader import load_config
    from gridtui.supervisor import Supervisor

    supervisor = Supervisor(load_config(config_path))
    await supervisor.start()
    try:
        for _ in range(500):
            if supervisor.bots_running():
                break
            await asyncio.sleep(0.01)
    finally:
        await supervisor.stop()


@pytest.fixture
def journal(tmp_path: Path) -> tuple[Path, Path]:
    """(config file, the bot's journal) after one short run."""
    config_path = tmp_path / "config.toml"
    config_path.write_text(CONFIG)
    asyncio.run(_run_bot_once(config_path))
    (path,) = [p for p in (tmp_path / "data").rglob("b1.db")]
    return config_path, path


@pytest.mark.parametrize("command", ["status", "fills", "audit"])
@pytest.mark.parametrize("damage", ["random bytes", "empty", "bad price"])
def test_the_book_commands_answer_one_line_and_leave_the_file_alone(
    journal: tuple[Path, Path], command: str, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path, path = journal
    if damage == "random bytes":
        path.write_bytes(os.urandom(4096))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        store = Store(path, venue="paper", bot="b1", coin="ETH")
        state = store.load_state()
        assert state is not None
        fill = Fill("paper", "ETH", 99, 1, None, Side.BUY, D("3000"), D("0.01"), D("0"), T0)
        store.commit_fill(fill, attrs.evolve(apply_fill(state, fill)[0]))
        store.close()
        tamper(path, "UPDATE fills SET price = 'abc'")
    capsys.readouterr()
    before = fingerprint(path.parent)
    assert main([command, "--config", str(config_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gridtui: ")
    assert str(path) in err
    assert "Traceback" not in err
    after = fingerprint(path.parent)
    assert after[path.name] == before[path.name], "the damaged journal was modified"
