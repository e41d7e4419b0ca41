"""Hyperliquid's public prices for the paper venue: a ``PriceSource`` over meta, allMids, trades.

No account and no key. ``start`` reads ``meta`` (size precision, maximum leverage) and ``allMids``
by REST, under the IP budget and retries of every read (``HyperliquidMarketData``), then keeps a
public stream of allMids and each coin's trades, handed to the paper venue as they arrive. The
stream reconnects on its own; trades printed while it is down are not replayed (the venue keeps
no public trade history worth paging), so the paper market hears nothing then and the bots see a
stale feed and get no fills, exactly as a live bot with a dead stream.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from gridtui.core.clock import Clock
from gridtui.core.types import ExchangeError
from gridtui.exchanges.hyperliquid import ws_parse
from gridtui.exchanges.hyperliquid.market_data import HyperliquidMarketData
from gridtui.exchanges.hyperliquid.ws import StreamLink
from gridtui.exchanges.sim.live_market import Listing, MidsHandler, TradesHandler

log = logging.getLogger(__name__)

STREAM_LIVE_TIMEOUT_S = 10.0


class MarketStream(StreamLink):
    """allMids and the trades of ``coins``, no account. The trades are subscribed first, so the
    first allMids message (its subscription comes last; the server handles them in order)
    proves them all live."""

    def __init__(
        self,
        url: str,
        clock: Clock,
        coins: Collection[str],
        *,
        on_mids: MidsHandler,
        on_trades: TradesHandler,
        **link: Any,
    ) -> None:
        super().__init__(url, clock, **link)
        self._coins = frozenset(coins)
        self._on_mids = on_mids
        self._on_trades = on_trades

    def subscriptions(self) -> list[dict[str, Any]]:
        return ws_parse.market_subscriptions(self._coins)

    def _dispatch(self, channel: Any, data: Any) -> None:
        if channel == "allMids":
            mids = ws_parse.mids(data, self._coins)
            if not self.is_live:
                self._became_live()
            self._on_mids(mids)
        elif channel == "trades":
            self._on_trades([p for p in ws_parse.trade_prints(data) if p.coin in self._coins])
        elif channel == "error":
            log.error("stream error from %s: %.200s", self.url, data)
        elif channel not in ("subscriptionResponse", "pong"):
            raise ValueError(f"unknown channel {channel!r}")

    def _on_session(self) -> None:
        self._live.clear()


class HyperliquidPrices:
    """The ``PriceSource`` of real-price paper trading: Hyperliquid's public market data."""

    def __init__(
        self,
        base_url: str,
        clock: Clock,
        coins: Collection[str],
        *,
        name: str,
        stream_live_timeout_s: float = STREAM_LIVE_TIMEOUT_S,
        **link: Any,
    ) -> None:
        self._base_url = base_url
        self._clock = clock
        self._coins = frozenset(coins)
        self._name = name
        self._live_timeout_s = stream_live_timeout_s
        self._link = link
        self._data = HyperliquidMarketData(base_url, clock)
        self.stream: MarketStream | None = None

    @property
    def name(self) -> str:
        return self._name

    async def start(self, on_mids: MidsHandler, on_trades: TradesHandler) -> dict[str, Listing]:
        await self._data.start()
        metas = await self._data.meta()
        unlisted = sorted(self._coins - metas.keys())
        if unlisted:
            raise ExchangeError(
                f"{', '.join(unlisted)}: not listed on {self._name} (expected a perpetual's "
                "name as the venue spells it, e.g. BTC)",
                retryable=False,
            )
        mids = await self._data.mids(self._coins)
        unpriced = sorted(self._coins - mids.keys())
        if unpriced:
            raise ExchangeError(f"{', '.join(unpriced)}: no mid on {self._name} yet")
        if self.stream is None:
            self.stream = MarketStream(
                self._base_url,
                self._clock,
                self._coins,
                on_mids=on_mids,
                on_trades=on_trades,
                **self._link,
            )
            self.stream.start()
            await self.stream.wait_live(self._live_timeout_s)
        return {coin: Listing(metas[coin], mids[coin]) for coin in sorted(self._coins)}

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.close()
        await self._data.close()
