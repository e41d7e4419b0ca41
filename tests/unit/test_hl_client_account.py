"""HyperliquidExchange account and market reads: fills paging, positions, meta, mids, parsers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hl_client_kit import MASTER, FakeVenue, fill_wire, make_client

from gridtui.core.types import ExchangeError, Position
from gridtui.exchanges.hyperliquid.info_parse import (
    parse_meta_and_asset_ctxs,
    parse_user_rate_limit,
)
from gridtui.exchanges.hyperliquid.wire import WireError

D = Decimal


def position_wire(coin: str, szi: str, entry: str | None) -> dict[str, object]:
    return {
        "type": "oneWay",
        "position": {"coin": coin, "szi": szi, "entryPx": entry, "positionValue": "0"},
    }


def clearinghouse(*positions: dict[str, object]) -> dict[str, object]:
    summary = {"accountValue": "1000", "totalNtlPos": "0", "totalRawUsd": "1000"}
    return {
        "assetPositions": list(positions),
        "marginSummary": summary,
        "crossMarginSummary": summary,
        "withdrawable": "1000",
        "time": 1,
    }


async def test_meta_gives_asset_ids_by_index_and_is_cached() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    await client.start()
    sol = await client.asset_meta("SOL")
    assert (sol.asset_id, sol.sz_decimals, sol.max_leverage) == (2, 2, 20)
    assert (await client.asset_meta("BTC")).asset_id == 0
    assert [b["type"] for b in venue.info_bodies] == ["meta", "userRateLimit", "userRateLimit"]


async def test_an_unknown_coin_reloads_meta_once_then_raises() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    with pytest.raises(ExchangeError, match="unknown coin 'DOGE'") as raised:
        await client.asset_meta("DOGE")
    assert raised.value.retryable is False
    assert [b["type"] for b in venue.info_bodies] == ["meta", "userRateLimit", "meta"]


async def test_all_mids_are_decimals() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    assert await client.all_mids() == {"BTC": D("64000.5"), "ETH": D("3100.25"), "SOL": D(150)}


async def test_fills_since_pages_by_last_time_inclusively_without_duplicates() -> None:
    venue = FakeVenue()
    start = 1_700_000_000_000
    # 4500 fills, two per millisecond, so page boundaries split a millisecond.
    venue.fills = [fill_wire(tid, start + tid // 2) for tid in range(4500)]
    venue.fills.append(fill_wire(99_999, start - 1))  # before the start: never returned
    venue.fills.append(fill_wire(5000, start + 10, coin="ETH"))
    client, _ = make_client(venue)
    await client.start()
    fills = await client.fills_since(start)
    queries = [b for b in venue.info_bodies if b["type"] == "userFillsByTime"]
    assert len(queries) == 3
    assert all(q["user"] == MASTER for q in queries)
    # Page 1 holds tids 0..1998 and the ETH fill (last time start+999); page 2 restarts at
    # that millisecond (tids 1998..3997, last start+1998); page 3 is short.
    assert [q["startTime"] for q in queries] == [start, start + 999, start + 1998]
    assert len(fills) == 4501
    assert len({(f.coin, f.trade_id) for f in fills}) == 4501
    assert [(f.timestamp_ms, f.trade_id) for f in fills] == sorted(
        (f.timestamp_ms, f.trade_id) for f in fills
    )
    assert fills[0].timestamp_ms == start and fills[0].fee == D("-0.0012")
    eth = await client.fills_since(start, coin="ETH")
    assert [f.trade_id for f in eth] == [5000]


async def test_fills_since_includes_the_start_millisecond() -> None:
    venue = FakeVenue()
    venue.fills = [fill_wire(1, 500), fill_wire(2, 500), fill_wire(3, 499)]
    client, _ = make_client(venue)
    await client.start()
    assert [f.trade_id for f in await client.fills_since(500)] == [1, 2]


async def test_a_full_page_within_one_millisecond_still_terminates() -> None:
    venue = FakeVenue()
    venue.fills = [fill_wire(tid, 500) for tid in range(2000)] + [fill_wire(2000, 501)]
    client, _ = make_client(venue)
    await client.start()
    fills = await client.fills_since(500)
    assert [f.trade_id for f in fills] == list(range(2001))
    starts = [b["startTime"] for b in venue.info_bodies if b["type"] == "userFillsByTime"]
    assert starts == [500, 501]


def test_a_malformed_master_address_is_refused() -> None:
    with pytest.raises(ValueError, match="40 hex digits"):
        make_client(FakeVenue(), account_address="0x1234")


async def test_positions_from_the_master_clearinghouse_state_non_zero_only() -> None:
    venue = FakeVenue()
    venue.info["clearinghouseState"] = clearinghouse(
        position_wire("BTC", "-0.002", "64000"),
        position_wire("ETH", "0.0", None),
        position_wire("SOL", "3", "150.5"),
    )
    client, _ = make_client(venue)
    await client.start()
    positions = await client.positions()
    assert venue.info_bodies[-1] == {"type": "clearinghouseState", "user": MASTER}
    assert positions == {
        "BTC": Position("BTC", D("-0.002"), D(64000)),
        "SOL": Position("SOL", D(3), D("150.5")),
    }


@pytest.mark.parametrize(
    "answer",
    [
        {"assetPositions": "oops", "marginSummary": {}},
        {"marginSummary": {}},
        {"assetPositions": [{"type": "oneWay", "position": {"coin": "BTC"}}], "marginSummary": {}},
        {"assetPositions": []},
        [],
    ],
)
async def test_positions_raise_on_any_unreadable_answer(answer: object) -> None:
    venue = FakeVenue()
    venue.info["clearinghouseState"] = answer
    client, _ = make_client(venue)
    await client.start()
    with pytest.raises(WireError):
        await client.positions()


async def test_positions_raise_on_http_failure_rather_than_read_flat() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    with pytest.raises(ExchangeError) as raised:
        await client.positions()  # the fake has no clearinghouseState: HTTP 422
    assert raised.value.status == 422 and raised.value.retryable is False


async def test_l2_book_and_user_rate_limit() -> None:
    venue = FakeVenue()
    venue.info["l2Book"] = {
        "coin": "BTC",
        "time": 7,
        "levels": [
            [{"px": "64000", "sz": "1.5", "n": 3}, {"px": "63999", "sz": "2", "n": 1}],
            [{"px": "64001", "sz": "0.5", "n": 2}],
        ],
    }
    venue.info["userRateLimit"] = {
        "cumVlm": "2854574.593578",
        "nRequestsUsed": 2890,
        "nRequestsCap": 2864574,
        "nRequestsSurplus": 0,
    }
    client, _ = make_client(venue)
    await client.start()
    book = await client.l2_book("BTC")
    assert [lvl.price for lvl in book.bids] == [D(64000), D(63999)]
    assert book.asks[0].size == D("0.5") and book.asks[0].orders == 2
    limit = await client.user_rate_limit()
    assert (limit.used, limit.cap, limit.cum_volume) == (2890, 2864574, D("2854574.593578"))
    assert venue.info_bodies[-1] == {"type": "userRateLimit", "user": MASTER}
    with pytest.raises(WireError, match="nRequestsCap"):
        parse_user_rate_limit({"cumVlm": "1", "nRequestsUsed": 1, "nRequestsCap": "x"})


def test_meta_and_asset_ctxs() -> None:
    meta = {"universe": [{"name": "BTC", "szDecimals": 5}, {"name": "ETH", "szDecimals": 4}]}
    ctx = {"markPx": "64000", "oraclePx": "63990", "funding": "0.0000125", "midPx": "64000.5"}
    metas, ctxs = parse_meta_and_asset_ctxs([meta, [ctx, ctx | {"midPx": None}]])
    assert metas["ETH"].asset_id == 1 and metas["BTC"].max_leverage == 50
    assert ctxs["BTC"].mid == D("64000.5") and ctxs["ETH"].mid is None
    assert ctxs["ETH"].funding == D("0.0000125")
    with pytest.raises(WireError, match="contexts"):
        parse_meta_and_asset_ctxs([meta, [ctx]])
