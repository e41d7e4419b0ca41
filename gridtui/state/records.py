"""Rows of a bot's journal as value types (what ``Store`` reads back)."""

from __future__ import annotations

from decimal import Decimal

import attrs

from gridtui.core.types import OrderRequest, OrderStatus, Side, Tif


@attrs.frozen(slots=True)
class OrderRecord:
    """One row of the ``orders`` table: our latest belief about an order we journaled."""

    client_id: str
    exchange_id: int | None
    coin: str
    side: Side
    price: Decimal
    size: Decimal
    filled: Decimal
    level: int | None
    generation: int
    status: OrderStatus
    tif: Tif
    reduce_only: bool
    created_ms: int
    updated_ms: int
    last_error: str | None

    @property
    def request(self) -> OrderRequest:
        return OrderRequest(
            self.coin, self.side, self.price, self.size, self.client_id, self.tif, self.reduce_only
        )


@attrs.frozen(slots=True)
class Adjustment:
    """A correction reconciliation made to the books, and why. ``fills_before`` is how many
    fills had been applied when it was made, so an audit can replay it at the right point."""

    id: int
    timestamp_ms: int
    field: str
    old_value: str
    new_value: str
    reason: str
    fills_before: int
