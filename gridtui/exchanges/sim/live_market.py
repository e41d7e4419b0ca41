"""Real prices for the paper venue: markets that follow a live venue's mids and trades.

The paper venue's other markets invent their prices (a seeded path, a candle replay); these are
told them by a ``PriceSource`` (Hyperliquid's public stream: allMids and trades). Each traded
price becomes its own tick, so a resting order fills only against trades that printed through
it (strictly below a buy, above a sell, under the venue's fill model), up to their size, at its
limit price as maker -- never against a mid, at which nobody traded. A market that heard nothing
since the last step yields no tick and no mid: the bots see the feed go stale exactly as live.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

import attrs

from gridtui.core.types import AssetMeta
from gridtui.exchanges.sim.price_path import Tick, tick_volume

LIVE_KIND = "live"
"""The price-path kind a live market stores in the paper state file."""


@attrs.frozen(slots=True)
class TradePrint:
    """One trade the live venue printed."""

    coin: str
    price: Decimal
    size: Decimal


@attrs.frozen(slots=True)
class Listing:
    """What the live venue says of a coin at start: its rules and where it trades now."""

    meta: AssetMeta
    mid: Decimal


MidsHandler = Callable[[Mapping[str, Decimal]], None]
TradesHandler = Callable[[Sequence[TradePrint]], None]


class PriceSource(Protocol):
    """A live venue's public market data for the coins the paper venue trades."""

    @property
    def name(self) -> str:
        """Where the prices come from, for messages ("Hyperliquid mainnet")."""
        ...

    async def start(self, on_mids: MidsHandler, on_trades: TradesHandler) -> dict[str, Listing]:
        """Read each coin's rules and mid, then stream mids and trades to the handlers until
        ``close``. Raises a retryable ``ExchangeError`` when the venue cannot be read (the
        caller retries), a final one for a coin the venue does not list."""
        ...

    async def close(self) -> None: ...


class LiveMarket:
    """One coin's real market between two steps of the paper venue: the latest mid and the
    trades printed since the last step (their sizes summed per price, so memory stays bounded
    however long a step is delayed)."""

    def __init__(self, listing: Listing, notional_per_tick: Decimal) -> None:
        self.meta = listing.meta
        self._mid = listing.mid
        self._notional = notional_per_tick
        self._printed: dict[Decimal, Decimal] = {}
        self._heard = False

    @property
    def coin(self) -> str:
        return self.meta.coin

    @property
    def mid(self) -> Decimal:
        return self._mid

    @property
    def depth(self) -> Decimal:
        """What a taker finds at the synthetic touch: ``notional_per_tick`` worth at the mid."""
        return tick_volume(self._notional, self._mid, self.meta.sz_decimals)

    def state(self) -> dict[str, Any]:
        """Nothing to resume: a restart takes the market as it is then."""
        return {"kind": LIVE_KIND}

    def on_mid(self, price: Decimal) -> None:
        if price > 0:
            self._mid = price
            self._heard = True

    def on_trade(self, price: Decimal, size: Decimal) -> None:
        if price > 0 and size > 0:
            self._printed[price] = self._printed.get(price, Decimal(0)) + size
            self._heard = True

    def drain(self) -> list[Tick]:
        """The ticks since the last call: one per traded price, in no promised order (a price
        level fills the same whichever trade reached it first), then one carrying the mid. None
        when the venue said nothing."""
        if not self._heard:
            return []
        mid, depth = self._mid, self.depth
        ticks = [
            Tick(mid, price, price, mid, size, prints=True, depth=depth)
            for price, size in self._printed.items()
        ]
        ticks.append(Tick(mid, mid, mid, mid, Decimal(0), prints=True, depth=depth))
        self._printed = {}
        self._heard = False
        return ticks
