"""The single source of truth for a bot's books (DESIGN §3 StateManager).

Every change follows the same order: compute the new immutable state, commit it to the store, and
only then replace the in-memory copy. So memory never shows a position the journal does not have,
and a failed commit leaves the bot exactly as it was. Crash-only: construction is recovery.

Inside a larger store transaction (the fill processor journals a burst of fills and their order
updates as one) the new state is *staged*: later steps of the same transaction build on it, and
it becomes the snapshot only when the transaction commits (``Store.after_commit``); a rollback
drops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from decimal import Decimal

import attrs

from gridtui.core.clock import Clock, utc_day
from gridtui.core.types import Fill
from gridtui.state.accounting import ZERO, BotState, FillEffect, HaltKind, apply_fills
from gridtui.state.store import Store

log = logging.getLogger(__name__)


class ResumeRefused(Exception):
    """This halt does not end with a resume (a disk halt ends with a restart)."""


class StateManager:
    """Owns the one ``BotState`` of a bot and keeps it equal to the store's state row.

    Store calls are synchronous and nothing awaits between reading the current state and
    replacing it, so the async methods (under ``asyncio.Lock``) and ``apply_fill_sync`` can never
    interleave on the event loop.
    """

    def __init__(
        self, store: Store, clock: Clock, *, bot: str, coin: str, continue_session: bool = False
    ) -> None:
        """``continue_session``: the process rebuilds a bot it already ran (after a crash): the
        session's start and PnL go on, so the session's limits (``stop_loss_pnl``) do too."""
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
            state = (
                loaded
                if continue_session
                else attrs.evolve(loaded, session_start_ms=now, session_realized=ZERO)
            )
            if state.halt_kind is HaltKind.DISK:  # recorded by a later write; a start retries
                state = attrs.evolve(
                    state, halted=False, halt_reason=None, halted_at_ms=None, halt_kind=None
                )
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
        self._staged: BotState | None = None

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
        with self._store.transaction():
            (effect,) = self.apply_fills_sync([fill])
            return None if effect is None else (self._current(), effect.realized_pnl)

    def apply_fills_sync(self, fills: Sequence[Fill]) -> list[FillEffect | None]:
        """Apply a burst of fills, in the order given, in ONE transaction: each new fill is
        inserted, the accounting runs over them in order, and the state row is written once.

        One entry per fill: its effect (the position after it, its realized PnL), or None for a
        fill the journal already had (or that appeared earlier in ``fills``). All or nothing: an
        exception (a refused fill, a disk error) rolls every fill back and leaves memory as it
        was. Memory moves when the outermost transaction commits.
        """
        with self._store.transaction():
            inserted = self._store.insert_fills(fills)
            new = [fill for fill, is_new in zip(fills, inserted, strict=True) if is_new]
            state, effects = apply_fills(self._current(), new)
            if effects:
                self._store.save_state(state)
                self._stage(state)
        applied = iter(effects)
        return [next(applied) if is_new else None for is_new in inserted]

    async def apply_fill(self, fill: Fill) -> tuple[BotState, Decimal] | None:
        async with self._lock:
            return self.apply_fill_sync(fill)

    async def halt(self, kind: HaltKind, reason: str) -> None:
        """Stop trading for ``reason``. Survives a restart: a halted bot stays halted until it is
        resumed (by a human, or for a daily loss by the next UTC day: the kind says which).

        A disk halt is the exception: the journal that refused a write cannot record it, so it
        lives in memory only, and a restart (the way out of it) tries the disk again."""
        async with self._lock:
            if self._state.halt_kind is HaltKind.DISK:
                return  # its loop has stopped: only a restart ends it, whatever halts it again
            halted = attrs.evolve(
                self._current(), halted=True, halt_reason=reason,
                halted_at_ms=self._clock.now_ms(), halt_kind=kind,
            )  # fmt: skip
            if kind is HaltKind.DISK:
                self._state = halted
            else:
                self._save(halted)

    async def resume(self) -> None:
        """Raises ``ResumeRefused`` for a disk halt: the bot stopped its loop there, and only a
        restart, once the disk takes writes again, starts it afresh."""
        async with self._lock:
            if self._state.halt_kind is HaltKind.DISK:
                raise ResumeRefused(
                    f"{self._state.halt_reason}; free the disk or make the data dir writable, "
                    "then restart gridtui"
                )
            self._save(
                attrs.evolve(
                    self._current(),
                    halted=False,
                    halt_reason=None,
                    halted_at_ms=None,
                    halt_kind=None,
                )
            )

    async def set_grid_center(self, price: Decimal | None) -> None:
        async with self._lock:
            self._save(attrs.evolve(self._current(), grid_center=price))

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
            old = self._current()
            new = attrs.evolve(old, position=new_position, avg_entry=new_avg_entry)
            with self._store.transaction():
                self._store.commit_adjustment(
                    "position",
                    f"{old.position}@{old.avg_entry}",
                    f"{new_position}@{new_avg_entry}",
                    reason,
                    self._clock.now_ms(),
                    new,
                )
                self._stage(new)
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
        with self._store.transaction():
            self._store.save_state(new)
            self._stage(new)

    def _current(self) -> BotState:
        """The state the next change builds on: staged in an open transaction, else committed."""
        return self._staged if self._staged is not None else self._state

    def _stage(self, state: BotState) -> None:
        """Call inside the transaction that wrote ``state``: it becomes the snapshot when that
        transaction commits, and is dropped if it rolls back."""
        first = self._staged is None
        self._staged = state
        if first:
            self._store.after_commit(self._publish, self._drop)

    def _publish(self) -> None:
        if self._staged is not None:
            self._state, self._staged = self._staged, None

    def _drop(self) -> None:
        self._staged = None
