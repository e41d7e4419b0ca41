"""The Hyperliquid mock's /ws over a real socket: greeting, subscriptions, streams, ping, post."""

from __future__ import annotations

import asyncio

import aiohttp
import websockets
from hl_mock_kit import (
    BTC,
    MASTER,
    MASTER_KEY,
    SETTINGS,
    T0,
    D,
    MockClient,
    hl,
    order,
    ws_connect,
)

from gridtui.core.clock import SimClock
from gridtui.core.types import Tif
from gridtui.exchanges.hyperliquid import signing, wire
from gridtui.exchanges.hyperliquid.mock import MockExchange, start_site

__all__ = ["hl"]


async def test_greeting_is_plain_text_and_ping_gets_pong(hl: MockClient) -> None:
    # The live client uses the websockets library: it must see the exact greeting.
    async with websockets.connect(hl.url.replace("http", "ws", 1) + "/ws") as ws:
        assert await asyncio.wait_for(ws.recv(), 2) == "Websocket connection established."
        await ws.send('{"method":"ping"}')
        assert await asyncio.wait_for(ws.recv(), 2) == '{"channel":"pong"}'


async def test_subscribe_unsubscribe_and_errors(hl: MockClient) -> None:
    async with ws_connect(hl) as ws:
        subs = [
            {"type": "allMids"},
            {"type": "l2Book", "coin": "BTC"},
            {"type": "orderUpdates", "user": MASTER},
            {"type": "userFills", "user": MASTER},
            {"type": "userEvents", "user": MASTER},
        ]
        for sub in subs:
            assert await ws.subscribe(sub) == {"method": "subscribe", "subscription": sub}
        await ws.send({"method": "subscribe", "subscription": {"type": "allMids"}})
        assert "Already subscribed" in await ws.next("error")
        await ws.send({"method": "subscribe", "subscription": {"type": "userFills"}})
        assert "Invalid subscription" in await ws.next("error")
        await ws.send({"method": "subscribe", "subscription": {"type": "nonsense"}})
        assert "Invalid subscription" in await ws.next("error")

        await ws.send({"method": "unsubscribe", "subscription": {"type": "allMids"}})
        answer = await ws.next("subscriptionResponse")
        assert answer == {"method": "unsubscribe", "subscription": {"type": "allMids"}}
        await ws.send({"method": "unsubscribe", "subscription": {"type": "allMids"}})
        assert "Already unsubscribed" in await ws.next("error")
        # Matched by meaning, not by spelling: other key order, other address case.
        shouted = {"user": MASTER.upper().replace("0X", "0x"), "type": "userFills"}
        await ws.send({"method": "unsubscribe", "subscription": shouted})
        assert (await ws.next("subscriptionResponse"))["subscription"] == shouted
        await ws.send({"method": "subscribe", "subscription": shouted})
        assert (await ws.next("subscriptionResponse"))["subscription"] == shouted


async def test_all_mids_and_book_flow_on_every_step(hl: MockClient) -> None:
    async with ws_connect(hl) as ws:
        await ws.subscribe({"type": "allMids"})
        first = await ws.next("allMids")
        assert first == {"mids": await hl.info({"type": "allMids"})}
        for _ in range(3):
            hl.clock.advance(1)
            hl.mock.step(1.0)
            data = await ws.next("allMids")
            assert data == {"mids": await hl.info({"type": "allMids"})}
        assert data != first  # the market moved over three steps

        await ws.send({"method": "unsubscribe", "subscription": {"type": "allMids"}})
        await ws.next("subscriptionResponse")
        await ws.subscribe({"type": "l2Book", "coin": "ETH"})
        await ws.next("l2Book")
        hl.clock.advance(1)
        hl.mock.step(1.0)
        book = await ws.next("l2Book")
        assert book == await hl.info({"type": "l2Book", "coin": "ETH"})
        assert book["levels"][0] and book["levels"][1]
        assert await ws.silent()  # no allMids after the unsubscribe


async def test_trades_print_each_steps_low_and_high(hl: MockClient) -> None:
    async with ws_connect(hl) as ws:
        await ws.subscribe({"type": "trades", "coin": "ETH"})
        seen: list[dict[str, object]] = []
        for _ in range(3):
            hl.clock.advance(1)
            hl.mock.step(1.0)
            (tick,) = [hl.mock.sim.last_ticks["ETH"]]
            sell, buy = await ws.next("trades")
            assert (sell["coin"], sell["side"], D(sell["px"])) == ("ETH", "A", tick.low)
            assert (buy["coin"], buy["side"], D(buy["px"])) == ("ETH", "B", tick.high)
            assert D(sell["sz"]) == D(buy["sz"]) > 0
            assert sell["time"] == hl.clock.now_ms()
            seen += [sell, buy]
        assert len({t["tid"] for t in seen}) == len(seen)  # every trade its own id
        fields = {"coin", "side", "px", "sz", "time", "hash", "tid", "users"}
        assert all(set(t) == fields for t in seen)
        await ws.send({"method": "subscribe", "subscription": {"type": "trades"}})
        assert "Invalid subscription" in await ws.next("error")  # a coin is required


