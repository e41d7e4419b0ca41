"""What the engine keeps per fill or per order is bounded (issue 8, failure 11).

Ten paper bots grew ~2.7 MB a minute. On our side of the engine the fill deduplicator kept the key
of every fill ever made; the journal's page cache grew with the journal. Both are bounded now,
and what recovery needs stays on disk: a forgotten fill is still a duplicate (the store's unique
key), a finished order is still found (the orders table).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from bot_kit import use_dedup

from gridtui.core.types import Fill, OrderRequest, OrderStatus, Side
from gridtui.execution.fill_deduplicator import RECENT_FILL_KEYS, FillDeduplicator
from gridtui.orchestrator.factory import BotComponents
from gridtui.orchestrator.fill_tape import RECENT_FILLS, FillTape
from gridtui.state.store import CACHE_KIB, Store

D = Decimal
T0 = 1_700_000_000_000


def test_the_deduplicator_keeps_only_the_most_recent_keys(bot: BotComponents) -> None:
    store, state = bot.store, bot.state
    fills = [
        Fill("paper", "BTC", tid, 1, None, Side.BUY, D("100"), D("0.01"), D("0"), T0 + tid)
        for tid in range(1, 51)
    ]
    state.apply_fills_sync(fills)

    seeded = FillDeduplicator(store, capacity=10)  # a restart: seeded with the latest only
    assert len(seeded) == 10
    assert seeded.seen(fills[-1].key) and seeded.seen(fills[-10].key)
    assert not seeded.seen(fills[-11].key)
    for tid in range(100, 1100):
        seeded.add_many([("paper", "BTC", tid)])
        assert len(seeded) <= 10
    assert seeded.seen(("paper", "BTC", 1099)) and not seeded.seen(("paper", "BTC", 1089))
    assert len(FillDeduplicator(store)) == 50 <= RECENT_FILL_KEYS


def test_a_long_run_of_orders_and_fills_keeps_only_live_orders_in_memory(
    bot: BotComponents,
) -> None:
    """1000 orders placed, filled (partly, then fully) or canceled: the ledger's memory ends
    with the few still live, and every finished order is still found through the store."""
    state, ledger, processor = bot.state, bot.ledger, bot.processor
    dedup = use_dedup(bot, FillDeduplicator(bot.store, capacity=64))
    tape = FillTape()
    tid = 0
    for n in range(1000):
        cid = f"0x{n:032x}"
        side = Side.BUY if n % 2 == 0 else Side.SELL
        ledger.add_pending(OrderRequest("BTC", side, D("100"), D("0.02"), cid), level=n % 7,
                           generation=n)  # fmt: skip
        ledger.on_ack(cid, n)
        if n % 5 == 0:
            ledger.on_cancel_requested(cid)
            ledger.on_cancel_ack(cid, None)
            continue
        burst = []
        for _ in range(2):
            tid += 1
            burst.append(Fill("paper", "BTC", tid, n, cid, side, D("100"), D("0.01"), D("0"),
                              T0 + tid))  # fmt: skip
        for result in processor.process_fills(burst):
            tape.add(result.fill, n % 7)
    assert ledger.live_count() == 0
    assert len(ledger._live) == len(ledger._by_exchange_id) == len(ledger._staged) == 0
    assert len(dedup) == 64
    assert len(tape.newest_first()) == RECENT_FILLS
    assert ledger.get("0x" + f"{5:032x}").status is OrderStatus.CANCELED  # type: ignore[union-attr]
    assert ledger.get("0x" + f"{6:032x}").status is OrderStatus.FILLED  # type: ignore[union-attr]
    # the oldest fill is long gone from memory, and still a duplicate
    first = Fill("paper", "BTC", 1, 1, f"0x{1:032x}", Side.SELL, D("100"), D("0.01"), D("0"),
                 T0 + 1)  # fmt: skip
    assert not dedup.seen(first.key)
    assert processor.process_fill(first).duplicate
    assert state.get_snapshot().fill_count == tid


def test_the_journal_page_cache_is_capped(tmp_path: Path) -> None:
    store = Store(tmp_path / "b1.db", venue="paper", bot="b1", coin="BTC")
    assert store._conn.execute("PRAGMA cache_size").fetchone()[0] == -CACHE_KIB
    assert CACHE_KIB < 2000  # below SQLite's default of 2000 KiB per connection
    store.close()
