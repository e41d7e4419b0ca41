"""The Hyperliquid mock exchange on a real socket, and a tiny signing client for its tests.

Requests are built with wire.py and signed with signing.py exactly as the live client builds
them, then sent over HTTP to the mock on an ephemeral 127.0.0.1 port. Time is a SimClock, so a
test decides when nonces age and when a scheduled cancel comes due (``step`` moves the market).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import SimClock
from gridtui.core.types import OrderRequest, Side, Tif
from gridtui.exchanges.hyperliquid import signing, wire
from gridtui.exchanges.hyperliquid.mock import MockExchange, start_site

D = Decimal
T0 = 1_700_000_000_000
MASTER_KEY = "0x" + "11" * 32
AGENT_KEY = "0x" + "22" * 32
STRANGER_KEY = "0x" + "33" * 32
MASTER = signing.Signer.from_key(MASTER_KEY).address
AGENT = signing.Signer.from_key(AGENT_KEY).address
STRANGER = signing.Signer.from_key(STRANGER_KEY).address
BTC, ETH = 0, 1
SETTINGS = PaperSettings(
    seed=11,
    markets=(
        PaperMarket(coin="BTC", start_price=D("64000"), sz_decimals=5),
        PaperMarket(coin="ETH", start_price=D("3000"), sz_decimals=4),
    ),
)


def cloid(n: int) -> str:
    return f"0x{n:032x}"


def order(
    asset: int,
    buy: bool,
    px: str,
    sz: str,
    *,
    tif: Tif = Tif.GTC,
    client_id: str = "",
    reduce_only: bool = False,
) -> dict[str, Any]:
    """One order wire, built by wire.py (coin is not on the wire, the asset id is)."""
    side = Side.BUY if buy else Side.SELL
    request = OrderRequest("-", side, D(px), D(sz), client_id, tif, reduce_only)
    return wire.order_wire(request, asset)


class MockClient:
    """Signs and posts like the live client; returns (HTTP status, JSON or text)."""

    def __init__(
        self, mock: MockExchange, clock: SimClock, http: aiohttp.ClientSession, url: str
    ) -> None:
        self.mock, self.clock, self.http, self.url = mock, clock, http, url
        self._last_nonce = 0

    def next_nonce(self) -> int:
        self._last_nonce = max(self.clock.now_ms(), self._last_nonce + 1)
        return self._last_nonce

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        async with self.http.post(self.url + path, json=body) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def info(self, body: dict[str, Any]) -> Any:
        status, payload = await self.post("/info", body)
        assert status == 200, payload
        return payload

    async def exchange(
        self,
        action: dict[str, Any],
        key: str = MASTER_KEY,
        *,
        nonce: int | None = None,
        is_mainnet: bool = False,
    ) -> Any:
        nonce = self.next_nonce() if nonce is None else nonce
        signature = signing.sign_l1_action(key, action, None, nonce, None, is_mainnet=is_mainnet)
        status, payload = await self.post(
            "/exchange", wire.exchange_request(action, nonce, signature)
        )
        assert status == 200, payload
        return payload

    async def place(self, *orders: dict[str, Any], key: str = MASTER_KEY) -> list[Any]:
        """The statuses of an order action (asserting the action itself was accepted)."""
        answer = await self.exchange(wire.order_action(orders), key)
        assert answer["status"] == "ok", answer
        assert answer["response"]["type"] == "order"
        return answer["response"]["data"]["statuses"]

    async def approve(self, agent: str = AGENT, key: str = MASTER_KEY) -> Any:
        nonce = self.next_nonce()
        action = signing.approve_agent_action(agent, "bot", nonce, is_mainnet=False)
        signature = signing.sign_user_action(key, action)
        status, payload = await self.post(
            "/exchange", wire.exchange_request(action, nonce, signature)
        )
        assert status == 200, payload
        return payload


@pytest.fixture
async def hl() -> AsyncIterator[MockClient]:
    """A mock with MASTER funded (100 000 USD), served on an ephemeral port."""
    clock = SimClock(T0)
    mock = MockExchange(SETTINGS, clock)
    await mock.fund(MASTER, D(100_000))
    runner, port = await start_site(mock)
    try:
        async with aiohttp.ClientSession() as http:
            yield MockClient(mock, clock, http, f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
        await mock.close()


class WsClient:
    """One /ws connection to the mock; reads JSON messages, skipping the channels not asked for."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, payload: dict[str, Any]) -> None:
        await self.ws.send_json(payload)

    async def text(self, timeout: float = 2.0) -> str:
        msg = await self.ws.receive(timeout=timeout)
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        return str(msg.data)

    async def next(self, channel: str, timeout: float = 2.0) -> Any:
        """The data of the next message on ``channel`` (others are skipped)."""
        while True:
            message = json.loads(await self.text(timeout))
            if message["channel"] == channel:
                return message.get("data")

    async def subscribe(self, subscription: dict[str, Any]) -> Any:
        await self.send({"method": "subscribe", "subscription": subscription})
        return await self.next("subscriptionResponse")

    async def silent(self, timeout: float = 0.2) -> bool:
        """True when nothing arrives within ``timeout`` seconds."""
        try:
            msg = await self.ws.receive(timeout=timeout)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected message {msg}")


@contextlib.asynccontextmanager
async def ws_connect(hl: MockClient) -> AsyncIterator[WsClient]:
    """A /ws connection past its greeting."""
    async with hl.http.ws_connect(hl.url.replace("http", "ws", 1) + "/ws") as ws:
        client = WsClient(ws)
        assert await client.text() == "Websocket connection established."
        yield client
