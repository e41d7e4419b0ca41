"""Value types shared by every layer.

Money and sizes are ``Decimal`` end to end (DESIGN §5); every type here is frozen so a snapshot
handed to the TUI or to metrics can never be mutated behind the engine's back.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs

ZERO = Decimal(0)


class Side(enum.Enum):
    """Order or fill side. The wire letters are Hyperliquid's: B = bid/buy, A = ask/sell."""

    BUY = "B"
    SELL = "A"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class Tif(enum.Enum):
    """Time in force. Alo = add-liquidity-only (post-only)."""

    GTC = "Gtc"
    ALO = "Alo"
    IOC = "Ioc"


class OrderStatus(enum.Enum):
    """Explicit order states (DESIGN §3, OrderStateMachine)."""

    PENDING_SUBMIT = "pending_submit"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_live(self) -> bool:
        """Could rest on the exchange (or be about to)."""
        return not self.is_terminal

    @property
    def is_unsettled(self) -> bool:
        """Live, but not confirmed by the exchange: being placed, being canceled, or unknown."""
        return self in _UNSETTLED


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED})
_UNSETTLED = frozenset(
    {OrderStatus.PENDING_SUBMIT, OrderStatus.PENDING_CANCEL, OrderStatus.UNKNOWN}
)


class BotStatus(enum.StrEnum):
    """What a bot is doing, as every display says it (table, panels, logs, /metrics, ``gridtui
    status``): one enum. A running bot's is derived by its orchestrator from its lifecycle and
    the components' state; the supervisor says it for a bot not running (starting, waiting for
    the venue, crashed, stopped) and publishes every bot's to /metrics and the live-status file.
    A ``StrEnum`` so a member prints as the words a trader reads."""

    STARTING = "starting"
    WAITING = "waiting for exchange"
    """Books not confirmed yet (or any more): no order goes out until a reconciliation succeeds."""
    RUNNING = "running"
    BREAKER_OPEN = "breaker open"
    """Running, but the circuit breaker holds every new order back until its cooldown ends."""
    HALTED = "halted"
    STOPPING = "stopping"
    STOPPED = "stopped"
    CRASHED = "crashed"


@attrs.frozen(slots=True)
class AssetMeta:
    """What the venue says about a coin: its asset id and size precision."""

    coin: str
    asset_id: int
    sz_decimals: int
    max_leverage: int = 50


@attrs.frozen(slots=True)
class OrderRequest:
    """An order we want on the exchange. ``client_id`` is a Hyperliquid cloid: 0x + 32 hex."""

    coin: str
    side: Side
    price: Decimal
    size: Decimal
    client_id: str
    tif: Tif = Tif.GTC
    reduce_only: bool = False

    @property
    def notional(self) -> Decimal:
        return self.price * self.size


@attrs.frozen(slots=True)
class Order:
    """An order as the exchange reports it: ``size`` as placed, ``remaining`` what still rests."""

    coin: str
    side: Side
    price: Decimal
    size: Decimal
    remaining: Decimal
    exchange_id: int
    client_id: str | None
    status: OrderStatus
    timestamp_ms: int
    tif: Tif = Tif.GTC
    reduce_only: bool = False

    @property
    def filled(self) -> Decimal:
        return self.size - self.remaining


@attrs.frozen(slots=True)
class Fill:
    """One execution. ``trade_id`` (Hyperliquid ``tid``) identifies it per venue and coin."""

    venue: str
    coin: str
    trade_id: int
    exchange_order_id: int
    client_id: str | None
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    timestamp_ms: int
    is_taker: bool = False

    @property
    def signed_size(self) -> Decimal:
        return self.size * self.side.sign

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.venue, self.coin, self.trade_id)


class PlaceStatus(enum.Enum):
    RESTING = "resting"
    FILLED = "filled"
    ERROR = "error"


@attrs.frozen(slots=True)
class PlaceAck:
    """The exchange's per-order answer to a place request (Hyperliquid statuses[i])."""

    status: PlaceStatus
    exchange_id: int | None = None
    client_id: str | None = None
    error: str | None = None
    filled_size: Decimal = ZERO
    avg_price: Decimal | None = None


@attrs.frozen(slots=True)
class CancelAck:
    """The exchange's per-order answer to a cancel request."""

    success: bool
    exchange_id: int | None = None
    client_id: str | None = None
    error: str | None = None


@attrs.frozen(slots=True)
class Position:
    """The exchange's view of one coin's position. ``size`` is signed (short < 0)."""

    coin: str
    size: Decimal
    entry_price: Decimal


@attrs.frozen(slots=True)
class Level:
    """One grid level. ``index`` < 0 below the center, > 0 above; 0 is the center itself."""

    index: int
    price: Decimal
    side: Side
    size: Decimal


class ExchangeError(Exception):
    """A venue call failed as a whole (network, 5xx, 429, action-level error).

    Per-order rejections are not exceptions: they are ``PlaceAck(status=ERROR)``.
    ``retryable`` tells the caller whether backing off and trying again makes sense.
    """

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status
