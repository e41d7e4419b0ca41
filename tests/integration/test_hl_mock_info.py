"""The Hyperliquid mock's /info answers, scheduleCancel, and fill pagination."""

from __future__ import annotations

import itertools

import pytest
from hl_mock_kit import BTC, ETH, MASTER, D, MockClient, cloid, hl, order

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


async def test_mock_move_puts_the_market_at_a_price_and_fills_what_rests_on_the_way(
    hl: MockClient,
) -> None:
    mid = D((await hl.info({"type": "allMids"}))["ETH"])
    buy_px, sell_px = (mid * D("0.99")).quantize(D(1)), (mid * D("1.01")).quantize(D(1))
    await hl.place(order(ETH, True, str(buy_px), "0.01"), order(ETH, False, str(sell_px), "0.01"))
    target = str(buy_px - 5)
    moved = {"type": "mockMove", "coin": "ETH", "price": target}
    for _ in range(2):  # a retried request lands in the same place, not twice as far
        assert await hl.info(moved) == {"status": "ok", "response": {"type": "default"}}
    hl.clock.advance(0.001)
    hl.mock.step(0.0)  # no time passes: the tick only travels to the target
    fills = await hl.info({"type": "userFills", "user": MASTER})
    assert [(f["side"], D(f["px"])) for f in fills] == [("B", buy_px)]
    assert D((await hl.info({"type": "allMids"}))["ETH"]) == D(target)
    resting = await hl.info({"type": "openOrders", "user": MASTER})
    assert [(o["side"], D(o["limitPx"])) for o in resting] == [("A", sell_px)]
    unknown = await hl.info({"type": "mockMove", "coin": "DOGE", "price": "1"})
    assert unknown == {"status": "err", "response": "no market 'DOGE' on this venue"}


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


MINUTE, HOUR = 60_000, 3_600_000


async def test_candle_snapshot_shape_and_joins(hl: MockClient) -> None:
    now = hl.clock.now_ms()
    newest = wire.candle_open_ms("1m", now)
    body = wire.candle_snapshot_request("BTC", "1m", newest - 99 * MINUTE, now)
    candles = await hl.info(body)
    assert len(candles) == 100
    assert list(candles[0]) == ["t", "T", "s", "i", "o", "c", "h", "l", "v", "n"]
    assert [c["t"] for c in candles] == list(range(newest - 99 * MINUTE, newest + 1, MINUTE))
    for candle, following in itertools.pairwise(candles):
        assert candle["T"] == following["t"] - 1 and candle["c"] == following["o"]
    for c in candles:
        assert (c["s"], c["i"]) == ("BTC", "1m") and isinstance(c["n"], int) and c["n"] >= 1
        assert all(isinstance(c[k], str) for k in "ochlv")
        o, h, low, close = D(c["o"]), D(c["h"]), D(c["l"]), D(c["c"])
        assert 0 < low <= min(o, close) <= max(o, close) <= h and D(c["v"]) > 0
    # the same request, after the market and the clock moved: the same answer
    hl.clock.advance(1)
    hl.mock.step(1.0)
    assert await hl.info(body) == candles
    # a later window starting inside this one reads the same candles
    later = await hl.info(wire.candle_snapshot_request("BTC", "1m", newest - 9 * MINUTE, now))
    assert later == candles[-10:]


