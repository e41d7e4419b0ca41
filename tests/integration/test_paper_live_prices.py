"""Paper trading on real prices, offline: the bots run on the paper venue while its market is
the Hyperliquid mock's, read like the real venue's (meta and allMids by REST, allMids and trades
over its WebSocket, real sockets). Every paper fill must follow a trade the mock printed through
its price; when the mock's market goes silent the bots see a stale price and nothing fills."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path

from config_kit import write_paper_config

from gridtui.config.loader import load_config
from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import RealClock
from gridtui.core.types import Fill, Side
from gridtui.exchanges.hyperliquid.mock import MockExchange, start_site
from gridtui.exchanges.hyperliquid.mock.exchange import MarketTraded, MockEvent
from gridtui.supervisor import Supervisor
from gridtui.venues import badge_of

D = Decimal
MARKETS = (
    PaperMarket(coin="BTC", start_price=D("64000"), sz_decimals=5),
    PaperMarket(coin="ETH", start_price=D("3000"), sz_decimals=4),
)


class Tape:
    """Every trade the mock printed: (mock time, coin, price)."""

    def __init__(self) -> None:
        self.prints: list[tuple[int, str, Decimal]] = []

    def __call__(self, events: Sequence[MockEvent], now_ms: int) -> None:
        for event in events:
            if isinstance(event, MarketTraded):
                self.prints += [(now_ms, event.coin, price) for price, _, _ in event.prints]

    def through(self, fill: Fill) -> bool:
        """Did a trade print strictly through the fill's price before it?"""
        return any(
            at <= fill.timestamp_ms
            and coin == fill.coin
            and (price < fill.price if fill.side is Side.BUY else price > fill.price)
            for at, coin, price in self.prints
        )


async def _until(
    check: Callable[[], bool | Awaitable[bool]],
    what: str,
    step: Callable[[], None] | None = None,
    timeout_s: float = 20.0,
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"never: {what}"
        if step is not None:
            step()
        await asyncio.sleep(0.02)


async def test_paper_fills_follow_the_printed_trades_and_a_silent_market_is_stale(
    tmp_path: Path,
) -> None:
    mock = MockExchange(PaperSettings(seed=5, markets=MARKETS), RealClock())
    tape = Tape()
    mock.add_listener(tape)
    runner, port = await start_site(mock)
    url = f"http://127.0.0.1:{port}"
    path = write_paper_config(
        tmp_path / "config.toml",
        engine={"cycle_interval_s": 0.05, "stream_stale_after_s": 0.5},
        venue={
            "paper": {
                "prices": "hyperliquid",
                "api_url": url,
                "state_file": "data/paper-live.db",
                "tick_interval_s": 0.02,
            }
        },
    )
    config = load_config(path)
    assert badge_of(config.venue) == f"PAPER·LIVE PRICES via 127.0.0.1:{port}"
    sup = Supervisor(config, clock=RealClock())
    try:
        await sup.start()
        venue = sup.exchange
        await _until(lambda: len(sup.bots_running()) == 2, "both bots up", mock.step)
        assert (await venue.asset_meta("ETH")).sz_decimals == 4  # the venue's rules, not ours
        # Open positions pay the venue's own funding rate of the hour (as its history serves it).
        hour = mock.clock.now_ms() // 3_600_000 * 3_600_000
        served = {c: mock.history.funding(c, hour, hour, limit=1)[0].rate for c in ("BTC", "ETH")}
        assert venue._funding() == served and all(served.values())  # type: ignore[attr-defined]

        def moving() -> None:
            mock.step(120.0)  # two minutes of the mock's market per step

        async def filled() -> bool:
            fills = await venue.fills_since(0)
            return {f.side for f in fills} == {Side.BUY, Side.SELL}

        await _until(filled, "buys and sells filled", moving)
        fills = await venue.fills_since(0)
        assert all(tape.through(f) for f in fills), [f for f in fills if not tape.through(f)]
        assert not any(f.is_taker for f in fills)

        await _until(lambda: all(v.price_stale for v in sup.views()), "a silent market shows stale")
        silent = len(await venue.fills_since(0))
        await asyncio.sleep(0.3)
        assert len(await venue.fills_since(0)) == silent  # no trade printed, nothing filled
        assert all(v.status.value == "running" for v in sup.views())

        await _until(lambda: not any(v.price_stale for v in sup.views()), "fresh again", moving)
    finally:
        await sup.stop()
        await runner.cleanup()
        await mock.close()
    assert (tmp_path / "data" / "paper-live.db").exists()
