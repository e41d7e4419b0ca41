"""A scripted in-process Hyperliquid for the REST client's unit tests.

It is an ``httpx.MockTransport`` handler, so the client runs its real httpx code path. It checks
what the real venue checks on every /exchange body (the signature recovers to the approved agent,
the nonce is fresh, vaultAddress/expiresAfter are sent as null) and records every request, so
tests can assert on what went over the wire. ``script`` queues canned answers (or exceptions) per
path ahead of the default behaviour, to inject 429s, 5xx and timeouts.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx
from eth_account import Account

from gridtui.core.clock import SimClock
from gridtui.exchanges.hyperliquid.client import HyperliquidExchange
from gridtui.exchanges.hyperliquid.signing import Signer, recover_l1_signer

AGENT_KEY = "0x" + "5a" * 32
AGENT = Account.from_key(AGENT_KEY).address.lower()
MASTER = "0x" + "ab" * 20
CLOID_A = "0x" + "0a" * 16
CLOID_B = "0x" + "0b" * 16
UNIVERSE = [("BTC", 5, 50), ("ETH", 4, 50), ("SOL", 2, 20)]

RATE_LIMIT_FRESH = {
    "cumVlm": "2500.5",
    "nRequestsUsed": 40,
    "nRequestsCap": 12_500,
    "nRequestsSurplus": 0,
}
Scripted = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def ok(payload: Any) -> httpx.Response:
    return httpx.Response(200, json=payload)


def err(message: str) -> httpx.Response:
    return httpx.Response(200, json={"status": "err", "response": message})


def order_ok(*statuses: Any) -> httpx.Response:
    return ok({"status": "ok", "response": {"type": "order", "data": {"statuses": list(statuses)}}})


def fill_wire(tid: int, time_ms: int, coin: str = "BTC", oid: int = 7) -> dict[str, Any]:
    return {
        "coin": coin,
        "px": "64000.5",
        "sz": "0.001",
        "side": "B",
        "time": time_ms,
        "startPosition": "0",
        "dir": "Open Long",
        "closedPnl": "0",
        "hash": "0x" + "00" * 32,
        "oid": oid,
        "crossed": False,
        "fee": "-0.0012",
        "feeToken": "USDC",
        "tid": tid,
    }


class FakeVenue:
    """Records requests, verifies signatures and nonces, answers from ``info`` or ``script``."""

    def __init__(self, *, is_mainnet: bool = False) -> None:
        self.is_mainnet = is_mainnet
        self.script: dict[str, deque[Scripted]] = {"/info": deque(), "/exchange": deque()}
        self.info_bodies: list[dict[str, Any]] = []
        self.exchange_bodies: list[dict[str, Any]] = []
        self.raw_exchange: list[bytes] = []
        self.recovered: list[str] = []
        self.calls = {"/info": 0, "/exchange": 0}
        self.fills: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {
            "meta": {
                "universe": [
                    {"name": n, "szDecimals": d, "maxLeverage": lev} for n, d, lev in UNIVERSE
                ],
                "marginTables": [],
            },
            "allMids": {"BTC": "64000.5", "ETH": "3100.25", "SOL": "150"},
            "userRateLimit": RATE_LIMIT_FRESH,
        }
        self._last_nonce = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls[path] += 1
        body = json.loads(request.content)
        if path == "/exchange":
            self.raw_exchange.append(request.content)
            self.exchange_bodies.append(body)
            self.recovered.append(self._recover(body))
        else:
            self.info_bodies.append(body)
        if self.script[path]:
            step = self.script[path].popleft()
            if isinstance(step, Exception):
                raise step
            if isinstance(step, httpx.Response):
                return step
            return step(request)
        return self._exchange(body) if path == "/exchange" else self._info(body)

    def _info(self, body: dict[str, Any]) -> httpx.Response:
        kind = body["type"]
        if kind == "userFillsByTime":
            start = body["startTime"]
            page = sorted((f for f in self.fills if f["time"] >= start), key=lambda f: f["time"])
            return ok(page[:2000])
        if kind not in self.info:
            return httpx.Response(422, text="Failed to deserialize the JSON body")
        return ok(self.info[kind])

    def _recover(self, body: dict[str, Any]) -> str:
        return recover_l1_signer(
            body["action"],
            body["vaultAddress"],
            body["nonce"],
            body["expiresAfter"],
            body["signature"],
            is_mainnet=self.is_mainnet,
        )

    def _exchange(self, body: dict[str, Any]) -> httpx.Response:
        signer = self.recovered[-1]
        if signer != AGENT:
            return err(f"User or API Wallet {signer} does not exist.")
        if body["nonce"] <= self._last_nonce:
            return err(f"Invalid nonce: duplicate nonce {body['nonce']}")
        self._last_nonce = body["nonce"]
        action = body["action"]
        if action["type"] == "order":
            return order_ok(*({"resting": {"oid": 100 + i}} for i in range(len(action["orders"]))))
        if action["type"] == "batchModify":
            return order_ok(
                *({"resting": {"oid": 200 + i}} for i in range(len(action["modifies"])))
            )
        if action["type"] in ("cancel", "cancelByCloid"):
            return order_ok(*("success" for _ in action["cancels"]))
        return ok({"status": "ok", "response": {"type": "default"}})


def make_client(
    venue: FakeVenue, clock: SimClock | None = None, account_address: str = MASTER, **kwargs: Any
) -> tuple[HyperliquidExchange, SimClock]:
    clock = clock or SimClock()
    kwargs.setdefault("stream", False)  # REST only: the stream has its own tests (test_hl_ws_*)
    http = httpx.AsyncClient(base_url="http://venue.test", transport=venue.transport())
    client = HyperliquidExchange(
        "http://venue.test",
        account_address,
        Signer.from_key(AGENT_KEY),
        clock,
        is_mainnet=venue.is_mainnet,
        http=http,
        backoff_seed=7,
        **kwargs,
    )
    return client, clock
