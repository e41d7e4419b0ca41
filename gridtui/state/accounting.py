"""Average-cost position and PnL bookkeeping, as pure functions over an immutable ``BotState``.

Pure, so the live path (StateManager) and the audit (recompute from the journal) run the very same
code: given the same fills in the same order they must agree bit for bit. That is also why all the
arithmetic runs in one fixed decimal context instead of whatever context the calling thread has.
"""

from __future__ import annotations

import decimal
import enum
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from gridtui.core.clock import UTC_DAY_MS, utc_day
from gridtui.core.types import Fill, Side

ZERO = Decimal(0)

ACCOUNTING_CONTEXT = decimal.Context(
    prec=40,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
"""40 significant digits: far beyond any price × size the venue can produce, so only an average
entry that is not exactly representable (a division) is ever rounded — and always the same way."""


class HaltKind(enum.Enum):
    """Why a bot stopped trading, kept with its books: a restart must know which halt lifts
    itself (a daily loss, the next UTC day) and which waits for a human."""

    MANUAL = "manual"
    DRAWDOWN = "risk:drawdown"
    DAILY_LOSS = "risk:daily_loss"
    DISK = "disk"
    """The journal refused a write: held in memory only, since it cannot be written."""
    STOP_LOSS = "exit:stop_loss"
    TAKE_PROFIT = "exit:take_profit"
    FLATTEN = "exit:flatten"
    """A trader closed the position by hand."""
    VENUE = "venue"
    """The venue refused what the bot needs before its first order (its leverage)."""

    @property
    def by_trader(self) -> bool:
        """A halt the trader asked for (h, or a flatten by hand): news to nobody, so its alert
        is INFO (logged, not pushed at the default min_severity); a flatten's outcome has an
        alert of its own. Every other halt is the engine's: CRITICAL."""
        return self in (HaltKind.MANUAL, HaltKind.FLATTEN)


@attrs.frozen(slots=True)
class BotState:
    """Everything the bot must remember across restarts. Realized PnL figures are net of fees.

    ``daily_realized`` belongs to the UTC day ``daily_day``; use ``daily_realized_for`` to read it
    for another day.
    """

    bot: str
    coin: str
    position: Decimal
    avg_entry: Decimal
    session_realized: Decimal
    all_time_realized: Decimal
    daily_realized: Decimal
    daily_day: int
    fees_paid: Decimal
    fill_count: int
    last_fill_ms: int
    grid_center: Decimal | None
    session_start_ms: int
    halted: bool
    halt_reason: str | None
    halted_at_ms: int | None
    halt_kind: HaltKind | None = None

    @classmethod
    def fresh(cls, bot: str, coin: str, now_ms: int) -> BotState:
        """A bot that has never traded: flat, nothing realized, session starting now."""
        return cls(
            bot=bot,
            coin=coin,
            position=ZERO,
            avg_entry=ZERO,
            session_realized=ZERO,
            all_time_realized=ZERO,
            daily_realized=ZERO,
            daily_day=utc_day(now_ms),
            fees_paid=ZERO,
            fill_count=0,
            last_fill_ms=0,
            grid_center=None,
            session_start_ms=now_ms,
            halted=False,
            halt_reason=None,
            halted_at_ms=None,
            halt_kind=None,
        )

    def unrealized_at(self, mark: Decimal) -> Decimal:
        """The open position's PnL if it were closed at ``mark`` (fees not included)."""
        if self.position == 0:
            return ZERO
        return self.position * (mark - self.avg_entry)

    def daily_realized_for(self, day: int) -> Decimal:
        """Realized PnL of UTC ``day``. The stored figure only rolls over when a fill arrives, so
        on a later day without fills the answer is zero, not yesterday's figure."""
        return self.daily_realized if day == self.daily_day else ZERO


_DECIMAL_FIELDS = frozenset(
    {"position", "avg_entry", "session_realized", "all_time_realized", "daily_realized"}
    | {"fees_paid", "grid_center"}
)
_INT_FIELDS = frozenset(
    {"daily_day", "fill_count", "last_fill_ms", "session_start_ms", "halted_at_ms"}
)


def to_canonical(state: BotState) -> dict[str, str | None]:
    """Every field as canonical text, in field order (None stays None): the form the journal
    stores and checksums. Decimals keep their exact digits; booleans are "0"/"1"."""
    out: dict[str, str | None] = {}
    for field in attrs.fields(BotState):
        value = getattr(state, field.name)
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError(f"{field.name} is {value}; the books only hold finite amounts")
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, HaltKind):
            value = value.value
        out[field.name] = None if value is None else str(value)
    return out


def from_canonical(values: Mapping[str, str | None]) -> BotState:
    """Inverse of ``to_canonical``. Raises ``ValueError`` or ``ArithmeticError`` on text that does
    not parse; callers also compare ``to_canonical`` of the result to refuse non-canonical
    spellings such as "01"."""
    parsed: dict[str, Any] = {}
    for field in attrs.fields(BotState):
        text = values[field.name]
        if text is None or field.name in ("bot", "coin", "halt_reason"):
            parsed[field.name] = text
        elif field.name in _DECIMAL_FIELDS:
            parsed[field.name] = Decimal(text)
        elif field.name in _INT_FIELDS:
            parsed[field.name] = int(text)
        elif field.name == "halt_kind":
            parsed[field.name] = HaltKind(text)
        elif text in ("0", "1"):
            parsed[field.name] = text == "1"
        else:
            raise ValueError(f"{field.name} = {text!r} is not a boolean")
    return BotState(**parsed)


