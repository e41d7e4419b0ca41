"""A scriptable in-test Hyperliquid WebSocket server (the ``websockets`` library on 127.0.0.1,
ephemeral port) for the stream's unit tests: it greets, answers subscriptions like the venue
(subscriptionResponse, then a userFills snapshot), answers pings, and records every message each
connection received so tests can assert on what went over the wire."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

GREETING = "Websocket connection established."
MASTER = "0xAbCdEf0123456789aBcDeF0123456789ABCDEF01"
MASTER_LOWER = MASTER.lower()


def fill_wire(tid: int, time_ms: int = 1_700_000_000_000, coin: str = "BTC") -> dict[str, Any]:
    return {
        "coin": coin,
        "px": "64000.5",
        "sz": "0.002",
        "side": "A",
        "time": time_ms,
        "startPosition": "0.01",
        "dir": "Close Long",
        "closedPnl": "1.5",
        "hash": "0x" + "11" * 32,
        "oid": 4242,
        "crossed": True,
        "fee": "0.05",
        "feeToken": "USDC",
        "tid": tid,
    }


def message(channel: str, data: Any) -> str:
    return json.dumps({"channel": channel, "data": data})


class Conn:
    """One accepted connection and what it received."""

    def __init__(self, socket: ServerConnection) -> None:
        self.socket = socket
        self.received: list[dict[str, Any]] = []

    def subscriptions(self) -> list[dict[str, Any]]:
        return [m["subscription"] for m in self.received if m.get("method") == "subscribe"]

    def pings(self) -> int:
        return sum(1 for m in self.received if m.get("method") == "ping")

    async def send(self, text: str) -> None:
        await self.socket.send(text)


class FakeWsServer:
    def __init__(self) -> None:
        self.conns: list[Conn] = []
        self.answer_pings = True
        self.send_snapshot = True
        self.snapshot_fills: list[dict[str, Any]] = []
        self._server: Server | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> FakeWsServer:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, socket: ServerConnection) -> None:
        if socket.request is None or socket.request.path != "/ws":
            await socket.close(code=1008, reason="wrong path")
            return
        conn = Conn(socket)
        self.conns.append(conn)
        try:
            await socket.send(GREETING)
            await self._serve(conn)
        except ConnectionClosed:
            return

    async def _serve(self, conn: Conn) -> None:
        socket = conn.socket
        async for raw in socket:
            msg = json.loads(raw)
            conn.received.append(msg)
            if msg.get("method") == "ping" and self.answer_pings:
                await socket.send(json.dumps({"channel": "pong"}))
            elif msg.get("method") == "subscribe":
                sub = msg["subscription"]
                await socket.send(message("subscriptionResponse", msg))
                if sub["type"] == "userFills" and self.send_snapshot:
                    await self.send_fills_snapshot(conn, sub["user"])

    async def send_fills_snapshot(self, conn: Conn, user: str) -> None:
        data = {"isSnapshot": True, "user": user, "fills": self.snapshot_fills}
        await conn.send(message("userFills", data))


async def eventually(check: Callable[[], bool], timeout_s: float = 3.0) -> None:
    """Poll ``check`` until true; fail the test with the condition's source if it never is."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
