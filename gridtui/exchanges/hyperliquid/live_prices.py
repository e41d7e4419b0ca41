"""Hyperliquid's public prices for the paper venue: a ``PriceSource`` over meta, allMids, trades.

No account and no key. ``start`` reads ``meta`` (size precision, maximum leverage) and ``allMids``
by REST, under the IP budget and retries of every read (``HyperliquidMarketData``), then keeps a
public stream of allMids and each coin's trades, handed to the paper venue as they arrive. The
stream reconnects on its own; trades printed while it is down are not replayed (the venue keeps
no public trade history worth paging), so the paper market hears nothing then and the bots see a
stale feed and get no fills, exactly as a live bot with a dead stream.

A trade is never taken twice or late: a trade id seen before is dropped, and so is the first
``trades`` message of each coin on every connection, which may be the venue's recent history
rather than new prints (at worst one real batch is missed: pessimistic, never optimistic).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Collection
from decimal import Decimal
from typing import Any

from gridtui.core.clock import Clock
from gridtui.core.types import ExchangeError
from gridtui.exchanges.hyperliquid import ws_parse
from gridtui.exchanges.hyperliquid.market_data import HyperliquidMarketData
from gridtui.exchanges.hyperliquid.wire import WireError
from gridtui.exchanges.hyperliquid.ws import StreamLink
from gridtui.exchanges.sim.live_market import Listing, MidsHandler, TradePrint, TradesHandler

log = logging.getLogger(__name__)

STREAM_LIVE_TIMEOUT_S = 10.0
RATES_EVERY_S = 600.0
"""How often the funding rates are read again (the venue's rate moves within the hour)."""
TRADE_IDS_KEPT = 10_000
"""Per coin, the newest trade ids remembered to drop a repeat."""


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
        self._seen: dict[str, tuple[deque[int], set[int]]] = {c: (deque(), set()) for c in coins}
        self._heard_from: set[str] = set()
        """Coins whose first trades message of this connection has come."""

    def subscriptions(self) -> list[dict[str, Any]]:
        return ws_parse.market_subscriptions(self._coins)

    def _on_session(self) -> None:
        self._heard_from.clear()

    def _dispatch(self, channel: Any, data: Any) -> None:
        if channel == "allMids":
            mids = ws_parse.mids(data, self._coins)
            if not self.is_live:
                self._became_live()
            self._on_mids(mids)
        elif channel == "trades":
            trades = ws_parse.trade_prints(data)
            new = [trade for tid, trade in trades if self._is_new(tid, trade)]
            self._heard_from.update(trade.coin for _, trade in trades)
            if new:
                self._on_trades(new)
        elif channel == "error":
            log.error("stream error from %s: %.200s", self.url, data)
        elif channel not in ("subscriptionResponse", "pong"):
            raise ValueError(f"unknown channel {channel!r}")

    def _is_new(self, tid: int, trade: TradePrint) -> bool:
        """A trade of ours, not seen before, and not in the first message of its coin on this
        connection (remembered all the same, so a later repeat is dropped too)."""
        if trade.coin not in self._coins:
            return False
        order, ids = self._seen[trade.coin]
        if tid in ids:
            return False
        ids.add(tid)
        order.append(tid)
        if len(order) > TRADE_IDS_KEPT:
            ids.discard(order.popleft())
        return trade.coin in self._heard_from


class HyperliquidPrices:
    """The ``PriceSource`` of real-price paper trading: Hyperliquid's public market data."""

    def __init__(
        self,
        base_url: str,
        clock: Clock,
        *,
        name: str,
        stream_live_timeout_s: float = STREAM_LIVE_TIMEOUT_S,
        **link: Any,
    ) -> None:
        self._base_url = base_url
        self._clock = clock
        self._name = name
        self._live_timeout_s = stream_live_timeout_s
        self._link = link
        self._data = HyperliquidMarketData(base_url, clock)
        self.stream: MarketStream | None = None
        self._coins: frozenset[str] = frozenset()
        self._rates: dict[str, Decimal] = {}
        self._rates_task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self._name

    def funding_rates(self) -> dict[str, Decimal]:
        """Each listed coin's funding rate for the hour, as last read."""
        return dict(self._rates)

    async def start(
        self, coins: Collection[str], on_mids: MidsHandler, on_trades: TradesHandler
    ) -> dict[str, Listing]:
        await self._data.start()
        metas, contexts = await self._data.meta_and_contexts()
        listed = sorted(set(coins) & metas.keys())
        mids = await self._data.mids(listed)
        listings = {coin: Listing(metas[coin], mids[coin]) for coin in listed if coin in mids}
        self._coins = frozenset(listings)
        self._rates = {c: contexts[c].funding for c in listings if c in contexts}
        if self._rates_task is None:
            self._rates_task = asyncio.create_task(self._read_rates(), name="funding-rates")
        if self.stream is None:
            self.stream = MarketStream(
                self._base_url,
                self._clock,
                listings,
                on_mids=on_mids,
                on_trades=on_trades,
                **self._link,
            )
            self.stream.start()
            await self.stream.wait_live(self._live_timeout_s)
        return listings

    async def _read_rates(self) -> None:
        """Keep the rates current; a failed read keeps the last ones (logged)."""
        while True:
            await self._clock.sleep(RATES_EVERY_S)
            try:
                _, contexts = await self._data.meta_and_contexts()
            except (ExchangeError, WireError) as exc:
                log.warning("%s: reading funding rates failed: %s", self._name, exc)
                continue
            self._rates = {c: contexts[c].funding for c in self._coins if c in contexts}

    async def close(self) -> None:
        if self._rates_task is not None:
            self._rates_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rates_task
        if self.stream is not None:
            await self.stream.close()
        await self._data.close()
