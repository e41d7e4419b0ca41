"""The pre-trade gate and the equity watchdog of one bot.

Every order passes ``allow_order`` before it reaches the gateway; every cycle the orchestrator
calls ``check_equity``. A decision with a ``halt`` kind tells the orchestrator to cancel all orders
and stop quoting (DESIGN §3, RiskEngine). The engine itself never acts: it only judges.

A halting decision names its ``HaltKind`` (drawdown, daily loss), which the books keep with the
halt: ``auto_resume_due`` reads it to know which halts lift themselves the next UTC day.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from decimal import Decimal

import attrs

from gridtui.config.schema import Margin, RiskLimits
from gridtui.core.account import AccountSummary, exposure_after
from gridtui.core.clock import Clock, utc_day
from gridtui.core.types import OrderRequest, Side
from gridtui.state.accounting import BotState, HaltKind

ZERO = Decimal(0)
_CENTS = Decimal("0.01")


class RiskKind(enum.Enum):
    POSITION = "position"
    NOTIONAL = "notional"
    LIQUIDATION = "liquidation"
    OPEN_ORDERS = "open_orders"
    VELOCITY = "velocity"
    DRAWDOWN = "drawdown"
    DAILY_LOSS = "daily_loss"
    HALTED = "halted"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


@attrs.frozen(slots=True)
class RiskDecision:
    allowed: bool
    kind: RiskKind | None = None
    reason: str | None = None
    halt: HaltKind | None = None
    """Set when the bot must stop trading: the kind of halt it is."""
    flatten: bool = False
    """An exit: besides halting, close the position now."""


ALLOWED = RiskDecision(allowed=True)


@attrs.frozen(slots=True)
class RiskMemory:
    """What the engine learned while a bot ran: a bot the process rebuilds after a crash
    (continuing its session) starts from it, so a crash can neither reset the drawdown's peak,
    nor re-halt a daily loss the trader lifted, nor restore ``stop_loss_pnl``'s allowance."""

    peak_equity: Decimal | None
    daily_loss_lifted_day: int | None
    session_base: Decimal


def _refuse(kind: RiskKind, reason: str, *, halt: HaltKind | None = None) -> RiskDecision:
    return RiskDecision(allowed=False, kind=kind, reason=reason, halt=halt)


def _exit(kind: RiskKind, halt: HaltKind, reason: str) -> RiskDecision:
    return RiskDecision(allowed=False, kind=kind, reason=reason, halt=halt, flatten=True)


def _signed(value: Decimal) -> str:
    return f"- {-value}" if value < 0 else f"+ {value}"


