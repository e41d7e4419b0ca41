"""The stream's l2Book and userEvents channels over a real socket (hl_ws_kit): books kept per
coin on the client, venue cancels forwarded once as CANCELED, userEvents fills never doubled,
a liquidation logged at ERROR."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import httpx
import pytest
from hl_client_kit import AGENT_KEY, FakeVenue
from hl_ws_kit import MASTER, MASTER_LOWER, FakeWsServer, eventually, fill_wire, message

from gridtui.core.clock import RealClock
from gridtui.core.types import OrderStatus
from gridtui.exchanges.base import FillsReceived, OrderUpdated, StreamEvent, StreamReset
from gridtui.exchanges.hyperliquid.client import HyperliquidExchange
from gridtui.exchanges.hyperliquid.signing import Signer

D = Decimal


def book_wire(coin: str, bid: str, ask: str, time_ms: int) -> dict[str, object]:
    return {
        "coin": coin,
        "time": time_ms,
        "levels": [[{"px": bid, "sz": "1.5", "n": 2}], [{"px": ask, "sz": "0.7", "n": 1}]],
    }


def resting(oid: int, status: str = "open") -> dict[str, object]:
    order = {"coin": "BTC", "side": "B", "limitPx": "60000", "sz": "0.001", "oid": oid}
    return {"order": {**order, "timestamp": 5}, "status": status, "statusTimestamp": 6}


async def drain(queue: asyncio.Queue[StreamEvent], settle_s: float = 0.2) -> list[StreamEvent]:
    """Everything the queue holds once the stream has been quiet for ``settle_s``."""
    events: list[StreamEvent] = []
    while True:
        try:
            events.append(await asyncio.wait_for(queue.get(), settle_s))
        except TimeoutError:
            return events


@pytest.fixture
async def live() -> object:
    async with FakeWsServer() as server:
        http = httpx.AsyncClient(base_url=server.base_url, transport=FakeVenue().transport())
        exchange = HyperliquidExchange(
            server.base_url,
            MASTER,
            Signer.from_key(AGENT_KEY),
            RealClock(),
            is_mainnet=False,
            http=http,
            backoff_seed=1,
            stream_coins={"BTC", "ETH"},
        )
        queue = exchange.subscribe()
        await exchange.start()
        try:
            yield server, exchange, queue
        finally:
            await exchange.close()


async def test_l2book_keeps_the_latest_book_per_coin(live: tuple) -> None:
    server, exchange, queue = live
    subs = server.conns[0].subscriptions()
    assert {"type": "l2Book", "coin": "BTC"} in subs and {"type": "l2Book", "coin": "ETH"} in subs
    assert {"type": "userEvents", "user": MASTER_LOWER} in subs
    assert exchange.book("BTC") is None
    conn = server.conns[0]
    await conn.send(message("l2Book", book_wire("BTC", "63999", "64001", 10)))
    await conn.send(message("l2Book", book_wire("ETH", "2999.5", "3000.5", 11)))
    await conn.send(message("l2Book", book_wire("BTC", "64010", "64012", 12)))
    await eventually(lambda: (b := exchange.book("BTC")) is not None and b.time_ms == 12)
    btc, eth = exchange.book("BTC"), exchange.book("ETH")
    assert btc.bids[0].price == D(64010) and btc.asks[0].price == D(64012)
    assert eth is not None and eth.bids[0].price == D("2999.5") and eth.time_ms == 11
    assert await drain(queue) == []  # books are state, not stream events


async def test_user_events_fills_are_not_forwarded_twice(live: tuple) -> None:
    server, _, queue = live
    conn = server.conns[0]
    await conn.send(message("user", {"fills": [fill_wire(5)]}))
    fills = {"isSnapshot": False, "user": MASTER_LOWER, "fills": [fill_wire(5)]}
    await conn.send(message("userFills", fills))
    events = await drain(queue)
    assert len(events) == 1 and isinstance(events[0], FillsReceived)
    assert [f.trade_id for f in events[0].fills] == [5]


async def test_venue_cancels_become_canceled_updates(live: tuple) -> None:
    server, exchange, queue = live
    conn = server.conns[0]
    await conn.send(message("orderUpdates", [resting(41), resting(42)]))
    await conn.send(message("user", {"nonUserCancel": [{"coin": "BTC", "oid": 42}]}))
    events = await drain(queue)
    assert [type(e) for e in events] == [OrderUpdated] * 3
    canceled = events[2].order
    assert (canceled.exchange_id, canceled.status) == (42, OrderStatus.CANCELED)
    assert (canceled.price, canceled.size) == (D(60000), D("0.001"))  # the order as it rested
    # an order the stream never saw cannot be described: subscribers are told to reconcile
    await conn.send(message("user", {"nonUserCancel": [{"coin": "BTC", "oid": 99}]}))
    [reset] = await drain(queue)
    assert isinstance(reset, StreamReset) and "99" in reset.reason
    # the other order is still known, so its venue cancel is forwarded too
    await conn.send(message("user", {"nonUserCancel": [{"coin": "BTC", "oid": 41}]}))
    [again] = await drain(queue)
    assert isinstance(again, OrderUpdated) and again.order.exchange_id == 41
    assert exchange.stream is not None and exchange.stream.malformed_count == 0


async def test_a_liquidation_is_logged_at_error(
    live: tuple, caplog: pytest.LogCaptureFixture
) -> None:
    server, exchange, queue = live
    caplog.set_level(logging.INFO)
    liquidation = {"lid": 7, "liquidator": "0x" + "99" * 20, "liquidated_user": MASTER_LOWER}
    await server.conns[0].send(message("user", {"liquidation": liquidation}))
    await eventually(lambda: any("LIQUIDATION" in r.message for r in caplog.records))
    [record] = [r for r in caplog.records if "LIQUIDATION" in r.message]
    assert record.levelno == logging.ERROR and "'lid': 7" in record.getMessage()
    assert await drain(queue) == []
    assert exchange.stream is not None and exchange.stream.malformed_count == 0


async def test_a_malformed_user_event_is_skipped(live: tuple) -> None:
    server, exchange, queue = live
    await server.conns[0].send(message("user", {"nonUserCancel": [{"coin": "BTC"}]}))
    await eventually(lambda: exchange.stream.malformed_count == 1)
    assert await drain(queue) == []
