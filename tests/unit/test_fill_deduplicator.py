"""FillDeduplicator: remembers what the journal already holds."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from gridtui.core.types import Fill, Side
from gridtui.execution.fill_deduplicator import FillDeduplicator
from gridtui.state.accounting import BotState, apply_fill
from gridtui.state.store import Store


def test_seeded_from_the_store_and_extended_in_memory(tmp_path: Path) -> None:
    store = Store(tmp_path / "b1.db", venue="paper", bot="b1", coin="BTC")
    f = Fill("paper", "BTC", 31, 1, None, Side.BUY, Decimal(100), Decimal(1), Decimal(0), 5)
    store.commit_fill(f, apply_fill(BotState.fresh("b1", "BTC", 0), f)[0])

    dedup = FillDeduplicator(store)
    assert dedup.seen(("paper", "BTC", 31))
    assert not dedup.seen(("paper", "BTC", 32))
    assert not dedup.seen(("hyperliquid", "BTC", 31))  # the venue is part of the key
    dedup.add_many([("paper", "BTC", 32)])
    assert dedup.seen(("paper", "BTC", 32))
    assert len(dedup) == 2
    assert not store.has_fill(("paper", "BTC", 32))  # memory only; the store is the backstop
    store.close()
