"""HyperliquidExchange with its stream: start() brings the stream up, every subscriber queue gets
every event, close() stops it. REST runs over hl_client_kit's FakeVenue, the stream over a real
socket to hl_ws_kit's server."""

from __future__ import annotations

import asyncio
import socket
from decimal import Decimal

import httpx
from hl_client_kit import AGENT_KEY, FakeVenue
from hl_ws_kit import MASTER, FakeWsServer, eventually, message

from gridtui.core.clock import RealClock
from gridtui.exchanges.base import MidUpdated, StreamReset
from gridtui.exchanges.hyperliquid.client import HyperliquidExchange
from gridtui.exchanges.hyperliquid.signing import Signer


def make_exchange(server: FakeWsServer, **kwargs: object) -> HyperliquidExchange:
    http = httpx.AsyncClient(base_url=server.base_url, transport=FakeVenue().transport())
    return HyperliquidExchange(
        server.base_url,
        MASTER,
        Signer.from_key(AGENT_KEY),
        RealClock(),
        is_mainnet=False,
        http=http,
        backoff_seed=1,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_start_waits_for_the_stream_and_fans_out_to_every_queue() -> None:
    async with FakeWsServer() as server:
        exchange = make_exchange(server, stream_coins={"BTC"})
        first, second = exchange.subscribe(), exchange.subscribe()
        await exchange.start()
        try:
            assert exchange.stream is not None and exchange.stream.is_live
            await exchange.start()  # idempotent: still one connection
            assert len(server.conns) == 1
            await server.conns[0].send(message("allMids", {"mids": {"BTC": "64000", "ETH": "1"}}))
            expected = MidUpdated("BTC", Decimal(64000), 0)
            for queue in (first, second):
                event = await asyncio.wait_for(queue.get(), 3.0)
                assert event == MidUpdated(expected.coin, expected.price, event.timestamp_ms)
                assert queue.empty()  # ETH is not traded here
            exchange.unsubscribe(second)
            await server.conns[0].socket.close()
            reset = await asyncio.wait_for(first.get(), 3.0)
            assert isinstance(reset, StreamReset)
            assert second.empty()
        finally:
            await exchange.close()
        assert not exchange.stream.running


async def test_close_stops_the_stream_and_no_task_is_left() -> None:
    async with FakeWsServer() as server:
        before = asyncio.all_tasks()
        exchange = make_exchange(server)
        await exchange.start()
        await exchange.close()
        assert exchange.stream is not None and not exchange.stream.running
        await eventually(lambda: not (asyncio.all_tasks() - before))


async def test_without_the_stream_subscribers_get_nothing_and_start_does_not_wait() -> None:
    async with FakeWsServer() as server:
        exchange = make_exchange(server, stream=False)
        queue = exchange.subscribe()
        await exchange.start()
        await exchange.close()
        assert exchange.stream is None and server.conns == [] and queue.empty()


async def test_start_gives_up_waiting_for_an_unreachable_stream() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    url = f"http://127.0.0.1:{port}"
    http = httpx.AsyncClient(base_url=url, transport=FakeVenue().transport())
    exchange = HyperliquidExchange(
        url,
        MASTER,
        Signer.from_key(AGENT_KEY),
        RealClock(),
        is_mainnet=False,
        http=http,
        stream_live_timeout_s=0.3,
    )
    loop = asyncio.get_running_loop()
    began = loop.time()
    await exchange.start()
    try:
        assert loop.time() - began < 2.0
        assert exchange.stream is not None and exchange.stream.running
        assert not exchange.stream.is_live
        assert await exchange.asset_meta("BTC")  # REST works meanwhile
    finally:
        await exchange.close()
    assert not exchange.stream.running
