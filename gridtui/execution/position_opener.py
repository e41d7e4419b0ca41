"""Building a bot's ``initial_position``: one post-only order at the touch, until it is held.

A long grid sells only inventory it holds, so a trader who wants it to start with some (or a
neutral grid to start short) sets ``initial_position``. At the bot's first start it is bought
(sold) with one post-only order at the touch -- the nearest price that does not take liquidity --
re-priced when the market has moved away from it for ``REPRICE_AFTER_S``, through the same risk
gate as the grid's orders. Once the position reaches it, the journal marks it held, and from then
on the grid alone trades the inventory: a restart, a resume or a later sale never tops it up.
Post-only keeps it a maker order (the maker fee, no slippage); the price of that is that a market
running away takes a while to catch.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from gridtui.core.clock import Clock
from gridtui.core.rounding import Rounding, meets_min_value, round_price, round_size
from gridtui.core.types import ZERO, AssetMeta, Level, OrderStatus, Side, Tif
from gridtui.execution.account_watch import AccountWatch
from gridtui.execution.execution_gateway import ENTRY_LEVEL, ExecutionGateway
from gridtui.risk.risk_engine import RiskEngine
from gridtui.state.shadow_ledger import TrackedOrder
from gridtui.state.state_manager import StateManager

log = logging.getLogger(__name__)

REPRICE_AFTER_S = 5.0
"""How long the entry order may sit behind the touch before it is canceled and placed again."""
TOUCH_OFFSET = Decimal("0.00001")
"""How far inside the mark the entry is priced (then rounded outward to a valid price)."""


class PositionOpener:
    def __init__(
        self,
        gateway: ExecutionGateway,
        state: StateManager,
        risk: RiskEngine,
        account: AccountWatch,
        meta: AssetMeta,
        clock: Clock,
        *,
        target: Decimal,
    ) -> None:
        self._gateway = gateway
        self._state = state
        self._risk = risk
        self._account = account
        self._meta = meta
        self._clock = clock
        self._target = target
        self._held = target == 0 or state.store.initial_position_held_ms() is not None
        self._entry_may_rest = target != 0
        """An entry order may still be on the book (after a restart, a failed cancel): looked
        for until none is; a bot without an initial position never looks."""
        self._refused: str | None = None

    @property
    def pending(self) -> bool:
        """The initial position is still to be built."""
        return not self._held

    def remaining(self) -> Decimal:
        """What is still to buy (> 0) or sell (< 0): nothing once the position is there."""
        left = self._target - self._state.get_snapshot().position
        return left if left * self._target > 0 else ZERO

    def touch(self, side: Side, mark: Decimal) -> Decimal:
        """The nearest valid price that rests rather than takes: below the mark for a buy."""
        sz = self._meta.sz_decimals
        if side is Side.BUY:
            return round_price(mark * (1 - TOUCH_OFFSET), sz, Rounding.DOWN)
        return round_price(mark * (1 + TOUCH_OFFSET), sz, Rounding.UP)

    async def maintain(self, mark: Decimal) -> None:
        """One step: the position is there (mark it held; cancel what is left of the entry,
        until it is gone), or keep one post-only entry order at the touch for what is missing.
        What is left below the venue's $10 minimum counts as held: no order could buy it."""
        if self._held:
            await self._cancel_leftover()
            return
        entry = self._entry()
        side = Side.BUY if self._target > 0 else Side.SELL
        price = self.touch(side, mark)
        size = round_size(abs(self.remaining()), self._meta.sz_decimals)
        if size == 0 or not meets_min_value(price, size):
            self._state.store.mark_initial_position_held(self._clock.now_ms())
            self._held = True
            held = self._state.get_snapshot().position
            log.info("%s: initial position held (%s of %s)", self._gateway.bot, held, self._target)
            await self._cancel_leftover()
            return
        if entry is not None:
            behind = entry.request.price != price and entry.status is OrderStatus.OPEN
            waited = self._clock.now_ms() - entry.created_ms >= REPRICE_AFTER_S * 1000
            if behind and waited:  # placed again at the touch once the cancel is confirmed
                await self._gateway.cancel_many(
                    [entry.client_id], reason="initial position: back to the touch"
                )
            return
        level = Level(ENTRY_LEVEL, price, side, size)
        request, _ = self._gateway.request_for(level, tif=Tif.ALO)
        decision = self._risk.allow_order(
            request,
            state=self._state.get_snapshot(),
            open_orders=[t.request for t in self._gateway.ledger.live()],
            mark=mark,
            account=await self._account.for_risk(
                self._risk, [(side, size)], self._state.get_snapshot().position
            ),
        )
        if not decision.allowed:
            if decision.reason != self._refused:
                log.warning("%s: initial position refused: %s", self._gateway.bot, decision.reason)
            self._refused = decision.reason
            return
        self._refused = None
        await self._gateway.submit_levels([level], tif=Tif.ALO)

    async def _cancel_leftover(self) -> None:
        """Once held, no entry order may stay: a partly filled one would overshoot later."""
        if not self._entry_may_rest:
            return
        entry = self._entry()
        if entry is None:
            self._entry_may_rest = False
        elif entry.status is not OrderStatus.PENDING_CANCEL:
            await self._gateway.cancel_many([entry.client_id], reason="initial position held")

    def _entry(self) -> TrackedOrder | None:
        return next((t for t in self._gateway.ledger.live() if t.level == ENTRY_LEVEL), None)
