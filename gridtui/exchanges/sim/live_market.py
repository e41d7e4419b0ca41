"""Real prices for the paper venue: markets that follow a live venue's mids and trades.

The paper venue's other markets invent their prices (a seeded path, a candle replay); these are
told them by a ``PriceSource`` (Hyperliquid's public stream: allMids and trades). Each traded
price becomes its own tick, so a resting order fills only against trades that printed through
it (strictly below a buy, above a sell, under the venue's fill model), up to their size, at its
limit price as maker -- never against a mid, at which nobody traded -- and only if it was resting
before the trade was heard (``Tick.heard_ms``). A market that heard nothing since the last step
yields no tick and no mid: the bots see the feed go stale exactly as live; one silent for
``silence_s`` gives no price to a poll and no liquidity to a taker (``LiveMarket.silent``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
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
    """A live venue's public market data."""

    @property
    def name(self) -> str:
        """Where the prices come from ("Hyperliquid mainnet"): a state file traded on one
        source's prices is never reopened on another's."""
        ...

    async def start(
        self, coins: Collection[str], on_mids: MidsHandler, on_trades: TradesHandler
    ) -> dict[str, Listing]:
        """The rules and mid of each of ``coins`` the venue lists (one it does not list is left
        out), then mids and trades streamed to the handlers until ``close``. Raises a retryable
        ``ExchangeError`` when the venue cannot be read (the caller retries)."""
        ...

    async def close(self) -> None: ...


class LiveMarket:
    """One coin's real market between two steps of the paper venue: the latest mid and the
    trades printed since the last step (sizes summed per price and the instant they were heard,
    so memory stays bounded however long a step is delayed)."""

    def __init__(
        self, listing: Listing, notional_per_tick: Decimal, source: str, heard_ms: int
    ) -> None:
        self.meta = listing.meta
        self._mid = listing.mid
        self._notional = notional_per_tick
        self._source = source
        self._printed: dict[tuple[Decimal, int], Decimal] = {}
        self._fresh = False
        self.heard_ms = heard_ms
        """When the venue last said anything about this market."""

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

    def silent(self, now_ms: int, silence_s: float) -> bool:
        """Nothing heard for ``silence_s``: its last price is history, not a market."""
        return now_ms - self.heard_ms > silence_s * 1000

    def state(self) -> dict[str, Any]:
        """Whose prices; nothing to resume (a restart takes the market as it is then)."""
        return {"kind": LIVE_KIND, "source": self._source}

    def on_mid(self, price: Decimal, now_ms: int) -> None:
        if price > 0:
            self._mid = price
            self._fresh = True
            self.heard_ms = now_ms

    def on_trade(self, price: Decimal, size: Decimal, now_ms: int) -> None:
        if price > 0 and size > 0:
            key = (price, now_ms)
            self._printed[key] = self._printed.get(key, Decimal(0)) + size
            self._fresh = True
            self.heard_ms = now_ms

    def drain(self) -> list[Tick]:
        """The ticks since the last call: one per traded price and instant, in the order they
        were heard, then one carrying the mid. None when the venue said nothing."""
        if not self._fresh:
            return []
        mid, depth = self._mid, self.depth
        ticks = [
            Tick(mid, price, price, mid, size, prints=True, depth=depth, heard_ms=heard)
            for (price, heard), size in sorted(self._printed.items(), key=lambda kv: kv[0][1])
        ]
        ticks.append(Tick(mid, mid, mid, mid, Decimal(0), prints=True, depth=depth))
        self._printed = {}
        self._fresh = False
        return ticks