class RiskEngine:
    """Position, notional, open-order and velocity limits per order; drawdown and daily loss per
    cycle.

    Velocity is a token bucket holding up to ``order_burst`` tokens and refilling at
    ``max_orders_per_second`` (Decimal arithmetic on clock milliseconds, so it is exact and
    deterministic under a SimClock). A token is spent only by an order that passed every check,
    so refused orders do not eat the budget of the ones that follow.
    """

    def __init__(
        self,
        limits: RiskLimits,
        clock: Clock,
        *,
        max_leverage: int,
        memory: RiskMemory | None = None,
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._max_leverage = max_leverage
        """The coin's, from the venue: its maintenance margin sets where liquidation is."""
        self._tokens = Decimal(limits.order_burst)
        self._tokens_at_ms = clock.now_ms()
        memory = memory or RiskMemory(None, None, ZERO)
        self._peak_equity = memory.peak_equity
        self._daily_loss_lifted_day = memory.daily_loss_lifted_day
        self._session_base = memory.session_base
        """The session result ``stop_loss_pnl`` counts from (moved by ``on_resume``)."""

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    def memory(self) -> RiskMemory:
        return RiskMemory(self._peak_equity, self._daily_loss_lifted_day, self._session_base)

    @property
    def peak_equity(self) -> Decimal | None:
        """Highest equity seen by ``check_equity``; None before its first call."""
        return self._peak_equity

    @property
    def tokens_available(self) -> Decimal:
        return self._tokens_at(self._clock.now_ms())

    def _tokens_at(self, now_ms: int) -> Decimal:
        elapsed_ms = max(now_ms - self._tokens_at_ms, 0)
        refill = Decimal(elapsed_ms) * self._limits.max_orders_per_second / 1000
        return min(Decimal(self._limits.order_burst), self._tokens + refill)

    def allow_order(
        self,
        request: OrderRequest,
        *,
        state: BotState,
        open_orders: Sequence[OrderRequest],
        mark: Decimal,
        account: AccountSummary | None = None,
    ) -> RiskDecision:
        """May ``request`` be sent, given the bot's state and the orders already resting?

        The position checks assume the worst: this order and every resting order on the same side
        all fill. An order that brings the position closer to zero is exempt from them, so a bot
        over its limits (after a limit change, or a price jump for notional) can always unwind.
        ``account`` (the venue's latest reading; None: it could not be read) is needed only
        with ``min_liquidation_distance_pct``.
        """
        limits = self._limits
        if state.halted:
            return _refuse(RiskKind.HALTED, f"halted: {state.halt_reason or 'no reason recorded'}")
        if len(open_orders) >= limits.max_open_orders:
            return _refuse(
                RiskKind.OPEN_ORDERS,
                f"open orders: {len(open_orders)} already open, at max_open_orders "
                f"{limits.max_open_orders}",
            )
        if not _reduces(
            request.side, request.size, state.position, reduce_only=request.reduce_only
        ):
            refusal = self._check_exposure(request, state.position, open_orders, mark)
            if refusal is None:
                refusal = self._check_liquidation(request, state, open_orders, mark, account)
            if refusal is not None:
                return refusal
        now_ms = self._clock.now_ms()
        tokens = self._tokens_at(now_ms)
        if tokens < 1:
            return _refuse(
                RiskKind.VELOCITY,
                f"velocity: {tokens.quantize(_CENTS)} order tokens left; the limit is "
                f"{limits.max_orders_per_second} orders/s with a burst of {limits.order_burst}",
            )
        self._tokens = tokens - 1
        self._tokens_at_ms = now_ms
        return ALLOWED

    def _check_exposure(
        self,
        request: OrderRequest,
        position: Decimal,
        open_orders: Sequence[OrderRequest],
        mark: Decimal,
    ) -> RiskDecision | None:
        limits = self._limits
        order = request.size * request.side.sign
        same_side = [o for o in open_orders if o.side is request.side and o.coin == request.coin]
        resting = sum((o.size * o.side.sign for o in same_side), ZERO)
        worst = position + order + resting
        figures = f"position {position} {_signed(order)}"
        if resting:
            figures += f" {_signed(resting)} resting"
        if abs(worst) > limits.max_position:
            return _refuse(
                RiskKind.POSITION,
                f"{figures} would exceed max_position {limits.max_position}",
            )
        price = max(mark, request.price)
        notional = abs(worst) * price
        if notional > limits.max_notional:
            return _refuse(
                RiskKind.NOTIONAL,
                f"notional {notional.quantize(_CENTS)} ({figures} at {price}) would exceed "
                f"max_notional {limits.max_notional}",
            )
        return None

    def needs_account(self, orders: Iterable[tuple[Side, Decimal]], position: Decimal) -> bool:
        """Will judging these orders (side, size) need the account? Only with a liquidation
        limit, and only for one that does not bring the position toward zero."""
        if self._limits.min_liquidation_distance_pct is None:
            return False
        return any(not _reduces(side, size, position) for side, size in orders)

    def _check_liquidation(
        self,
        request: OrderRequest,
        state: BotState,
        open_orders: Sequence[OrderRequest],
        mark: Decimal,
        account: AccountSummary | None,
    ) -> RiskDecision | None:
        """Would the position, once this order and the resting ones on its side filled, be
        liquidated closer than ``min_liquidation_distance_pct`` to the price it filled at?"""
        limits = self._limits
        minimum = limits.min_liquidation_distance_pct
        if minimum is None:
            return None
        if account is None:
            return _refuse(
                RiskKind.LIQUIDATION,
                "liquidation distance: the account could not be read, so where this order "
                "would leave the liquidation price is unknown",
            )
        same_side = [o for o in open_orders if o.side is request.side and o.coin == request.coin]
        fills = [(o.size * o.side.sign, o.price) for o in (*same_side, request)]
        exposure = exposure_after(
            account,
            coin=request.coin,
            position=state.position,
            avg_entry=state.avg_entry,
            mark=mark,
            fills=fills,
            max_leverage=self._max_leverage,
            leverage=limits.leverage,
            cross=limits.margin is Margin.CROSS,
        )
        distance = exposure.distance_pct
        if distance is None or distance >= minimum:
            return None
        assert exposure.liquidation_price is not None  # a distance needs one
        return _refuse(
            RiskKind.LIQUIDATION,
            f"liquidation distance: position {exposure.size} at {exposure.price} would be "
            f"liquidated at {exposure.liquidation_price.quantize(_CENTS)}, "
            f"{distance.quantize(_CENTS)}% away, closer than min_liquidation_distance_pct "
            f"{minimum}",
        )

    def check_equity(self, state: BotState, mark: Decimal) -> RiskDecision:
        """Exit (halt and close the position) at the stop-loss or take-profit price or on the
        session's stop-loss PnL; halt on a drawdown from peak equity (realized all-time +
        unrealized) beyond ``max_drawdown``, or on today's loss (today's realized + unrealized)
        beyond ``daily_loss_limit``. The peak is this engine's own: it starts at the first
        equity seen, so a restart does not inherit a peak from a previous life. Exits come
        first (the trader asked for the position to be closed there), then the drawdown (it
        needs a human to resume, and must not be masked by a daily halt that lifts itself)."""
        limits = self._limits
        unrealized = state.unrealized_at(mark)
        exit_ = self._exit_due(state, mark, unrealized)
        if exit_ is not None:
            return exit_
        equity = state.all_time_realized + unrealized
        if self._peak_equity is None or equity > self._peak_equity:
            self._peak_equity = equity
        drawdown = self._peak_equity - equity
        if drawdown > limits.max_drawdown:
            return _refuse(
                RiskKind.DRAWDOWN,
                f"drawdown: equity {equity.quantize(_CENTS)} is {drawdown.quantize(_CENTS)} below "
                f"its peak {self._peak_equity.quantize(_CENTS)}, beyond max_drawdown "
                f"{limits.max_drawdown}",
                halt=HaltKind.DRAWDOWN,
            )
        today = utc_day(self._clock.now_ms())
        realized_today = state.daily_realized_for(today)
        result = realized_today + unrealized
        if result < -limits.daily_loss_limit and today != self._daily_loss_lifted_day:
            return _refuse(
                RiskKind.DAILY_LOSS,
                f"daily_loss: today's result {result.quantize(_CENTS)} (realized "
                f"{realized_today.quantize(_CENTS)}, unrealized {unrealized.quantize(_CENTS)}) is "
                f"beyond daily_loss_limit {limits.daily_loss_limit}",
                halt=HaltKind.DAILY_LOSS,
            )
        return ALLOWED

    def on_resume(
        self, state: BotState, mark: Decimal | None, *, lift_daily_loss: bool = False
    ) -> None:
        """A trader resumes a halted bot. After a stop-loss exit, ``stop_loss_pnl`` counts from
        here, or the loss already booked would exit the fresh grid at its first cycle. With
        ``lift_daily_loss`` (an explicit confirm), today's loss limit is not judged again before
        the next UTC day (in memory: a restart judges it again, and says why it halts)."""
        if lift_daily_loss:
            self._daily_loss_lifted_day = utc_day(self._clock.now_ms())
        if state.halt_kind is HaltKind.STOP_LOSS:
            unrealized = state.unrealized_at(mark) if mark is not None else ZERO
            self._session_base = state.session_realized + unrealized

    def _exit_due(self, state: BotState, mark: Decimal, unrealized: Decimal) -> RiskDecision | None:
        limits = self._limits
        if limits.stop_loss_price is not None and mark <= limits.stop_loss_price:
            return _exit(
                RiskKind.STOP_LOSS,
                HaltKind.STOP_LOSS,
                f"stop_loss: mark {mark} at or below stop_loss_price {limits.stop_loss_price}",
            )
        if limits.take_profit_price is not None and mark >= limits.take_profit_price:
            return _exit(
                RiskKind.TAKE_PROFIT,
                HaltKind.TAKE_PROFIT,
                f"take_profit: mark {mark} at or above take_profit_price "
                f"{limits.take_profit_price}",
            )
        session = state.session_realized + unrealized - self._session_base
        if limits.stop_loss_pnl is not None and session <= -limits.stop_loss_pnl:
            return _exit(
                RiskKind.STOP_LOSS,
                HaltKind.STOP_LOSS,
                f"stop_loss: the session's result {session.quantize(_CENTS)} (realized "
                f"{state.session_realized.quantize(_CENTS)}, unrealized "
                f"{unrealized.quantize(_CENTS)}, since {self._session_base.quantize(_CENTS)}) "
                f"reached -stop_loss_pnl {limits.stop_loss_pnl}",
            )
        return None

    def auto_resume_due(self, state: BotState, now_ms: int) -> bool:
        """True only for a daily-loss halt once the UTC day has changed since it began; every
        other halt waits for a human."""
        if not state.halted or state.halted_at_ms is None:
            return False
        if state.halt_kind is not HaltKind.DAILY_LOSS:
            return False
        return utc_day(now_ms) > utc_day(state.halted_at_ms)


def _reduces(side: Side, size: Decimal, position: Decimal, *, reduce_only: bool = False) -> bool:
    """Does filling an order of ``side`` and ``size`` bring |position| closer to zero? A
    reduce-only order against the position always does: the venue clamps it so it can at most
    flatten."""
    if position == 0 or side.sign * position > 0:
        return False
    if reduce_only:
        return True
    return abs(position + size * side.sign) < abs(position)
