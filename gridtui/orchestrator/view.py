"""Immutable views of a bot for displays (the TUI) — read, never mutated, built on demand — and
the view model a display samples them through.

Everything a panel shows is decided here (level status, distance from mid, drawdown against its
limit, the equity series of the chart), so the TUI only lays out values and never reaches into
components. Nothing here imports Textual.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from itertools import accumulate

import attrs

from gridtui.config.schema import Direction
from gridtui.core.clock import utc_day
from gridtui.core.events import Event
from gridtui.core.types import ZERO, BotStatus, Fill, OrderStatus, Side
from gridtui.execution.grid_builder import would_cross
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.risk.circuit_breaker import BreakerState
from gridtui.state.accounting import HaltKind, replay_with_effects
from gridtui.state.round_trips import RoundTripFigures, inventory_pnl

RECENT_FILL_MS = 60_000
"""A level filled less than this long ago is highlighted on the ladder."""
EQUITY_POINTS = 240
"""Points kept of each bot's equity chart."""
PENDING_EVENTS = 2000
"""Engine events kept between two refreshes of a display; beyond, the oldest are dropped."""


class LevelStatus(enum.Enum):
    RESTING = "resting"
    PENDING = "pending"
    FILLED = "filled"
    WOULD_CROSS = "would cross"
    """No order: post-only, it would take liquidity at this mid; placed once the price moves."""
    NOT_HELD = "not held"
    """No order: a long (short) grid sells (buys) only inventory it holds."""
    MISSING = "missing"
    CANCELED = "canceled"
    """No order: the bot is halted, its orders canceled."""


@attrs.frozen(slots=True)
class LevelView:
    index: int
    side: Side | None
    """None for the gap: the empty slot between the buys and the sells."""
    price: Decimal
    size: Decimal
    status: LevelStatus
    distance_pct: Decimal | None
    recently_filled: bool
    why: str | None = None
    """Why a missing level has no order, when the engine said ("position limit")."""


@attrs.frozen(slots=True)
class RiskView:
    breaker_state: BreakerState
    breaker_errors: int
    breaker_trips: int
    breaker_last_error: str | None
    breaker_reopens_at_ms: int | None
    halted: bool
    halt_kind: HaltKind | None
    halt_reason: str | None
    dead_man_enabled: bool
    dead_man_expires_at_ms: int | None
    dead_man_healthy: bool
    drawdown: Decimal
    max_drawdown: Decimal
    daily_pnl: Decimal
    daily_loss_limit: Decimal
    order_tokens: Decimal
    order_burst: int
    max_orders_per_second: Decimal


@attrs.frozen(slots=True)
class BotView:
    name: str
    coin: str
    venue: str
    status: BotStatus
    error: str | None
    """Why the bot is crashed or waiting for the exchange ("HTTP 502, retry in 4 s")."""
    now_ms: int
    position: Decimal
    avg_entry: Decimal
    mark: Decimal | None
    price_stale: bool
    """No mid has arrived for the engine's ``stream_stale_after_s``: the stream is silent."""
    price_age_s: float | None
    """Seconds since the last mid arrived; None before the first."""
    unrealized: Decimal
    session_realized: Decimal
    all_time_realized: Decimal
    fees_paid: Decimal
    fill_count: int
    last_fill_ms: int
    open_orders: int
    center: Decimal | None
    spacing_pct: Decimal | None
    direction: Direction
    levels: tuple[LevelView, ...]
    """Highest price first, as a ladder reads."""
    recent_fills: tuple[Fill, ...]
    """Newest first."""
    round_trips: RoundTripFigures
    risk: RiskView | None

    @property
    def inventory_pnl(self) -> Decimal:
        """What the round trips do not explain: holding the unmatched inventory."""
        return inventory_pnl(self.all_time_realized, self.unrealized, self.round_trips.grid_profit)

    @property
    def equity(self) -> Decimal:
        """Realized (all time) plus unrealized: what the PnL chart plots."""
        return self.all_time_realized + self.unrealized


EquityPoint = tuple[int, float]
"""(time in ms, equity) of one point of a chart."""


