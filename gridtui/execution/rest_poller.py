"""Fallback polling when the stream goes quiet: mids and fills by REST, latency measured.

A silent stream is indistinguishable from a calm market until a REST call says otherwise, so the
orchestrator polls whenever the feed is stale; the fills go through the same FillProcessor, so a
fill that later also arrives on the stream is a no-op.
"""

from __future__ import annotations

import logging
import time

from gridtui.core.clock import Clock
from gridtui.core.types import ExchangeError
from gridtui.exchanges.base import Exchange
from gridtui.execution.fill_processor import FillResult
from gridtui.execution.reconciliation_service import ReconciliationService
from gridtui.market_data.feed import MarketFeed
from gridtui.monitoring.metrics import Metrics

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 5.0


class RestPoller:
    def __init__(
        self,
        exchange: Exchange,
        reconciliation: ReconciliationService,
        feed: MarketFeed,
        clock: Clock,
        metrics: Metrics,
        *,
        bot: str,
        coin: str,
    ) -> None:
        self._exchange = exchange
        self._reconciliation = reconciliation
        self._feed = feed
        self._clock = clock
        self._metrics = metrics
        self.bot = bot
        self.coin = coin
        self.polls = 0
        self.last_latency_s: float | None = None
        self._last_poll_ms: int | None = None

    async def poll(self) -> list[FillResult]:
        """One poll: the mid (so the grid keeps a price) and any fills the stream missed. At most
        one every MIN_INTERVAL_S: a fills query weighs 20 of Hyperliquid's 1200 per minute per IP,
        and a bot polling every cycle would spend the budget its cancels may need."""
        now = self._clock.now_ms()
        if self._last_poll_ms is not None and now - self._last_poll_ms < MIN_INTERVAL_S * 1000:
            return []
        self._last_poll_ms = now
        started = time.perf_counter()
        try:
            mids = await self._exchange.all_mids()
            fills = await self._reconciliation.catch_up_fills()
        except ExchangeError as exc:
            log.warning("%s: REST poll failed: %s", self.bot, exc)
            return []
        self.last_latency_s = time.perf_counter() - started
        self._metrics.observe_rest_latency(self.bot, self.coin, self.last_latency_s)
        self.polls += 1
        mid = mids.get(self.coin)
        if mid is not None:
            self._feed.on_polled_mid(mid)
        return fills
