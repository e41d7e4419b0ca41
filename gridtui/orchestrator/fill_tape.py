"""The last few fills of a bot, kept in memory for the ladder's "filled just now" marks."""

from __future__ import annotations

from collections import deque

from gridtui.core.types import Fill

RECENT_FILLS = 20


class FillTape:
    """The last few fills of one bot with the grid level each filled, recorded as they arrive so
    drawing the ladder never has to ask the journal."""

    def __init__(self, maxlen: int = RECENT_FILLS) -> None:
        self._fills: deque[tuple[Fill, int | None]] = deque(maxlen=maxlen)

    def add(self, fill: Fill, level: int | None) -> None:
        self._fills.appendleft((fill, level))

    def newest_first(self) -> tuple[Fill, ...]:
        return tuple(fill for fill, _ in self._fills)

    def filled_at(self) -> dict[int, int]:
        """Each level's latest fill time."""
        latest: dict[int, int] = {}
        for fill, level in self._fills:
            if level is not None:
                latest.setdefault(level, fill.timestamp_ms)
        return latest