async def test_user_fills_snapshot_then_only_new_fills(hl: MockClient) -> None:
    (before,) = await hl.place(order(BTC, True, "66000", "0.001", tif=Tif.IOC))
    assert "filled" in before
    async with ws_connect(hl) as ws:
        await ws.subscribe({"type": "userFills", "user": MASTER.upper().replace("0X", "0x")})
        snapshot = await ws.next("userFills")
        assert snapshot["isSnapshot"] is True and snapshot["user"] == MASTER
        assert snapshot["fills"] == await hl.info({"type": "userFills", "user": MASTER})
        assert len(snapshot["fills"]) == 1
        await ws.subscribe({"type": "userEvents", "user": MASTER})

        (after,) = await hl.place(order(BTC, False, "60000", "0.002", tif=Tif.IOC))
        update = await ws.next("userFills")
        assert not update.get("isSnapshot")
        newest = (await hl.info({"type": "userFills", "user": MASTER}))[0]
        assert update["fills"] == [newest]
        assert newest["oid"] == after["filled"]["oid"] and newest["dir"] == "Close Long"
        parsed = wire.parse_fill(update["fills"][0], "hyperliquid")
        assert parsed.size == D("0.002")
        assert await ws.next("user") == {"fills": [newest]}


async def test_order_updates_on_place_and_cancel(hl: MockClient) -> None:
    async with ws_connect(hl) as ws:
        await ws.subscribe({"type": "orderUpdates", "user": MASTER})
        (resting,) = await hl.place(order(BTC, True, "60000", "0.001", client_id="0x" + "ab" * 16))
        oid = resting["resting"]["oid"]
        (placed,) = await ws.next("orderUpdates")
        assert placed["status"] == "open" and placed["statusTimestamp"] == hl.clock.now_ms()
        assert placed["order"]["oid"] == oid and placed["order"]["cloid"] == "0x" + "ab" * 16
        assert (placed["order"]["limitPx"], placed["order"]["sz"]) == ("60000", "0.001")

        hl.clock.advance(2)
        await hl.exchange(wire.cancel_action([(BTC, oid)]))
        (canceled,) = await ws.next("orderUpdates")
        assert (canceled["order"]["oid"], canceled["status"]) == (oid, "canceled")
        assert canceled["statusTimestamp"] == hl.clock.now_ms()

        (taken,) = await hl.place(order(BTC, True, "66000", "0.001", tif=Tif.IOC))
        (filled,) = await ws.next("orderUpdates")
        assert (filled["order"]["oid"], filled["status"]) == (taken["filled"]["oid"], "filled")


async def test_other_users_streams_stay_silent(hl: MockClient) -> None:
    async with ws_connect(hl) as ws:
        stranger = "0x" + "99" * 20
        await ws.subscribe({"type": "orderUpdates", "user": stranger})
        await ws.subscribe({"type": "userFills", "user": stranger})
        assert await ws.next("userFills") == {"isSnapshot": True, "user": stranger, "fills": []}
        await hl.place(order(BTC, True, "66000", "0.001", tif=Tif.IOC))
        assert await ws.silent()


async def test_post_info_and_action(hl: MockClient) -> None:
    async with ws_connect(hl) as ws:
        await ws.send(
            {"method": "post", "id": 7, "request": {"type": "info", "payload": {"type": "allMids"}}}
        )
        answer = await ws.next("post")
        mids = await hl.info({"type": "allMids"})
        assert answer == {
            "id": 7,
            "response": {"type": "info", "payload": {"type": "allMids", "data": mids}},
        }

        nonce = hl.next_nonce()
        action = wire.order_action([order(BTC, True, "60000", "0.001")])
        signature = signing.sign_l1_action(MASTER_KEY, action, None, nonce, None, is_mainnet=False)
        payload = wire.exchange_request(action, nonce, signature)
        request = {"type": "action", "payload": payload}
        await ws.send({"method": "post", "id": 8, "request": request})
        answer = await ws.next("post")
        assert answer["id"] == 8 and answer["response"]["type"] == "action"
        (status,) = answer["response"]["payload"]["response"]["data"]["statuses"]
        (live,) = await hl.info({"type": "openOrders", "user": MASTER})
        assert status == {"resting": {"oid": live["oid"]}}

        # Replaying the same signed body: the venue's nonce rule, answered over WS.
        await ws.send({"method": "post", "id": 9, "request": request})
        replay = (await ws.next("post"))["response"]["payload"]
        assert replay == {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}

        await ws.send({"method": "post", "id": 10, "request": {"type": "info", "payload": {}}})
        assert (await ws.next("post"))["response"]["type"] == "error"


async def test_idle_connection_is_closed() -> None:
    mock = MockExchange(SETTINGS, SimClock(T0))
    runner, port = await start_site(mock, ws_idle_timeout_s=0.6)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
                assert (await ws.receive(timeout=2)).data == "Websocket connection established."
                await asyncio.sleep(0.35)
                await ws.send_json({"method": "ping"})  # activity resets the idle timer
                assert (await ws.receive(timeout=2)).data == '{"channel":"pong"}'
                await asyncio.sleep(0.35)  # 0.7 s since connecting, 0.35 s since the ping
                assert not ws.closed
                closing = await ws.receive(timeout=2)
                assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    finally:
        await runner.cleanup()
        await mock.close()