class ViewModel:
    """What a display shows of a supervisor's bots, sampled on the display's own clock.

    The display calls ``refresh`` on its timer and reads the rest: each bot's equity (its
    journal's history first, then sampled) and the engine events since it last took them. The
    model outlives the widgets that show it, so a panel mounted again shows the same chart.
    """

    def __init__(
        self,
        views: Callable[[], Iterable[BotView]],
        *,
        history: Callable[[str], Sequence[EquityPoint]] | None = None,
        equity_points: int = EQUITY_POINTS,
        pending_events: int = PENDING_EVENTS,
    ) -> None:
        self._views = views
        self._history = history
        self._points = equity_points
        self._equity: dict[str, deque[EquityPoint]] = {}
        self._last_sample: dict[str, tuple[int, Decimal]] = {}
        self._events: deque[Event] = deque(maxlen=pending_events)

    def refresh(self) -> tuple[BotView, ...]:
        """Every bot's view, read once, its equity sampled."""
        views = tuple(self._views())
        for view in views:
            self._sample_equity(view)
        return views

    def equity(self, name: str | None) -> tuple[EquityPoint, ...]:
        """The bot's equity over time, oldest first: realized PnL after each fill of its
        journal before the display started, then realized all time plus unrealized at each
        sample."""
        series = self._equity.get(name) if name is not None else None
        return tuple(series) if series else ()

    def _sample_equity(self, view: BotView) -> None:
        """One chart point per change of fills or mark: the chart moves with the market, not
        with the refresh rate."""
        if view.mark is None:
            return
        key = (view.fill_count, view.mark)
        if self._last_sample.get(view.name) == key:
            return
        self._last_sample[view.name] = key
        series = self._equity.get(view.name)
        if series is None:
            past = self._history(view.name) if self._history is not None else ()
            series = self._equity[view.name] = deque(past, maxlen=self._points)
        series.append((view.now_ms, float(view.equity)))

    def add_event(self, event: Event) -> None:
        """An event bus subscriber: the event waits for the next ``take_events``."""
        self._events.append(event)

    def take_events(self) -> list[Event]:
        """The events since the last call, ordered by time, then bot: bots run concurrently, so
        a batch reads the same however their workers interleaved."""
        batch = sorted(self._events, key=lambda e: (e.timestamp_ms, e.bot))
        self._events.clear()
        return batch


def realized_history(bot: BotOrchestrator, points: int = EQUITY_POINTS) -> list[EquityPoint]:
    """The bot's realized PnL (all time, net of fees) after each fill of its journal, as the
    state row counts it (the journal replayed), thinned to at most ``points`` evenly spaced
    fills (the last one always kept): the chart's history before the display started."""
    store = bot.c.store
    fills = store.applied_fills()
    if not fills:
        return []
    _, effects = replay_with_effects(bot.name, bot.coin, fills, 0, store.position_corrections())
    realized = accumulate(float(e.realized_pnl) for e in effects)
    history = [(fill.timestamp_ms, value) for fill, value in zip(fills, realized, strict=True)]
    return thinned(history, points)


