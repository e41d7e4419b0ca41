"""Injected time, so tests and backtests are deterministic (DESIGN §5)."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    """Wall-clock milliseconds and real sleeping."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class SimClock:
    """A clock that only moves when told to. ``sleep`` advances it instead of waiting,
    yielding once so other tasks get to run."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int:
        return self._now_ms

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock never goes backwards")
        self._now_ms += round(seconds * 1000)

    def set_ms(self, now_ms: int) -> None:
        if now_ms < self._now_ms:
            raise ValueError("a clock never goes backwards")
        self._now_ms = now_ms

    async def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)


UTC_DAY_MS = 86_400_000


def utc_day(now_ms: int) -> int:
    """The UTC day number (days since the epoch) that ``now_ms`` falls in."""
    return now_ms // UTC_DAY_MS
