"""Recognise fills we already counted (DESIGN §4: a fill is never counted twice).

The memory answers the common case (the stream and the REST poller both report a fill, a
reconnect replays the latest ones) without touching the disk; the store's UNIQUE(venue, coin,
trade_id) stays the backstop, so a memory miss can never turn into a double count. That is why the
memory can be bounded: it keeps only the most recent keys (issue 8, failure 11 — a set of every
fill ever made grew with every fill), and an older duplicate costs one indexed lookup in the
transaction that would have journaled it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from gridtui.state.store import Store

FillKey = tuple[str, str, int]

RECENT_FILL_KEYS = 1024
"""Enough for the overlaps that happen all the time (stream and poller reporting the same fill, a
reconnect replaying the latest ones). A larger replay (Hyperliquid's snapshot holds up to 2000
fills) is turned away by the journal's unique key inside the transaction that would have
journaled it, at the price of that transaction — so a bigger memory would buy nothing but
memory."""


class FillDeduplicator:
    """Keys (venue, coin, trade id) of the most recently journaled fills, seeded from the store."""

    def __init__(self, store: Store, *, capacity: int = RECENT_FILL_KEYS) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._recent: OrderedDict[FillKey, None] = OrderedDict.fromkeys(
            store.recent_fill_keys(capacity)
        )

    def seen(self, key: FillKey) -> bool:
        """True when ``key`` is among the recent fills; False means "ask the store"."""
        return key in self._recent

    def add_many(self, keys: Iterable[FillKey]) -> None:
        """Remember ``keys`` as the most recent fills (a burst: trimmed once, at the end)."""
        recent = self._recent
        for key in keys:
            if key in recent:
                recent.move_to_end(key)
            else:
                recent[key] = None
        while len(recent) > self._capacity:
            recent.popitem(last=False)

    def __len__(self) -> int:
        return len(self._recent)
