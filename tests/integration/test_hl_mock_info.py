"""The Hyperliquid mock's /info answers, scheduleCancel, and fill pagination."""

from __future__ import annotations

from hl_mock_kit import BTC, MASTER, D, MockClient, cloid, hl, order

from gridtui.core.types import Tif
from gridtui.exchanges.hyperliquid import wire
from gridtui.exchanges.hyperliquid.mock import info as mock_info

__all__ = ["hl"]


async def test_market_info_shapes(hl: MockClient) -> None:
    meta = await hl.info({"type": "meta", "dex": ""})
    assert meta["universe"] == [
        {"name": "BTC", "szDecimals": 5, "maxLeverage": 50},
        {"name": "ETH", "szDecimals": 4, "maxLeverage": 50},
    ]
    assert await hl.info({"type": "spotMeta"}) == {"universe": [], "tokens": []}
    mids = await hl.info({"type": "allMids"})
    assert set(mids) == {"BTC", "ETH"} and all(isinstance(v, str) for v in mids.values())
    meta_again, ctxs = await hl.info({"type": "metaAndAssetCtxs"})
    assert meta_again == meta and ctxs[0]["midPx"] == mids["BTC"]

    book = await hl.info({"type": "l2Book", "coin": "BTC"})
    bids, asks = book["levels"]
    bid_px = [D(level["px"]) for level in bids]
    ask_px = [D(level["px"]) for level in asks]
    assert bid_px == sorted(bid_px, reverse=True) and ask_px == sorted(ask_px)
    assert len(set(bid_px)) == len(bid_px) and 0 < len(bids) <= 20 and 0 < len(asks) <= 20
    assert (bid_px[0], ask_px[0]) == hl.mock.sim.bbo("BTC")
    assert bid_px[0] < D(mids["BTC"]) < ask_px[0]
    assert all(D(level["sz"]) > 0 and level["n"] >= 1 for level in bids + asks)


async def test_unknown_info_type_is_422(hl: MockClient) -> None:
    status, text = await hl.post("/info", {"type": "noSuchThing", "user": MASTER})
    assert status == 422
    assert text.startswith("Failed to deserialize the JSON body into the target type")
    status, _ = await hl.post("/info", {"type": "openOrders"})  # no user
    assert status == 422


async def test_order_status_by_oid_and_cloid(hl: MockClient) -> None:
    (status,) = await hl.place(order(BTC, False, "70000", "0.001", client_id=cloid(5)))
    oid = status["resting"]["oid"]
    by_oid = await hl.info({"type": "orderStatus", "user": MASTER, "oid": oid})
    by_cloid = await hl.info({"type": "orderStatus", "user": MASTER, "oid": cloid(5)})
    assert by_oid == by_cloid
    assert by_oid["order"]["status"] == "open"
    parsed = wire.parse_order_status(by_oid)
    assert parsed is not None and (parsed.exchange_id, parsed.client_id) == (oid, cloid(5))

    await hl.exchange(wire.cancel_action([(BTC, oid)]))
    after = await hl.info({"type": "orderStatus", "user": MASTER, "oid": cloid(5)})
    assert after["order"]["status"] == "canceled"
    for unknown in (123456, cloid(77)):
        answer = await hl.info({"type": "orderStatus", "user": MASTER, "oid": unknown})
        assert answer == {"status": "unknownOid"}


async def test_schedule_cancel_fires_when_due(hl: MockClient) -> None:
    (status,) = await hl.place(order(BTC, True, "50000", "0.001"))
    oid = status["resting"]["oid"]
    too_early = await hl.exchange(wire.schedule_cancel_action(hl.clock.now_ms() + 1_000))
    assert too_early["status"] == "err"
    assert too_early["response"].startswith("Scheduled cancel time too early")
    armed = await hl.exchange(wire.schedule_cancel_action(hl.clock.now_ms() + 10_000))
    assert armed == {"status": "ok", "response": {"type": "default"}}

    hl.clock.advance(9)
    hl.mock.step(0.0)
    assert len(await hl.info({"type": "openOrders", "user": MASTER})) == 1
    hl.clock.advance(1)
    hl.mock.step(0.0)
    assert await hl.info({"type": "openOrders", "user": MASTER}) == []
    answer = await hl.info({"type": "orderStatus", "user": MASTER, "oid": oid})
    assert answer["order"]["status"] == "scheduledCancel"


async def test_disarmed_schedule_cancel_never_fires(hl: MockClient) -> None:
    await hl.place(order(BTC, True, "50000", "0.001"))
    await hl.exchange(wire.schedule_cancel_action(hl.clock.now_ms() + 10_000))
    await hl.exchange(wire.schedule_cancel_action(None))
    hl.clock.advance(60)
    hl.mock.step(0.0)
    assert len(await hl.info({"type": "openOrders", "user": MASTER})) == 1


async def test_user_fills_by_time_pages_ascending(hl: MockClient, monkeypatch) -> None:
    monkeypatch.setattr(mock_info, "FILLS_PAGE", 3)
    times = []
    for _ in range(7):
        hl.clock.advance(1)
        times.append(hl.clock.now_ms())
        await hl.place(order(BTC, True, "65000", "0.001", tif=Tif.IOC))

    seen: dict[int, int] = {}
    start, pages = times[0] - 5, 0
    while True:
        page = await hl.info({"type": "userFillsByTime", "user": MASTER, "startTime": start})
        pages += 1
        assert len(page) <= 3
        assert [f["time"] for f in page] == sorted(f["time"] for f in page)
        new = [f for f in page if f["tid"] not in seen]
        if not new:
            break
        seen.update((f["tid"], f["time"]) for f in new)
        start = page[-1]["time"]
    assert sorted(seen.values()) == times and pages > 2

    window = {"type": "userFillsByTime", "user": MASTER}
    bounded = await hl.info({**window, "startTime": times[2], "endTime": times[4]})
    assert [f["time"] for f in bounded] == times[2:5]
    newest_first = await hl.info({"type": "userFills", "user": MASTER})
    assert [f["time"] for f in newest_first] == list(reversed(times))[:3]
    state = await hl.info({"type": "clearinghouseState", "user": MASTER})
    assert state["assetPositions"][0]["position"]["szi"] == "0.007"


async def test_user_rate_limit_counts_actions_and_volume(hl: MockClient) -> None:
    await hl.exchange(wire.noop_action())
    await hl.place(order(BTC, True, "65000", "0.001", tif=Tif.IOC))
    limits = await hl.info({"type": "userRateLimit", "user": MASTER})
    _, ask = hl.mock.sim.bbo("BTC")
    assert limits["nRequestsUsed"] == 2
    assert D(limits["cumVlm"]) == ask * D("0.001")
    assert limits["nRequestsCap"] == 10_000 + int(ask * D("0.001"))
