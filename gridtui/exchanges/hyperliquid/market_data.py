"""Hyperliquid's public market data: candles and funding rates for ``gridtui data fetch``; the
asset table and mids the paper venue's real prices start from.

No account and no key: it only reads ``POST /info``, under the IP weight budget and the retry
policy of rest.py, like the trading client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from gridtui.core.clock import Clock
from gridtui.core.types import AssetMeta, ExchangeError
from gridtui.exchanges.hyperliquid import info_parse, wire
from gridtui.exchanges.hyperliquid.client import DEFAULT_TIMEOUT_S
from gridtui.exchanges.hyperliquid.rate_limit import IpWeightBudget
from gridtui.exchanges.hyperliquid.rest import backoff_factory, post_info

T = TypeVar("T")


class HyperliquidMarketData:
    """Hyperliquid's public market history over ``POST /info``: candles and funding rates.

    No account and no key: it only reads, under the same IP weight budget (``weight_of``: 20 per
    call, plus 1 per 60 candles or per 20 funding records returned) and the same retry policy as
    the trading client (rest.py: 429 and 5xx backed off and retried, then a retryable
    ``ExchangeError``). Use it as an ``async with`` block, or ``start`` and ``close`` it."""

    def __init__(
        self,
        base_url: str,
        clock: Clock,
        *,
        http: httpx.AsyncClient | None = None,
        ip_budget: IpWeightBudget | None = None,
        max_attempts: int = 5,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        backoff_seed: int | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._clock = clock
        self._http = http
        self._owns_http = http is None
        self._timeout_s = timeout_s
        self._ip_budget = ip_budget or IpWeightBudget(clock)
        self._backoff_cap_s = backoff_cap_s
        self._backoff = backoff_factory(
            clock,
            base_s=backoff_base_s,
            cap_s=backoff_cap_s,
            seed=backoff_seed,
            max_attempts=max_attempts,
        )

    def __repr__(self) -> str:
        return f"HyperliquidMarketData({self._base_url})"

    async def start(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self._base_url, timeout=self._timeout_s)
            self._owns_http = True

    async def close(self) -> None:
        if self._http is not None and self._owns_http:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> HyperliquidMarketData:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def meta_and_contexts(
        self,
    ) -> tuple[dict[str, AssetMeta], dict[str, info_parse.AssetContext]]:
        """The perpetuals the venue lists (asset id, size precision, maximum leverage) and each
        one's market context (mark, funding rate of the hour)."""
        answer = await self._info({"type": "metaAndAssetCtxs"})
        return info_parse.parse_meta_and_asset_ctxs(answer)

    async def mids(self, coins: Collection[str]) -> dict[str, Decimal]:
        """The mid of each of ``coins`` the venue prices now (only those are read)."""
        every = wire._as_obj(await self._info({"type": "allMids"}), "allMids")
        return info_parse.parse_all_mids({c: every[c] for c in coins if c in every})

    async def candle_snapshot(
        self, coin: str, interval: str, start_ms: int, end_ms: int | None = None
    ) -> list[info_parse.VenueCandle]:
        """One candleSnapshot call: the candles opening from ``start_ms`` to ``end_ms``."""
        body = wire.candle_snapshot_request(coin, interval, start_ms, end_ms)
        candles = info_parse.parse_candles(await self._info(body))
        for candle in candles:
            if candle.coin != coin or candle.interval != interval:
                raise wire.WireError(
                    f"candleSnapshot: a {candle.coin} {candle.interval} candle in the answer "
                    f"for {coin} {interval}"
                )
        return candles

    async def candles(
        self, coin: str, interval: str, start_ms: int, end_ms: int
    ) -> list[info_parse.VenueCandle]:
        """Every candle the venue has opening from ``start_ms`` to ``end_ms``, oldest first.

        Paged: each call asks from just after the newest candle of the last answer, until an
        answer reaches the candle of ``end_ms``, is empty, or brings no candle not seen yet.
        Pages may overlap at their edges (a venue answering with the candle that contains the
        start time); candles are deduplicated on their open time, the later answer winning (a
        candle still open when first read has moved on since)."""
        return await _paged(
            lambda cursor: self.candle_snapshot(coin, interval, cursor, end_ms),
            lambda candle: candle.open_ms,
            start_ms,
            end_ms,
            last=wire.candle_open_ms(interval, end_ms),
        )

    async def funding_history(
        self, coin: str, start_ms: int, end_ms: int | None = None
    ) -> list[info_parse.FundingRecord]:
        """One fundingHistory call: at most ``wire.FUNDING_PAGE`` records from ``start_ms``."""
        body = wire.funding_history_request(coin, start_ms, end_ms)
        records = info_parse.parse_funding_history(await self._info(body))
        for record in records:
            if record.coin != coin:
                raise wire.WireError(
                    f"fundingHistory: a {record.coin} record in the answer for {coin}"
                )
        return records

    async def funding(
        self, coin: str, start_ms: int, end_ms: int
    ) -> list[info_parse.FundingRecord]:
        """Every funding record from ``start_ms`` to ``end_ms``, oldest first, paged by the last
        record's time + 1 until an answer is empty, reaches ``end_ms`` or brings nothing new."""
        return await _paged(
            lambda cursor: self.funding_history(coin, cursor, end_ms),
            lambda record: record.time_ms,
            start_ms,
            end_ms,
            last=end_ms,
        )

    async def _info(self, body: dict[str, Any]) -> Any:
        if self._http is None:
            raise ExchangeError(f"{self!r} is not started", retryable=False)
        return await post_info(
            self._http,
            body,
            ip_budget=self._ip_budget,
            new_backoff=self._backoff,
            backoff_cap_s=self._backoff_cap_s,
        )


async def _paged(
    fetch: Callable[[int], Awaitable[list[T]]],
    key: Callable[[T], int],
    start_ms: int,
    end_ms: int,
    *,
    last: int,
) -> list[T]:
    """Every item from ``start_ms`` to ``end_ms``, oldest first, fetched a page at a time: each
    call asks from just after the newest item of the last answer, until an answer reaches
    ``last``, is empty, or brings nothing not seen yet. Pages may overlap at their edges; items
    are deduplicated on ``key``, the later answer winning."""
    seen: dict[int, T] = {}
    cursor = start_ms
    while cursor <= end_ms:
        page = await fetch(cursor)
        fresh = [item for item in page if key(item) not in seen]
        for item in page:
            seen[key(item)] = item
        if not fresh:
            break
        newest = max(key(item) for item in page)
        if newest >= last:
            break
        cursor = max(newest + 1, cursor + 1)
    return [seen[t] for t in sorted(seen)]