def apply_fill(state: BotState, fill: Fill) -> tuple[BotState, Decimal]:
    """The state after ``fill`` and the realized PnL it produced (gross closing PnL − fee).

    Raises ``ValueError`` for a fill of another coin or with a non-positive size or price: such a
    fill can only come from a bug upstream and must not move the position.
    """
    after, effects = apply_fills(state, (fill,))
    return after, effects[0].realized_pnl


@attrs.frozen(slots=True)
class FillEffect:
    """What one fill of a burst did to the books: the position after it and the realized PnL it
    produced. The whole ``BotState`` exists only after the burst: building one per fill cost more
    than the arithmetic (16 frozen fields) and every reader of a single fill needs only these."""

    position: Decimal
    realized_pnl: Decimal


def apply_fills(state: BotState, fills: Iterable[Fill]) -> tuple[BotState, list[FillEffect]]:
    """The state after ``fills``, applied in order, and each fill's effect. One decimal context
    for the whole burst (entering one costs as much as the arithmetic). Raises as ``apply_fill``
    does, for the first bad fill; nothing is returned then."""
    coin = state.coin
    position, avg_entry = state.position, state.avg_entry
    session, all_time = state.session_realized, state.all_time_realized
    daily, daily_day = state.daily_realized, state.daily_day
    fees, count, last_ms = state.fees_paid, state.fill_count, state.last_fill_ms
    next_day_ms = (daily_day + 1) * UTC_DAY_MS
    effects = []
    with decimal.localcontext(ACCOUNTING_CONTEXT):
        for fill in fills:
            if fill.coin != coin:
                raise ValueError(f"fill {fill.trade_id} is for {fill.coin}, this book is {coin}")
            size, price = fill.size, fill.price
            if not (size > 0 and price > 0):
                raise ValueError(
                    f"fill {fill.trade_id} has size {size} and price {price}; both must be > 0"
                )
            qty = size if fill.side is Side.BUY else -size
            position, avg_entry, gross = _move_position(position, avg_entry, qty, price)
            fee, at_ms = fill.fee, fill.timestamp_ms
            delta = gross - fee
            if at_ms >= next_day_ms:  # the first fill of a later UTC day starts its figure
                daily_day = utc_day(at_ms)
                next_day_ms = (daily_day + 1) * UTC_DAY_MS
                daily = delta
            else:
                daily += delta
            session += delta
            all_time += delta
            fees += fee
            count += 1
            if at_ms > last_ms:
                last_ms = at_ms
            effects.append(FillEffect(position, delta))
    if not effects:
        return state, effects
    after = attrs.evolve(
        state,
        position=position,
        avg_entry=avg_entry,
        session_realized=session,
        all_time_realized=all_time,
        daily_realized=daily,
        daily_day=daily_day,
        fees_paid=fees,
        fill_count=count,
        last_fill_ms=last_ms,
    )
    return after, effects


def _move_position(
    position: Decimal, avg_entry: Decimal, qty: Decimal, price: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """(new position, new average entry, gross realized PnL) for a signed quantity at ``price``.

    Must run inside ``ACCOUNTING_CONTEXT``.
    """
    if position == 0:
        return qty, price, ZERO
    if (position > 0) == (qty > 0):
        new_position = position + qty
        new_avg = (abs(position) * avg_entry + abs(qty) * price) / abs(new_position)
        return new_position, new_avg, ZERO
    closed = min(abs(qty), abs(position))
    gross = (price - avg_entry) * closed if position > 0 else (avg_entry - price) * closed
    new_position = position + qty
    if new_position == 0:
        return ZERO, ZERO, gross
    if (new_position > 0) == (position > 0):
        return new_position, avg_entry, gross
    return new_position, price, gross


@attrs.frozen(slots=True)
class PositionCorrection:
    """A reconciliation correction to replay: after ``fills_before`` fills, the position and
    average entry were set to the exchange's figures (realized PnL untouched)."""

    fills_before: int
    position: Decimal
    avg_entry: Decimal


def replay(
    bot: str,
    coin: str,
    fills: Iterable[Fill],
    start_ms: int,
    corrections: Sequence[PositionCorrection] = (),
) -> BotState:
    """Recompute a book from scratch by applying ``fills`` in the order given (the audit uses the
    journal's application order, ``Store.applied_fills()``), with each correction at its place."""
    return replay_with_effects(bot, coin, fills, start_ms, corrections)[0]


def replay_with_effects(
    bot: str,
    coin: str,
    fills: Iterable[Fill],
    start_ms: int,
    corrections: Sequence[PositionCorrection] = (),
) -> tuple[BotState, list[FillEffect]]:
    """``replay``, and each fill's effect (position after it, realized PnL), in order."""
    pending = sorted(corrections, key=lambda c: c.fills_before)
    state = BotState.fresh(bot, coin, start_ms)
    applied = 0
    effects: list[FillEffect] = []

    def correct_up_to(count: int) -> BotState:
        nonlocal state
        while pending and pending[0].fills_before <= count:
            c = pending.pop(0)
            state = attrs.evolve(state, position=c.position, avg_entry=c.avg_entry)
        return state

    run: list[Fill] = []  # fills up to the next correction, applied as one burst
    for fill in fills:
        if pending and pending[0].fills_before <= applied:
            state, done = apply_fills(state, run)
            effects += done
            run = []
            correct_up_to(applied)
        run.append(fill)
        applied += 1
    state, done = apply_fills(state, run)
    effects += done
    return correct_up_to(applied), effects
