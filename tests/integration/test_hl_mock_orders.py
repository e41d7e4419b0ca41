"""Orders, cancels and modifies against the Hyperliquid mock over a real socket."""

from __future__ import annotations

from hl_mock_kit import BTC, ETH, MASTER, D, MockClient, cloid, hl, order

from gridtui.core.types import Tif
from gridtui.exchanges.hyperliquid import wire

__all__ = ["hl"]


async def test_resting_order_is_visible_with_its_cloid(hl: MockClient) -> None:
    statuses = await hl.place(order(BTC, True, "60000", "0.001", client_id=cloid(1)))
    assert list(statuses[0]) == ["resting"]
    oid = statuses[0]["resting"]["oid"]
    assert statuses[0]["resting"]["cloid"] == cloid(1)

    plain = await hl.info({"type": "openOrders", "user": MASTER})
    assert plain == [
        {
            "coin": "BTC",
            "side": "B",
            "limitPx": "60000",
            "sz": "0.001",
            "oid": oid,
            "timestamp": hl.clock.now_ms(),
        }
    ]
    (front,) = await hl.info({"type": "frontendOpenOrders", "user": MASTER})
    assert front["cloid"] == cloid(1)
    assert (front["origSz"], front["tif"], front["reduceOnly"]) == ("0.001", "Gtc", False)
    # The client's own parser reads what the mock serves.
    parsed = wire.parse_open_order(front)
    assert (parsed.exchange_id, parsed.client_id, parsed.price) == (oid, cloid(1), D(60000))


async def test_rejections_carry_the_real_messages(hl: MockClient) -> None:
    statuses = await hl.place(
        order(BTC, True, "60000.5", "0.001"),  # 6 significant figures
        order(BTC, True, "60000", "0.0001"),  # $6
        order(BTC, False, "70000", "0.001", reduce_only=True),  # no position to reduce
        order(BTC, True, "50000", "0.001", tif=Tif.IOC),  # nothing to match
        order(7, True, "1", "20"),  # no such asset
        order(ETH, True, "2900", "0.01"),  # fine: rests
    )
    assert statuses[:5] == [
        {"error": "Price must be divisible by tick size."},
        {"error": "Order must have minimum value of $10."},
        {"error": "Reduce only order would increase position."},
        {"error": "Order could not immediately match against any resting orders."},
        {"error": "Invalid asset."},
    ]
    assert "resting" in statuses[5]
    post_only = await hl.place(order(BTC, True, "65000", "0.001", tif=Tif.ALO))
    bid, ask = hl.mock.sim.bbo("BTC")
    assert post_only == [
        {"error": f"Post only order would have immediately matched, bbo was {bid}@{ask}."}
    ]


async def test_ioc_fill_shows_in_fills_and_position(hl: MockClient) -> None:
    _, ask = hl.mock.sim.bbo("BTC")
    (status,) = await hl.place(order(BTC, True, "65000", "0.002", tif=Tif.IOC))
    filled = status["filled"]
    assert (D(filled["totalSz"]), D(filled["avgPx"])) == (D("0.002"), ask)

    (fill,) = await hl.info({"type": "userFills", "user": MASTER})
    assert (fill["side"], fill["dir"], fill["startPosition"]) == ("B", "Open Long", "0")
    assert fill["oid"] == filled["oid"] and fill["crossed"] is True
    assert D(fill["fee"]) == (ask * D("0.002") * hl.mock.settings.taker_fee).quantize(D("1e-8"))
    parsed = wire.parse_fill(fill, "hyperliquid")
    assert parsed.size == D("0.002")

    state = await hl.info({"type": "clearinghouseState", "user": MASTER})
    (entry,) = state["assetPositions"]
    position = wire.parse_position(entry)
    assert (position.coin, position.size, position.entry_price) == ("BTC", D("0.002"), ask)

    (close,) = await hl.place(order(BTC, False, "60000", "0.002", tif=Tif.IOC, reduce_only=True))
    bid, _ = hl.mock.sim.bbo("BTC")
    assert D(close["filled"]["avgPx"]) == bid
    newest = (await hl.info({"type": "userFills", "user": MASTER}))[0]
    assert (newest["dir"], newest["startPosition"]) == ("Close Long", "0.002")
    assert D(newest["closedPnl"]) == (bid - ask) * D("0.002")
    state = await hl.info({"type": "clearinghouseState", "user": MASTER})
    assert state["assetPositions"] == []


async def test_cancel_and_cancel_by_cloid_statuses(hl: MockClient) -> None:
    first, _ = await hl.place(
        order(BTC, True, "60000", "0.001", client_id=cloid(1)),
        order(BTC, True, "59000", "0.001", client_id=cloid(2)),
    )
    oid = first["resting"]["oid"]
    answer = await hl.exchange(wire.cancel_action([(BTC, oid), (BTC, 999_999)]))
    never = {"error": "Order was never placed, already canceled, or filled."}
    assert answer == {
        "status": "ok",
        "response": {"type": "cancel", "data": {"statuses": ["success", never]}},
    }
    again = await hl.exchange(wire.cancel_action([(BTC, oid)]))
    assert again["response"]["data"]["statuses"] == [never]

    by_cloid = await hl.exchange(wire.cancel_by_cloid_action([(BTC, cloid(2)), (BTC, cloid(9))]))
    assert by_cloid["response"]["data"]["statuses"] == ["success", never]
    assert await hl.info({"type": "openOrders", "user": MASTER}) == []


async def test_batch_modify_replaces_the_order(hl: MockClient) -> None:
    (first,) = await hl.place(order(BTC, True, "60000", "0.001", client_id=cloid(1)))
    oid = first["resting"]["oid"]
    new_wire = order(BTC, True, "60500", "0.002", client_id=cloid(2))
    answer = await hl.exchange(wire.modify_action([(oid, new_wire), (424242, new_wire)]))
    resting, missing = answer["response"]["data"]["statuses"]
    assert missing == {"error": "Cannot modify canceled or filled order"}
    (live,) = await hl.info({"type": "frontendOpenOrders", "user": MASTER})
    assert live["oid"] == resting["resting"]["oid"] != oid
    assert (live["limitPx"], live["sz"], live["cloid"]) == ("60500", "0.002", cloid(2))
    old = await hl.info({"type": "orderStatus", "user": MASTER, "oid": oid})
    assert old["order"]["status"] == "canceled"
