"""The single source of truth for a bot's books (DESIGN §3 StateManager).

Every change follows the same order: compute the new immutable state, commit it to the store, and
only then replace the in-memory copy. So memory never shows a position the journal does not have,
and a failed commit leaves the bot exactly as it was. Crash-only: construction is recovery.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import attrs

from gridtui.core.clock import Clock, utc_day
from gridtui.core.types import Fill
from gridtui.state.accounting import ZERO, BotState, apply_fill
from gridtui.state.store import Store

log = logging.getLogger(__name__)


class StateManager:
    """Owns the one ``BotState`` of a bot and keeps it equal to the store's state row.

    Store calls are synchronous and nothing awaits between reading the current state and
    replacing it, so the async methods (under ``asyncio.Lock``) and ``apply_fill_sync`` can never
    interleave on the event loop.
    """

    def __init__(self, store: Store, clock: Clock, *, bot: str, coin: str) -> None:
        if (store.bot, store.coin) != (bot, coin):
            raise ValueError(
                f"store {store.path} is for {store.bot}/{store.coin}, not {bot}/{coin}"
            )
        self._store = store
        self._clock = clock
        self._lock = asyncio.Lock()
        now = clock.now_ms()
        loaded = store.load_state()
        if loaded is None:
            state = BotState.fresh(bot, coin, now)
            log.info("%s: new books for %s", bot, coin)
        else:
            state = attrs.evolve(loaded, session_start_ms=now, session_realized=ZERO)
            if utc_day(now) > state.daily_day:
                state = attrs.evolve(state, daily_realized=ZERO, daily_day=utc_day(now))
            log.info(
                "%s: recovered books for %s: position %s @ %s, %d fills",
                bot,
                coin,
                state.position,
                state.avg_entry,
                state.fill_count,
            )
        store.save_state(state)
        self._state = state

    @property
    def store(self) -> Store:
        return self._store

    def get_snapshot(self) -> BotState:
        """The current books; immutable, so readers (TUI, metrics) can keep it."""
        return self._state

    def apply_fill_sync(self, fill: Fill) -> tuple[BotState, Decimal] | None:
        """Apply ``fill``: journal it and the new state in one transaction, then update memory.

        Returns the new state and the realized PnL delta, or None when the store already had
        the fill (a duplicate changes nothing). Exceptions propagate with memory untouched.
        """
        new_state, delta = apply_fill(self._state, fill)
        if not self._store.commit_fill(fill, new_state):
            return None
        self._state = new_state
        return new_state, delta

    async def apply_fill(self, fill: Fill) -> tuple[BotState, Decimal] | None:
        async with self._lock:
            return self.apply_fill_sync(fill)

    async def set_halted(self, reason: str | None) -> None:
        """Halt with ``reason``, or resume with None. Survives a restart: a halted bot stays
        halted until someone resumes it."""
        async with self._lock:
            if reason is None:
                new = attrs.evolve(self._state, halted=False, halt_reason=None, halted_at_ms=None)
            else:
                now = self._clock.now_ms()
                new = attrs.evolve(self._state, halted=True, halt_reason=reason, halted_at_ms=now)
            self._save(new)

    async def set_grid_center(self, price: Decimal | None) -> None:
        async with self._lock:
            self._save(attrs.evolve(self._state, grid_center=price))

    async def adjust_position(
        self, new_position: Decimal, new_avg_entry: Decimal, reason: str
    ) -> None:
        """Overwrite position and average entry (reconciliation found the exchange disagrees).

        Realized PnL is left alone: a correction is not a trade. The adjustments row records
        both values as ``position@avg_entry``, before and after, with the reason.
        """
        if new_avg_entry < 0 or (new_position == 0 and new_avg_entry != 0):
            raise ValueError(
                f"average entry {new_avg_entry} is impossible for position {new_position}"
            )
        async with self._lock:
            old = self._state
            new = attrs.evolve(old, position=new_position, avg_entry=new_avg_entry)
            self._store.commit_adjustment(
                "position",
                f"{old.position}@{old.avg_entry}",
                f"{new_position}@{new_avg_entry}",
                reason,
                self._clock.now_ms(),
                new,
            )
            self._state = new
            log.warning(
                "%s: position adjusted from %s@%s to %s@%s: %s",
                old.bot,
                old.position,
                old.avg_entry,
                new_position,
                new_avg_entry,
                reason,
            )

    def _save(self, new: BotState) -> None:
        self._store.save_state(new)
        self._state = new