async def test_candle_snapshot_keeps_the_newest_5000_and_pages(
    hl: MockClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = hl.clock.now_ms()
    monkeypatch.setattr(mock_info, "CANDLES_PAGE", 6000)
    everything = await hl.info(wire.candle_snapshot_request("ETH", "1h", 0, None))
    assert len(everything) == mock_info.CANDLES_KEPT == 5000
    assert everything[0]["t"] == wire.candle_open_ms("1h", now) - 4999 * HOUR
    assert everything[-1]["t"] == wire.candle_open_ms("1h", now)  # the candle now falls in

    monkeypatch.setattr(mock_info, "CANDLES_PAGE", 100)
    start = everything[1234]["t"]
    page = await hl.info(wire.candle_snapshot_request("ETH", "1h", start, now))
    assert page == everything[1234:1334]  # the oldest of the range first
    assert await hl.info(wire.candle_snapshot_request("ETH", "1h", now + HOUR, None)) == []
    assert await hl.info(wire.candle_snapshot_request("NOPE", "1h", 0, None)) == []


async def test_candle_snapshot_serves_every_interval(hl: MockClient) -> None:
    now = hl.clock.now_ms()
    for interval in wire.CANDLE_INTERVALS:
        candles = await hl.info(wire.candle_snapshot_request("BTC", interval, 0, now))
        assert candles, interval
        assert candles[-1]["t"] == wire.candle_open_ms(interval, now) <= now <= candles[-1]["T"]
        for candle, following in itertools.pairwise(candles):
            assert following["t"] == wire.candle_shift_ms(interval, candle["t"], 1)
    months = await hl.info(wire.candle_snapshot_request("BTC", "1M", 1_690_000_000_000, now))
    assert [c["t"] for c in months] == [  # 2023-08-01 .. 2023-11-01, calendar months
        1_690_848_000_000,
        1_693_526_400_000,
        1_696_118_400_000,
        1_698_796_800_000,
    ]


async def test_malformed_history_requests_are_422(hl: MockClient) -> None:
    good = {"coin": "BTC", "interval": "1m", "startTime": 0}
    for req in (
        None,
        "BTC",
        {**good, "interval": "2m"},
        {**good, "interval": 1},
        {k: v for k, v in good.items() if k != "coin"},
        {k: v for k, v in good.items() if k != "startTime"},
        {**good, "startTime": -1},
        {**good, "startTime": "0"},
        {**good, "endTime": True},
    ):
        body = {"type": "candleSnapshot"} if req is None else {"type": "candleSnapshot", "req": req}
        status, text = await hl.post("/info", body)
        assert status == 422, req
        assert text.startswith("Failed to deserialize the JSON body into the target type: ")
    status, text = await hl.post(
        "/info", {"type": "candleSnapshot", "req": {**good, "interval": "2m"}}
    )
    assert "unknown variant `2m`, expected one of `1m`" in text
    for bad in ({"startTime": 0}, {"coin": "BTC"}, {"coin": "BTC", "startTime": 1.5}):
        status, text = await hl.post("/info", {"type": "fundingHistory", **bad})
        assert status == 422, bad


async def test_funding_history_is_hourly_500_a_call(hl: MockClient) -> None:
    now = hl.clock.now_ms()
    start = now - 800 * HOUR
    first = await hl.info(wire.funding_history_request("BTC", start, None))
    assert len(first) == mock_info.FUNDING_PAGE == 500
    assert list(first[0]) == ["coin", "fundingRate", "premium", "time"]
    hour_after_start = -(-start // HOUR) * HOUR
    assert [r["time"] for r in first] == list(range(hour_after_start, now, HOUR))[:500]
    for record in first:
        assert record["coin"] == "BTC" and abs(D(record["fundingRate"])) < D("0.0001")
        assert abs(D(record["premium"])) <= D("0.0004")
    rest = await hl.info(wire.funding_history_request("BTC", first[-1]["time"] + 1, None))
    assert len(rest) == 300 and rest[0]["time"] == first[-1]["time"] + HOUR
    assert rest[-1]["time"] <= now < rest[-1]["time"] + HOUR
    bounded = await hl.info(wire.funding_history_request("BTC", start, start + 10 * HOUR))
    assert bounded == first[:10]
    assert await hl.info(wire.funding_history_request("BTC", start, None)) == first
    assert await hl.info(wire.funding_history_request("NOPE", start, None)) == []
    before = await hl.info(wire.funding_history_request("ETH", 0, None))
    assert before[0]["time"] == 1_683_849_600_000  # 2023-05-12: where the venue's history starts
