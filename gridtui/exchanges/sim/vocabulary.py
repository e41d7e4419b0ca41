"""What the paper engine says and keeps: Hyperliquid's exact rejection messages and status words
(the mock server answers with them too), and the engine's config and persisted records."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Protocol

import attrs

from gridtui.core.types import Fill, Order, Position
from gridtui.exchanges.sim.price_path import MarketState

ERR_INVALID_PRICE = "Order has invalid price."
ERR_TICK_SIZE = "Price must be divisible by tick size."
ERR_INVALID_SIZE = "Order has invalid size."
ERR_MIN_VALUE = "Order must have minimum value of $10."
ERR_MARGIN = "Insufficient margin to place order."
ERR_REDUCE_ONLY = "Reduce only order would increase position."
ERR_POST_ONLY = "Post only order would have immediately matched, bbo was {bid}@{ask}."
ERR_IOC = "Order could not immediately match against any resting orders."
ERR_DUPLICATE_CLOID = "Order has duplicate cloid."
ERR_CANCEL = "Order was never placed, already canceled, or filled."
ERR_LEVERAGE = "Invalid leverage value"

# Hyperliquid's orderStatus words for orders that ended without filling completely.
CANCELED = "canceled"
SCHEDULED_CANCEL = "scheduledCancel"
REDUCE_ONLY_CANCELED = "reduceOnlyCanceled"


class FillModel(enum.Enum):
    """When a trade reaches a resting order. A candle's low and high are prices that traded; only
    a price beyond the order's proves the queue in front of it was eaten."""

    STRICT = "strict"
    """A resting buy fills when trades print below its price (a sell: above)."""
    TOUCH = "touch"
    """A resting buy fills when trades print at or below its price: the optimistic bound."""


@attrs.frozen(slots=True)
class EngineConfig:
    venue: str
    maker_fee: Decimal
    taker_fee: Decimal
    half_spread: Decimal = Decimal("0.0001")
    fill_model: FillModel = FillModel.TOUCH


@attrs.frozen(slots=True)
class EngineRecords:
    """The engine as rows: what changed when taken; when loaded, the venue's working set
    (live orders, no fills) or, for ``read_state``, the whole file. Size 0 = closed."""

    balance: Decimal
    next_order_id: int
    next_trade_id: int
    schedule_cancel_ms: int | None
    orders: tuple[Order, ...] = ()
    reasons: Mapping[int, str] = attrs.field(factory=dict)
    """Hyperliquid status word of canceled / rejected orders, by exchange id."""
    fills: tuple[Fill, ...] = ()
    positions: tuple[Position, ...] = ()
    markets: tuple[MarketState, ...] = ()
    funding: Mapping[str, Decimal] = attrs.field(factory=dict)
    """USD each position paid in funding since it opened, by coin (0: none open)."""
    funding_hour: int | None = None
    """The last hour (epoch ms // 3 600 000) funding was charged for; None: never charged."""


class OrderArchive(Protocol):
    """Where the engine finds the orders it no longer keeps in memory (the state file): the
    venue must answer for every order ever placed, but holding them all grew without bound."""

    def archived_order(
        self, *, exchange_id: int | None = None, client_id: str | None = None
    ) -> tuple[Order, str | None] | None:
        """The order with this id and its status word (for canceled / rejected ones)."""
        ...

    def client_ids_used(self, client_ids: Collection[str]) -> set[str]:
        """Which of ``client_ids`` an archived order carries (one read for a whole batch)."""
        ...
