"""Recognise fills we already counted (DESIGN §4: a fill is never counted twice).

The memory set answers the common case (the stream and the REST poller both report a fill)
without touching the disk; the store's UNIQUE(venue, coin, trade_id) stays the backstop, so a
memory miss can never turn into a double count.
"""

from __future__ import annotations

from gridtui.state.store import Store

FillKey = tuple[str, str, int]


class FillDeduplicator:
    """Keys (venue, coin, trade id) of every journaled fill, seeded from the store."""

    def __init__(self, store: Store) -> None:
        self._seen: set[FillKey] = store.fill_keys()

    def seen(self, key: FillKey) -> bool:
        return key in self._seen

    def add(self, key: FillKey) -> None:
        self._seen.add(key)

    def __len__(self) -> int:
        return len(self._seen)
