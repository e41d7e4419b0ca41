"""Seeded fault injection in the Hyperliquid mock, over real sockets: each fault does what it
says, and the same seed makes the same decisions."""

from __future__ import annotations

import argparse
import time

import aiohttp
import pytest
from hl_mock_kit import BTC, MASTER, MASTER_KEY, MockClient, hl, order, ws_connect

from gridtui.core.types import Tif
from gridtui.exchanges.hyperliquid import signing, wire
from gridtui.exchanges.hyperliquid.mock import Faults, run_mock_exchange

__all__ = ["hl"]


async def _statuses(hl: MockClient, count: int) -> list[int]:
    out = []
    for _ in range(count):
        async with hl.http.post(hl.url + "/info", json={"type": "allMids"}) as response:
            out.append(response.status)
    return out


async def test_429_storm_starts_and_stops_at_runtime(hl: MockClient) -> None:
    assert await _statuses(hl, 2) == [200, 200]
    hl.mock.faults = Faults(1, http_429_rate=1.0)
    assert await _statuses(hl, 3) == [429, 429, 429]
    status, _ = await hl.post("/exchange", {"action": {"type": "noop"}})
    assert status == 429
    hl.mock.faults = Faults(1)
    assert await _statuses(hl, 2) == [200, 200]


async def test_5xx_rate_is_reproducible_for_a_seed(hl: MockClient) -> None:
    runs = []
    for seed in (5, 5, 6):
        hl.mock.faults = Faults(seed, http_5xx_rate=0.5)
        runs.append(await _statuses(hl, 24))
    assert runs[0] == runs[1] != runs[2]
    assert 200 in runs[0] and set(runs[0]) - {200} <= {500, 502, 503}
    assert set(runs[0]) - {200}  # some failed


async def test_timeout_after_accept_executes_but_never_answers(hl: MockClient) -> None:
    hl.mock.faults = Faults(2, timeout_after_accept_rate=1.0)
    nonce = hl.next_nonce()
    action = wire.order_action([order(BTC, True, "60000", "0.001")])
    signature = signing.sign_l1_action(MASTER_KEY, action, None, nonce, None, is_mainnet=False)
    body = wire.exchange_request(action, nonce, signature)
    with pytest.raises((TimeoutError, aiohttp.ServerDisconnectedError)):
        timeout = aiohttp.ClientTimeout(total=0.5)
        async with hl.http.post(hl.url + "/exchange", json=body, timeout=timeout) as response:
            await response.read()
    hl.mock.faults = Faults(2)
    (live,) = await hl.info({"type": "openOrders", "user": MASTER})
    assert live["limitPx"] == "60000"  # the order was accepted all the same


async def test_timeout_after_accept_closes_the_connection_after_the_hold(hl: MockClient) -> None:
    hl.mock.faults = Faults(2, timeout_after_accept_rate=1.0, timeout_hold_s=0.2)
    started = time.monotonic()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await hl.exchange({"type": "noop"})
    assert time.monotonic() - started >= 0.2


async def test_ack_delay_slows_actions_only(hl: MockClient) -> None:
    hl.mock.faults = Faults(0, ack_delay_s=0.5)
    started = time.monotonic()
    await hl.info({"type": "allMids"})
    assert time.monotonic() - started < 0.4
    started = time.monotonic()
    answer = await hl.exchange({"type": "noop"})
    assert answer == {"status": "ok", "response": {"type": "default"}}
    assert time.monotonic() - started >= 0.5


async def test_ws_post_action_timeout_and_delay(hl: MockClient) -> None:
    def post(n: int) -> dict[str, object]:
        nonce = hl.next_nonce()
        action = {"type": "noop"}
        sig = signing.sign_l1_action(MASTER_KEY, action, None, nonce, None, is_mainnet=False)
        payload = wire.exchange_request(action, nonce, sig)
        return {"method": "post", "id": n, "request": {"type": "action", "payload": payload}}

    async with ws_connect(hl) as ws:
        hl.mock.faults = Faults(3, timeout_after_accept_rate=1.0)
        await ws.send(post(1))
        assert await ws.silent(0.3)
        assert hl.mock.actions_used == 1  # executed, never answered
        hl.mock.faults = Faults(3, ack_delay_s=0.3)
        started = time.monotonic()
        await ws.send(post(2))
        assert (await ws.next("post"))["id"] == 2
        assert time.monotonic() - started >= 0.3


