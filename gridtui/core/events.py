"""Engine events and the bus that carries them.

Events are named in the past tense and are frozen values. Every event has ``bot`` and ``coin``
so a log line or a TUI row can always say where it came from. ``event_name`` is the snake_case
name used as the ``event`` field of JSON logs.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from gridtui.core.types import Side

log = logging.getLogger(__name__)


class Severity(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@attrs.frozen(slots=True, kw_only=True)
class Event:
    bot: str
    coin: str
    timestamp_ms: int

    event_name: ClassVar[str] = "event"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.event_name = _snake(cls.__name__)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields: Decimals as strings, enums by value."""
        out: dict[str, Any] = {"event": self.event_name}
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, enum.Enum):
                value = value.value
            out[field.name] = value
        return out


@attrs.frozen(slots=True, kw_only=True)
class OrderPlaced(Event):
    client_id: str
    exchange_id: int | None
    side: Side
    price: Decimal
    size: Decimal
    grid_level: int | None = None


@attrs.frozen(slots=True, kw_only=True)
class OrderRejected(Event):
    client_id: str
    side: Side
    price: Decimal
    size: Decimal
    reason: str


@attrs.frozen(slots=True, kw_only=True)
class OrderCanceled(Event):
    client_id: str | None
    exchange_id: int | None
    reason: str = ""


@attrs.frozen(slots=True, kw_only=True)
class OrderFilled(Event):
    trade_id: int
    client_id: str | None
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    position: Decimal
    realized_pnl: Decimal


@attrs.frozen(slots=True, kw_only=True)
class BotHalted(Event):
    reason: str


@attrs.frozen(slots=True, kw_only=True)
class BotResumed(Event):
    pass


@attrs.frozen(slots=True, kw_only=True)
class BreakerTripped(Event):
    consecutive_errors: int
    last_error: str


@attrs.frozen(slots=True, kw_only=True)
class BreakerClosed(Event):
    pass


@attrs.frozen(slots=True, kw_only=True)
class Reconciled(Event):
    missing_fills: int
    adopted_orders: int
    canceled_unknown: int
    position_corrected: bool


@attrs.frozen(slots=True, kw_only=True)
class GridBuilt(Event):
    center: Decimal
    levels: int
    """Orders the grid wants: both sides' levels but the gap (20 for 10×2 levels), fewer for a
    long or short grid holding little."""
    placed: int
    canceled: int
    fresh: bool = False
    """A new grid (first, recentered, rebuilt), not a repair pass over the same one: shown even
    when it placed and canceled nothing (every order adopted, or every level refused)."""


class AlertKind(enum.StrEnum):
    """What an alert is about. A ``StrEnum`` so a member *is* the plain string that lands in logs,
    on the bus and in /metrics; every alert the engine raises names one."""

    POSITION_DRIFT = "position_drift"
    BREAKER_TRIPPED = "breaker_tripped"
    BOT_HALTED = "bot_halted"
    RECONCILIATION_CORRECTION = "reconciliation_correction"
    FILL_PROCESSING_ERROR = "fill_processing_error"
    DEAD_MAN_REFRESH_FAILED = "dead_man_refresh_failed"
    POSITION_EXIT = "position_exit"
    """A stop-loss, take-profit or flatten closed the position (or could not, fully)."""


@attrs.frozen(slots=True, kw_only=True)
class AlertRaised(Event):
    severity: Severity
    kind: AlertKind
    message: str


@attrs.frozen(slots=True, kw_only=True)
class BotStarted(Event):
    pass


@attrs.frozen(slots=True, kw_only=True)
class BotCrashed(Event):
    error: str
    restart_in_s: float | None
    """None: the bot is not restarted (its journal cannot be trusted)."""


@attrs.frozen(slots=True, kw_only=True)
class BotStopped(Event):
    open_orders: int


Handler = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out. A failing handler is logged with its traceback and the others still
    run: a broken display must never stop the engine, and nothing is swallowed silently."""

    def __init__(self) -> None:
        # A tuple, replaced on (un)subscribe: a handler that subscribes or unsubscribes while an
        # event is delivered changes the next delivery, and publishing (once per fill) copies
        # nothing.
        self._handlers: tuple[Handler, ...] = ()

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        self._handlers = (*self._handlers, handler)

        def unsubscribe() -> None:
            handlers = list(self._handlers)
            if handler in handlers:
                handlers.remove(handler)
                self._handlers = tuple(handlers)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for handler in self._handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event handler %r failed on %s", handler, event.event_name)
