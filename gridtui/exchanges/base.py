"""The Exchange protocol every venue implements (paper SimExchange, Hyperliquid).

Contract, shared by all implementations:
- All prices and sizes are ``Decimal``. Requests are already rounded to the venue's rules.
- A call that fails as a whole raises ``ExchangeError``; a per-order rejection is a ``PlaceAck``
  with ``status=ERROR`` and the venue's message in ``error``. Nothing else is raised.
- ``fills_since`` is inclusive of ``start_ms`` and sorted by (timestamp, trade_id): callers pass the
  time of the last fill they recorded and deduplicate, so a fill in the same millisecond is never
  missed.
- ``positions()`` returns every non-zero position. It raises rather than return a partial answer:
  an error must never read as "flat".
- ``schedule_cancel(at_ms)`` arms the dead-man switch for the whole account (Hyperliquid
  semantics): at ``at_ms`` every open order is canceled. ``None`` disarms it.
- ``subscribe()`` returns a queue of stream events for this subscriber; the venue pushes every
  mid tick, fill and order update of the account into every subscriber queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

import attrs

from gridtui.core.account import AccountSummary
from gridtui.core.types import AssetMeta, CancelAck, Fill, Order, OrderRequest, PlaceAck, Position


@attrs.frozen(slots=True)
class MidUpdated:
    coin: str
    price: Decimal
    timestamp_ms: int


@attrs.frozen(slots=True)
class FillsReceived:
    fills: tuple[Fill, ...]
    is_snapshot: bool = False


@attrs.frozen(slots=True)
class OrderUpdated:
    order: Order


@attrs.frozen(slots=True)
class StreamReset:
    """The stream was interrupted; events may have been missed and the subscriber should
    catch up by REST (reconciliation)."""

    reason: str


StreamEvent = MidUpdated | FillsReceived | OrderUpdated | StreamReset


class VenueUnavailable(Exception):
    """The configured venue cannot be used (no key, a key file with a wide mode, …): a one-line
    message naming the fix."""


class Exchange(Protocol):
    venue: str

    async def start(self) -> None:
        """Connect / start the market. Idempotent."""

    async def close(self) -> None:
        """Stop background work and release resources. Orders are left as they are."""

    def serve_stop(self) -> None:
        """A stop has begun: from now on every call serves it (canceling, counting what is
        left, catching up fills), so none may queue behind a rate-limit budget spent on
        trading; the venue's own refusals are retried with backoff as ever."""

    async def asset_meta(self, coin: str) -> AssetMeta: ...

    async def update_leverage(self, coin: str, leverage: int, *, cross: bool = True) -> None:
        """Set the coin's leverage and margin mode; a refusal raises ``ExchangeError`` with the
        venue's text."""

    async def all_mids(self) -> dict[str, Decimal]: ...

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[PlaceAck]: ...

    async def cancel_orders(self, coin: str, exchange_ids: Sequence[int]) -> list[CancelAck]: ...

    async def cancel_by_client_ids(
        self, coin: str, client_ids: Sequence[str]
    ) -> list[CancelAck]: ...

    async def open_orders(self, coin: str | None = None) -> list[Order]: ...

    async def order_status(
        self, *, exchange_id: int | None = None, client_id: str | None = None
    ) -> Order | None:
        """The order in any state, or None if the venue never saw it."""

    async def fills_since(self, start_ms: int, coin: str | None = None) -> list[Fill]: ...

    async def positions(self) -> dict[str, Position]: ...

    async def account(self) -> AccountSummary:
        """Value, margin and each position's leverage, liquidation price and funding."""

    async def schedule_cancel(self, at_ms: int | None) -> None: ...

    def subscribe(self) -> asyncio.Queue[StreamEvent]: ...

    def unsubscribe(self, queue: asyncio.Queue[StreamEvent]) -> None: ...