async def _messages_before_drop(hl: MockClient, seed: int) -> int:
    """Subscribe to allMids and step the market until the mock drops the socket."""
    hl.mock.faults = Faults(seed, ws_drop_rate=0.3)
    received = 0
    async with ws_connect(hl) as ws:
        await ws.send({"method": "subscribe", "subscription": {"type": "allMids"}})
        while True:
            msg = await ws.ws.receive(timeout=2)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                return received
            received += 1
            hl.clock.advance(1)
            hl.mock.step(1.0)


async def test_ws_drop_is_reproducible_for_a_seed(hl: MockClient) -> None:
    counts = [await _messages_before_drop(hl, seed) for seed in (4, 4, 9, 9)]
    assert counts[0] == counts[1] and counts[2] == counts[3]
    assert counts[0] != counts[2]
    hl.mock.faults = Faults(4, ws_drop_rate=1.0)
    async with ws_connect(hl) as ws:
        await ws.send({"method": "ping"})
        assert await ws.text() == '{"channel":"pong"}'
        closed = await ws.ws.receive(timeout=2)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_duplicate_fills_send_the_message_twice(hl: MockClient) -> None:
    hl.mock.faults = Faults(0, duplicate_fill_rate=1.0)
    async with ws_connect(hl) as ws:
        await ws.subscribe({"type": "userFills", "user": MASTER})
        assert (await ws.next("userFills"))["isSnapshot"] is True
        await hl.place(order(BTC, True, "66000", "0.001", tif=Tif.IOC))
        first, second = await ws.next("userFills"), await ws.next("userFills")
        assert first == second and len(first["fills"]) == 1
        assert await ws.silent()


async def _batch_fill_pattern(hl: MockClient, faults: Faults) -> list[int]:
    """The order one four-fill message lists its fills in, as ranks of their tids."""
    hl.mock.faults = faults
    async with ws_connect(hl) as ws:
        await ws.subscribe({"type": "userFills", "user": MASTER})
        await ws.next("userFills")
        buys = await hl.place(*[order(BTC, True, "66000", "0.001", tif=Tif.IOC)] * 4)
        assert all("filled" in s for s in buys)
        tids = [f["tid"] for f in (await ws.next("userFills"))["fills"]]
        await hl.place(order(BTC, False, "60000", "0.004", tif=Tif.IOC, reduce_only=True))
        await ws.next("userFills")
    return [sorted(tids).index(t) for t in tids]


async def test_reordered_fills_are_shuffled_reproducibly(hl: MockClient) -> None:
    assert await _batch_fill_pattern(hl, Faults(8)) == [0, 1, 2, 3]
    runs = [await _batch_fill_pattern(hl, Faults(seed, reorder_fills=True)) for seed in (8, 8, 3)]
    assert runs[0] == runs[1] != [0, 1, 2, 3]
    assert sorted(runs[0]) == [0, 1, 2, 3]
    assert runs[2] != runs[0]


def test_spec_parsing_and_validation() -> None:
    faults = Faults.from_spec("seed=7, http_429_rate=0.25, reorder_fills=true, ack_delay_s=0.5")
    assert faults == Faults(7, http_429_rate=0.25, reorder_fills=True, ack_delay_s=0.5)
    with pytest.raises(ValueError, match="bad fault"):
        Faults.from_spec("http_418_rate=1")
    with pytest.raises(ValueError, match="must lie in"):
        Faults(0, ws_drop_rate=1.5)


def test_each_fault_kind_draws_from_its_own_stream() -> None:
    """The 429 decisions of a seed do not depend on how often other faults were asked about."""
    alone, mixed = Faults(5, http_429_rate=0.5), Faults(5, http_429_rate=0.5, ws_drop_rate=0.5)
    first = [alone.http_error() for _ in range(30)]
    second = []
    for _ in range(30):
        mixed.drop_ws()
        second.append(mixed.http_error())
    assert first == second and {429, None} == set(first)


def test_cli_entry_refuses_a_bad_fault_spec() -> None:
    args = argparse.Namespace(host="127.0.0.1", port=0, faults="http_429_rate=2")
    assert run_mock_exchange(args) == 2