def thinned(points: Sequence[EquityPoint], most: int) -> list[EquityPoint]:
    """At most ``most`` of ``points``, evenly spaced from the first, the last always kept."""
    if len(points) <= most:
        return list(points)
    step = -(-len(points) // (most - 1))  # ceil: never more than most - 1 before the last
    return [*points[:-1:step], points[-1]]


def idle_view(
    name: str, coin: str, venue: str, status: BotStatus, error: str | None, now_ms: int
) -> BotView:
    """A bot that is not running (starting, or crashed before it could be built)."""
    return BotView(
        name=name, coin=coin, venue=venue, status=status, error=error, now_ms=now_ms,
        position=ZERO, avg_entry=ZERO, mark=None, price_stale=False, price_age_s=None,
        unrealized=ZERO, session_realized=ZERO,
        all_time_realized=ZERO, fees_paid=ZERO, fill_count=0, last_fill_ms=0, open_orders=0,
        center=None, spacing_pct=None, direction=Direction.NEUTRAL, levels=(), recent_fills=(),
        round_trips=RoundTripFigures(0, ZERO, ZERO), risk=None,
    )  # fmt: skip


def ladder(
    prices: tuple[Decimal, ...],
    sizes: tuple[Decimal, ...],
    gap_index: int,
    live: dict[tuple[int, Side], OrderStatus],
    filled_at: dict[int, int],
    mark: Decimal | None,
    now_ms: int,
    wanted: frozenset[tuple[int, Side]] | None = None,
    refused: Mapping[tuple[int, Side], str] | None = None,
    *,
    halted: bool = False,
) -> tuple[LevelView, ...]:
    """Every level of the grid with what rests there, highest price first.

    ``live`` maps (level, side) to the status of the live order there; ``filled_at`` maps a level
    to the time of its latest fill. An empty level the builder skips because it would cross
    ``mark`` says so: "missing" would suggest an order lost, not one waiting for the price; one
    a long or short grid does not want (``wanted``: the levels it places; None: all) says it is
    not held; one the last pass could not place says why (``refused``); a halted bot's levels
    are canceled, not filled.
    """
    n = (len(prices) - 1) // 2
    rows = []
    for index, (price, size) in enumerate(zip(prices, sizes, strict=True), start=-n):
        side = None if index == gap_index else (Side.BUY if index < gap_index else Side.SELL)
        recent = now_ms - filled_at.get(index, -RECENT_FILL_MS) < RECENT_FILL_MS
        if side is None:
            status = LevelStatus.FILLED if recent else LevelStatus.MISSING
        else:
            order = live.get((index, side))
            if order in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
                status = LevelStatus.RESTING
            elif order is not None:
                status = LevelStatus.PENDING
            elif halted:
                status = LevelStatus.CANCELED
            elif mark is not None and would_cross(side, price, mark):
                status = LevelStatus.WOULD_CROSS
            elif wanted is not None and (index, side) not in wanted:
                status = LevelStatus.NOT_HELD
            else:
                status = LevelStatus.FILLED if recent else LevelStatus.MISSING
        distance = None if mark is None or not mark else (price - mark) / mark * 100
        why = None
        if status is LevelStatus.MISSING and side is not None and refused:
            why = refused.get((index, side))
        rows.append(LevelView(index, side, price, size, status, distance, recent, why))
    return tuple(reversed(rows))


def bot_view(bot: BotOrchestrator) -> BotView:
    """Everything the panels show about one running bot, at this instant."""
    c = bot.c
    now = c.clock.now_ms()
    state = c.state.get_snapshot()
    mark = c.feed.mark()
    unrealized = state.unrealized_at(mark) if mark is not None else ZERO
    status = bot.status
    snapshot = c.builder.snapshot
    levels: tuple[LevelView, ...] = ()
    if snapshot is not None:
        live = {(t.level, t.request.side): t.status for t in c.ledger.live() if t.level is not None}
        wanted = frozenset((lvl.index, lvl.side) for lvl in c.builder.desired_levels())
        levels = ladder(
            snapshot.prices, snapshot.sizes, c.builder.gap_index, live, bot.fills.filled_at(),
            mark, now, wanted, c.builder.refused, halted=state.halted,
        )  # fmt: skip
    limits = c.risk.limits
    peak = c.risk.peak_equity
    equity = state.all_time_realized + unrealized
    risk = RiskView(
        breaker_state=c.breaker.state,
        breaker_errors=c.breaker.consecutive_errors,
        breaker_trips=c.breaker.trip_count,
        breaker_last_error=c.breaker.last_error,
        breaker_reopens_at_ms=c.breaker.reopens_at_ms,
        halted=state.halted,
        halt_kind=state.halt_kind,
        halt_reason=state.halt_reason,
        dead_man_enabled=c.dead_man.enabled,
        dead_man_expires_at_ms=c.dead_man.expires_at_ms,
        dead_man_healthy=c.dead_man.healthy,
        drawdown=max(peak - equity, ZERO) if peak is not None else ZERO,
        max_drawdown=limits.max_drawdown,
        daily_pnl=state.daily_realized_for(utc_day(now)) + unrealized,
        daily_loss_limit=limits.daily_loss_limit,
        order_tokens=c.risk.tokens_available,
        order_burst=limits.order_burst,
        max_orders_per_second=limits.max_orders_per_second,
    )
    return BotView(
        name=bot.name,
        coin=bot.coin,
        venue=c.exchange.venue,
        status=status,
        error=c.reconciliation.waiting_reason if status is BotStatus.WAITING else None,
        now_ms=now,
        position=state.position,
        avg_entry=state.avg_entry,
        mark=mark,
        price_stale=c.feed.is_stale(),
        price_age_s=c.feed.age_s(),
        unrealized=unrealized,
        session_realized=state.session_realized,
        all_time_realized=state.all_time_realized,
        fees_paid=state.fees_paid,
        fill_count=state.fill_count,
        last_fill_ms=state.last_fill_ms,
        open_orders=c.ledger.live_count(),
        center=snapshot.center if snapshot is not None else None,
        spacing_pct=snapshot.spacing_pct if snapshot is not None else None,
        direction=c.settings.grid.direction,
        levels=levels,
        recent_fills=bot.fills.newest_first(),
        round_trips=bot.round_trips.figures(),
        risk=risk,
    )
