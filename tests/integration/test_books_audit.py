"""``gridtui status`` and ``audit`` over real paper fills (issue 8): the audit compares the
journal's fill set with the venue's, both ways, and lists adjustments, so a lost fill papered
over by a position correction is caught; journals of bots no longer configured are still shown;
and the books of one venue identity never appear under another."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from decimal import Decimal as D
from pathlib import Path

import pytest
from config_kit import status_table

from gridtui.cli import main
from gridtui.config.loader import load_config
from gridtui.config.schema import AppConfig
from gridtui.core.clock import RealClock
from gridtui.core.types import Fill, OrderRequest, OrderStatus, Side, Tif
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.state.state_manager import StateManager
from gridtui.state.store import Store

CONFIG = """\
data_dir = "data"
[venue]
kind = "{kind}"
account_address = "0x{account}"
[venue.paper]
state_file = "venue/paper.db"
[[venue.paper.markets]]
coin = "BTC"
start_price = 64000
sz_decimals = 5
[[venue.paper.markets]]
coin = "ETH"
start_price = 3200
sz_decimals = 4
{bots}
"""
BOT = """\
[[bots]]
name = "{name}"
coin = "{coin}"
enabled = {enabled}
[bots.grid]
size = {size}
[bots.risk]
max_position = 1
max_notional = 100000
"""


def _config(tmp_path: Path, *bots: tuple[str, str, bool], kind: str = "paper") -> Path:
    text = CONFIG.format(
        kind=kind,
        account="ab" * 20,
        bots="".join(
            BOT.format(
                name=n, coin=c, enabled=str(e).lower(), size="0.0005" if c == "BTC" else "0.01"
            )
            for n, c, e in bots
        ),
    )
    if kind == "paper":
        text = text.replace('account_address = "0x' + "ab" * 20 + '"\n', "")
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def _journal_file(config: AppConfig, bot: str) -> Path:
    """Where the engine keeps ``bot``'s paper journal (it prepares the folder at start)."""
    from gridtui.state.data_dir import PAPER, journal_path, prepare_journal_dir

    prepare_journal_dir(config.data_dir, PAPER)
    return journal_path(config.data_dir, PAPER, bot)


def _open(config: AppConfig, bot: str, coin: str) -> tuple[Store, StateManager]:
    store = Store(_journal_file(config, bot), venue="paper", bot=bot, coin=coin)
    return store, StateManager(store, RealClock(), bot=bot, coin=coin)


async def _trade(config: AppConfig, store: Store, coin: str, count: int) -> list[Fill]:
    """Real fills on the paper venue from orders journaled first (as the engine does)."""
    exchange = SimExchange(config.venue.paper, RealClock())
    try:
        for n in range(count):
            _, ask = exchange.bbo(coin)
            size = D("0.001") if coin == "BTC" else D("0.01")
            request = OrderRequest(
                coin,
                Side.BUY,
                (ask * D("1.01")).quantize(D(1)),
                size,
                f"0x{store.bot.encode().hex():0<28}{n:04x}",
                Tif.IOC,
            )
            store.record_intent(request, level=None, generation=n, created_ms=RealClock().now_ms())
            (ack,) = await exchange.place_orders([request])
            store.update_order(
                request.client_id,
                status=OrderStatus.FILLED,
                exchange_id=ack.exchange_id,
                filled=ack.filled_size,
                updated_ms=RealClock().now_ms(),
            )
        return await exchange.fills_since(0, coin)
    finally:
        await exchange.close()


def _audit(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "--config", str(path)])
    return code, capsys.readouterr().out


def test_audit_names_a_fill_lost_and_papered_over_by_a_position_correction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, ("btc", "BTC", True))
    config = load_config(path)
    store, state = _open(config, "btc", "BTC")
    fills = asyncio.run(_trade(config, store, "BTC", 3))
    assert len(fills) == 3
    for fill in fills[:2]:  # the third was made while the bot was down and never journaled ...
        state.apply_fill_sync(fill)
    # ... and a "correction" made the position agree with the venue's, hiding the gap.
    total = sum(f.size for f in fills)
    avg = sum(f.size * f.price for f in fills) / total
    asyncio.run(state.adjust_position(total, avg, "exchange position differs"))
    store.close()

    code, out = _audit(path, capsys)

    assert code == 1, out
    lost = fills[2]
    assert f"MISMATCH btc: exchange fill {lost.trade_id} (buy {lost.size} BTC" in out
    assert "of our order is not in the journal" in out
    assert "ADJUSTMENT btc:" in out and "exchange position differs" in out


def test_audit_fails_naming_a_fill_deleted_from_the_journal_and_passes_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, ("btc", "BTC", True))
    config = load_config(path)
    store, state = _open(config, "btc", "BTC")
    fills = asyncio.run(_trade(config, store, "BTC", 3))
    for fill in fills:
        state.apply_fill_sync(fill)
    store.close()
    code, out = _audit(path, capsys)
    assert code == 0, out
    assert out.startswith("audit OK: 1 journals")

    with contextlib.closing(sqlite3.connect(_journal_file(config, "btc"))) as db, db:
        db.execute("DELETE FROM fills WHERE trade_id = ?", (fills[1].trade_id,))
    code, out = _audit(path, capsys)
    assert code == 1
    assert f"MISMATCH btc: exchange fill {fills[1].trade_id} " in out


