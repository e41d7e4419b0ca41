"""HyperliquidExchange orders over REST: what goes on the wire and how answers are read."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from hl_client_kit import (
    AGENT,
    CLOID_A,
    CLOID_B,
    MASTER,
    FakeVenue,
    err,
    make_client,
    order_ok,
)

from gridtui.core.types import ExchangeError, OrderRequest, OrderStatus, PlaceStatus, Side, Tif

D = Decimal


def buy(price: str, size: str, cloid: str = CLOID_A, coin: str = "BTC") -> OrderRequest:
    return OrderRequest(coin, Side.BUY, D(price), D(size), cloid, Tif.ALO)


async def test_place_signs_as_agent_for_the_network_with_increasing_nonces() -> None:
    venue = FakeVenue(is_mainnet=False)
    client, clock = make_client(venue)
    await client.start()
    await client.place_orders([buy("60000", "0.001")])
    await client.place_orders([buy("60000", "0.001", CLOID_B)])  # same millisecond
    clock.advance(5)
    await client.cancel_orders("BTC", [100])
    assert venue.recovered == [AGENT, AGENT, AGENT]
    nonces = [body["nonce"] for body in venue.exchange_bodies]
    assert nonces[0] < nonces[1] < nonces[2] and nonces[1] == nonces[0] + 1
    assert nonces[2] == clock.now_ms()
    assert all(
        b["vaultAddress"] is None and b["expiresAfter"] is None for b in venue.exchange_bodies
    )


async def test_a_mainnet_signature_does_not_verify_as_testnet() -> None:
    venue = FakeVenue(is_mainnet=False)
    client, _ = make_client(venue)
    client.is_mainnet = True
    await client.start()
    with pytest.raises(ExchangeError, match=r"User or API Wallet 0x[0-9a-f]+ does not exist"):
        await client.place_orders([buy("60000", "0.001")])
    assert venue.recovered[0] != AGENT


async def test_order_wire_keeps_the_key_order_and_canonical_numbers() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    await client.place_orders(
        [OrderRequest("ETH", Side.SELL, D("3100.50"), D("0.0100"), CLOID_A, Tif.GTC, True)]
    )
    raw = venue.raw_exchange[0].decode()
    action = json.loads(raw)["action"]
    assert list(action) == ["type", "orders", "grouping"]
    order = action["orders"][0]
    assert list(order) == ["a", "b", "p", "s", "r", "t", "c"]
    assert order == {
        "a": 1,
        "b": False,
        "p": "3100.5",
        "s": "0.01",
        "r": True,
        "t": {"limit": {"tif": "Gtc"}},
        "c": CLOID_A,
    }


async def test_prices_and_sizes_are_rounded_towards_the_passive_side_before_sending() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    sell = OrderRequest("ETH", Side.SELL, D("3100.123"), D("0.123456"), CLOID_B)
    await client.place_orders([buy("64000.7", "0.0012345"), sell])
    orders = venue.exchange_bodies[0]["action"]["orders"]
    # BTC (szDecimals 5): a 5-digit price is an integer; buy rounds down, size rounds down.
    assert (orders[0]["p"], orders[0]["s"]) == ("64000", "0.00123")
    # ETH (szDecimals 4): 5 significant figures, sell rounds up; size to 4 decimals, down.
    assert (orders[1]["p"], orders[1]["s"]) == ("3100.2", "0.1234")


async def test_below_ten_dollars_is_refused_without_sending_and_the_rest_still_go() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    acks = await client.place_orders([buy("60000", "0.00016"), buy("60000", "0.001", CLOID_B)])
    assert acks[0].status is PlaceStatus.ERROR and acks[0].client_id == CLOID_A
    assert "minimum value of $10" in (acks[0].error or "")
    assert acks[1].status is PlaceStatus.RESTING and acks[1].client_id == CLOID_B
    sent = venue.exchange_bodies[0]["action"]["orders"]
    assert [o["c"] for o in sent] == [CLOID_B]


async def test_an_order_rounded_below_ten_dollars_is_refused_and_nothing_is_sent() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    # 0.000169 × 60000 = 10.14, but the size rounds down to 0.00016 (= $9.60).
    acks = await client.place_orders([buy("60000", "0.000169")])
    assert acks[0].status is PlaceStatus.ERROR
    assert venue.calls["/exchange"] == 0


async def test_unknown_coin_and_bad_cloid_are_per_order_errors() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    acks = await client.place_orders([buy("10", "5", coin="DOGE"), buy("60000", "0.001", "x")])
    assert [a.status for a in acks] == [PlaceStatus.ERROR, PlaceStatus.ERROR]
    assert "unknown coin" in (acks[0].error or "") and "cloid" in (acks[1].error or "")
    assert venue.calls["/exchange"] == 0


async def test_per_order_statuses_resting_filled_error_in_request_order() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    venue.script["/exchange"].append(
        order_ok(
            {"resting": {"oid": 11}},
            {"error": "Insufficient margin to place order. asset=0"},
        )
    )
    acks = await client.place_orders([buy("60000", "0.001"), buy("60000", "0.001", CLOID_B)])
    assert (acks[0].status, acks[0].exchange_id, acks[0].client_id) == (
        PlaceStatus.RESTING,
        11,
        CLOID_A,
    )
    assert acks[1].status is PlaceStatus.ERROR and acks[1].client_id == CLOID_B
    assert acks[1].error == "Insufficient margin to place order. asset=0"
    venue.script["/exchange"].append(
        order_ok({"filled": {"totalSz": "0.001", "avgPx": "59990.5", "oid": 12}})
    )
    [filled] = await client.place_orders([buy("60000", "0.001")])
    assert filled.status is PlaceStatus.FILLED and filled.avg_price == D("59990.5")


async def test_action_level_error_raises_with_the_venue_message() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    venue.script["/exchange"].append(err("Must deposit before performing actions. User: 0xab"))
    with pytest.raises(ExchangeError, match="Must deposit") as raised:
        await client.place_orders([buy("60000", "0.001")])
    assert raised.value.retryable is False
    assert venue.calls["/exchange"] == 1


async def test_cancels_by_oid_and_by_cloid() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    venue.script["/exchange"].append(
        order_ok("success", {"error": "Order was never placed, already canceled, or filled."})
    )
    acks = await client.cancel_orders("ETH", [5, 6])
    assert venue.exchange_bodies[0]["action"] == {
        "type": "cancel",
        "cancels": [{"a": 1, "o": 5}, {"a": 1, "o": 6}],
    }
    assert [(a.success, a.exchange_id) for a in acks] == [(True, 5), (False, 6)]
    assert "never placed" in (acks[1].error or "")
    acks = await client.cancel_by_client_ids("SOL", [CLOID_A])
    assert venue.exchange_bodies[1]["action"] == {
        "type": "cancelByCloid",
        "cancels": [{"asset": 2, "cloid": CLOID_A}],
    }
    assert acks[0].success and acks[0].client_id == CLOID_A
    assert await client.cancel_orders("ETH", []) == []
    assert venue.calls["/exchange"] == 2


async def test_schedule_cancel_arms_disarms_and_raises_on_refusal() -> None:
    venue = FakeVenue()
    client, clock = make_client(venue)
    await client.start()
    await client.schedule_cancel(clock.now_ms() + 10_000)
    await client.schedule_cancel(None)
    actions = [b["action"] for b in venue.exchange_bodies]
    assert actions == [
        {"type": "scheduleCancel", "time": clock.now_ms() + 10_000},
        {"type": "scheduleCancel"},
    ]
    venue.script["/exchange"].append(
        err("Cannot set scheduled cancel time until enough volume traded. Required: $1000000.")
    )
    with pytest.raises(ExchangeError, match="enough volume"):
        await client.schedule_cancel(clock.now_ms() + 10_000)


async def test_open_orders_read_frontend_orders_of_the_master_and_filter_by_coin() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    common = {"side": "B", "timestamp": 1, "reduceOnly": False, "orderType": "Limit"}
    venue.info["frontendOpenOrders"] = [
        {"coin": "BTC", "limitPx": "60000", "oid": 1, "sz": "0.001", "origSz": "0.002"}
        | {"tif": "Alo", "cloid": CLOID_A}
        | common,
        {"coin": "ETH", "limitPx": "3000", "oid": 2, "sz": "0.01", "origSz": "0.01"}
        | {"tif": "Gtc", "cloid": None}
        | common,
    ]
    await client.start()
    orders = await client.open_orders("BTC")
    assert venue.info_bodies[-1] == {"type": "frontendOpenOrders", "user": MASTER}
    assert len(orders) == 1 and orders[0].client_id == CLOID_A
    assert orders[0].status is OrderStatus.PARTIALLY_FILLED and orders[0].tif is Tif.ALO
    assert len(await client.open_orders()) == 2


async def test_order_status_by_oid_and_cloid_and_unknown() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    inner = {"coin": "BTC", "side": "A", "limitPx": "65000", "sz": "0", "oid": 9}
    inner |= {"timestamp": 5, "origSz": "0.001", "cloid": CLOID_A}
    venue.info["orderStatus"] = {
        "status": "order",
        "order": {"order": inner, "status": "scheduledCancel", "statusTimestamp": 6},
    }
    order = await client.order_status(exchange_id=9)
    assert order is not None and order.status is OrderStatus.CANCELED and order.exchange_id == 9
    assert venue.info_bodies[-1] == {"type": "orderStatus", "user": MASTER, "oid": 9}
    venue.info["orderStatus"] = {"status": "unknownOid"}
    assert await client.order_status(client_id=CLOID_B) is None
    assert venue.info_bodies[-1]["oid"] == CLOID_B
    with pytest.raises(ValueError):
        await client.order_status()


async def test_concurrent_placements_never_share_a_nonce() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    cloids = ["0x" + f"{i:032x}" for i in range(20)]
    await asyncio.gather(*(client.place_orders([buy("60000", "0.001", c)]) for c in cloids))
    nonces = [b["nonce"] for b in venue.exchange_bodies]
    assert len(set(nonces)) == 20 and nonces == sorted(nonces)
    assert set(venue.recovered) == {AGENT}


async def test_subscribe_queue_stays_silent_and_unsubscribe_is_safe() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    queue = client.subscribe()
    await client.place_orders([buy("60000", "0.001")])
    assert queue.empty()
    client.unsubscribe(queue)
    client.unsubscribe(queue)