def test_audit_names_a_journal_fill_the_exchange_never_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, ("btc", "BTC", True))
    config = load_config(path)
    store, state = _open(config, "btc", "BTC")
    fills = asyncio.run(_trade(config, store, "BTC", 1))
    state.apply_fill_sync(fills[0])
    ghost = Fill(
        "paper",
        "BTC",
        424242,
        fills[0].exchange_order_id,
        None,
        Side.SELL,
        fills[0].price,
        fills[0].size,
        D("0"),
        fills[0].timestamp_ms + 1,
    )
    state.apply_fill_sync(ghost)
    store.close()
    code, out = _audit(path, capsys)
    assert code == 1
    assert "MISMATCH btc: journal fill 424242 (sell" in out and "is not on the exchange" in out


def test_status_and_audit_show_journals_no_configured_bot_owns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, ("btc", "BTC", True), ("eth", "ETH", False))
    config = load_config(path)
    for bot, coin in (("btc", "BTC"), ("eth", "ETH"), ("old-eth", "ETH")):
        store, state = _open(config, bot, coin)
        if bot != "eth":
            for fill in asyncio.run(_trade(config, store, coin, 1)):
                state.apply_fill_sync(fill)
        store.close()
    # The config no longer has "old-eth" (removed or renamed); "eth" is disabled.
    assert main(["status", "--config", str(path)]) == 0
    table = {line.split()[0]: line for line in status_table(capsys.readouterr().out)}
    assert set(table) == {"btc", "eth", "old-eth"}
    assert "(not in config)" in table["old-eth"] and "0.01" in table["old-eth"]
    assert "(disabled)" in table["eth"]
    assert "(not in config)" not in table["btc"] and "(disabled)" not in table["btc"]

    code, out = _audit(path, capsys)
    assert code == 0, out
    assert out.startswith("audit OK: 3 journals")
    # Its fill is checked like any other: delete it and the audit names it.
    with contextlib.closing(sqlite3.connect(_journal_file(config, "old-eth"))) as db, db:
        (trade_id,) = db.execute("SELECT trade_id FROM fills").fetchone()
        db.execute("DELETE FROM fills")
    code, out = _audit(path, capsys)
    assert code == 1 and f"MISMATCH old-eth: exchange fill {trade_id} " in out


def test_another_venue_never_shows_the_paper_books(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paper = _config(tmp_path, ("btc", "BTC", True))
    config = load_config(paper)
    store, state = _open(config, "btc", "BTC")
    for fill in asyncio.run(_trade(config, store, "BTC", 1)):
        state.apply_fill_sync(fill)
    store.close()
    assert main(["status", "--config", str(paper), "--json"]) == 0
    assert '"bot": "btc"' in capsys.readouterr().out

    live = _config(tmp_path, ("btc", "BTC", True), kind="hyperliquid")
    assert main(["status", "--config", str(live), "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert main(["status", "--config", str(live)]) == 0
    empty, others = capsys.readouterr().out.splitlines()
    assert empty.startswith("no journals yet in ") and "hyperliquid/testnet/0xabab" in empty
    assert "paper/local/paper" in others  # says whose books are there instead


def test_status_names_journals_still_in_the_old_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, ("btc", "BTC", True))
    config = load_config(path)
    old = config.data_dir / "btc.db"  # where every venue's journal used to be
    store = Store(old, venue="paper", bot="btc", coin="BTC")
    state = StateManager(store, RealClock(), bot="btc", coin="BTC")
    for fill in asyncio.run(_trade(config, store, "BTC", 1)):
        state.apply_fill_sync(fill)
    store.close()
    assert main(["status", "--config", str(path)]) == 0
    captured = capsys.readouterr()
    (note,) = captured.err.splitlines()
    assert str(old) in note and str(_journal_file(config, "btc")) in note
    assert captured.out.startswith("no journals yet")
    assert old.exists()  # a reader never moves anything


def test_status_and_fills_show_round_trips_and_each_fills_realized_pnl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, ("btc", "BTC", True))
    config = load_config(path)
    store, state = _open(config, "btc", "BTC")
    for tid, (side, price, fee) in enumerate(
        [(Side.BUY, "99", "0.01"), (Side.SELL, "100", "0.01"), (Side.BUY, "98", "0.01")]
    ):
        state.apply_fill_sync(
            Fill("paper", "BTC", tid + 1, 50 + tid, None, side, D(price), D("0.2"), D(fee), tid)
        )
    store.close()
    assert main(["status", "--config", str(path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    trips = (row["round_trips"], D(row["grid_profit"]), D(row["profit_per_round_trip"]))
    assert trips == (1, D("0.18"), D("0.18"))
    assert main(["status", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    (line,) = status_table(out)
    assert "round trips" in out.splitlines()[0] and "1 (0.1800 each)" in line
    assert main(["fills", "--config", str(path)]) == 0
    csv = capsys.readouterr().out.splitlines()
    assert csv[0] == (
        "time,bot,coin,side,price,size,fee,realized_pnl,grid_profit,trade_id,order_id"
    )
    realized = [line.split(",")[7] for line in csv[1:]]
    profit = [line.split(",")[8] for line in csv[1:]]
    assert [D(x) for x in realized] == [D("-0.01"), D("0.19"), D("-0.01")]  # each its own fee
    assert [D(x) for x in profit] == [0, D("0.18"), 0]
