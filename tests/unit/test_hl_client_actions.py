"""batchModify, updateLeverage and noop over the client's real httpx path, and the per-address
action budget that gates every action."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hl_client_kit import AGENT, CLOID_A, CLOID_B, MASTER, FakeVenue, err, make_client

from gridtui.core.types import ExchangeError, OrderRequest, PlaceStatus, Side

D = Decimal


def buy(price: str, size: str = "0.001", cloid: str = CLOID_B, coin: str = "BTC") -> OrderRequest:
    return OrderRequest(coin, Side.BUY, D(price), D(size), cloid)


async def test_batch_modify_rounds_signs_and_sends_targets_by_oid_and_cloid() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    acks = await client.batch_modify(
        [
            (17, buy("60000.123456")),
            (CLOID_A, OrderRequest("ETH", Side.SELL, D("3000.123"), D("0.01"), "")),
        ]
    )
    assert [a.status for a in acks] == [PlaceStatus.RESTING, PlaceStatus.RESTING]
    assert [a.exchange_id for a in acks] == [200, 201]
    [body] = venue.exchange_bodies
    assert venue.recovered == [AGENT]
    action = body["action"]
    assert action["type"] == "batchModify"
    first, second = action["modifies"]
    assert first["oid"] == 17 and second["oid"] == CLOID_A
    # BTC has szDecimals 5 → at most 5 significant figures, a buy rounds down
    assert first["order"]["p"] == "60000" and first["order"]["a"] == 0 and first["order"]["b"]
    # ETH (szDecimals 4): 5 sig figs, a sell rounds up; asset id 1
    assert second["order"]["p"] == "3000.2" and second["order"]["a"] == 1
    assert not second["order"]["b"]


async def test_batch_modify_refuses_locally_what_the_venue_would_refuse() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    acks = await client.batch_modify(
        [
            (17, buy("60000", size="0.0001")),  # $6: under the minimum
            ("0xnot-a-cloid", buy("60000")),
            (18, buy("61000")),
        ]
    )
    assert [a.status for a in acks] == [PlaceStatus.ERROR, PlaceStatus.ERROR, PlaceStatus.RESTING]
    assert "minimum value of $10" in (acks[0].error or "")
    assert acks[1].error
    [body] = venue.exchange_bodies
    assert [m["oid"] for m in body["action"]["modifies"]] == [18]


async def test_batch_modify_of_nothing_sendable_sends_nothing() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    [ack] = await client.batch_modify([(17, buy("60000", coin="NOPE"))])
    assert ack.status is PlaceStatus.ERROR and venue.exchange_bodies == []


async def test_update_leverage_sends_the_asset_id_mode_and_value() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    await client.update_leverage("SOL", 7)
    await client.update_leverage("ETH", 3, cross=False)
    assert [b["action"] for b in venue.exchange_bodies] == [
        {"type": "updateLeverage", "asset": 2, "isCross": True, "leverage": 7},
        {"type": "updateLeverage", "asset": 1, "isCross": False, "leverage": 3},
    ]
    venue.script["/exchange"].append(err("Invalid leverage value"))
    with pytest.raises(ExchangeError, match="Invalid leverage value"):
        await client.update_leverage("SOL", 99)
    with pytest.raises(ValueError):
        await client.update_leverage("SOL", 0)
    with pytest.raises(ExchangeError, match="unknown coin"):
        await client.update_leverage("DOGE", 2)


async def test_noop_is_signed_and_consumes_a_nonce() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    before = client.nonces.last
    await client.noop()
    [body] = venue.exchange_bodies
    assert body["action"] == {"type": "noop"} and venue.recovered == [AGENT]
    assert body["nonce"] > before and client.nonces.last == body["nonce"]
    venue.script["/exchange"].append(err("Invalid nonce: duplicate nonce"))
    with pytest.raises(ExchangeError, match="Invalid nonce"):
        await client.noop()


def exhausted(used: int = 12_500) -> dict[str, object]:
    return {"cumVlm": "2500", "nRequestsUsed": used, "nRequestsCap": 12_500, "nRequestsSurplus": 0}


async def test_start_reads_the_address_budget_of_the_master_account() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue)
    await client.start()
    assert {"type": "userRateLimit", "user": MASTER} in venue.info_bodies
    assert (client.address_budget.used, client.address_budget.cap) == (40, 12_500)


async def test_an_exhausted_budget_refuses_orders_but_lets_cancels_go() -> None:
    venue = FakeVenue()
    venue.info["userRateLimit"] = exhausted()
    client, clock = make_client(venue)
    await client.start()
    # throttled means one action per 10 s: the first goes, the next ones must wait their turn
    await client.noop()
    with pytest.raises(ExchangeError, match="address action budget exhausted") as raised:
        await client.place_orders([buy("60000")])
    assert raised.value.retryable
    for call in (
        client.noop(),
        client.update_leverage("BTC", 2),
        client.batch_modify([(1, buy("60000"))]),
    ):
        with pytest.raises(ExchangeError, match="address action budget exhausted"):
            await call
    assert len(venue.exchange_bodies) == 1
    [ack] = await client.cancel_orders("BTC", [5])
    assert ack.success
    await client.cancel_by_client_ids("BTC", [CLOID_A])
    types = [b["action"]["type"] for b in venue.exchange_bodies]
    assert types == ["noop", "cancel", "cancelByCloid"]
    await clock.sleep(9.9)
    with pytest.raises(ExchangeError, match="address action budget exhausted"):
        await client.noop()
    await clock.sleep(0.1)
    await client.noop()
    assert len(venue.exchange_bodies) == 4


async def test_the_budget_is_reread_every_n_actions() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue, budget_refresh_every=3)
    await client.start()
    for _ in range(3):
        await client.noop()
    reads = sum(1 for b in venue.info_bodies if b["type"] == "userRateLimit")
    assert reads == 1 and client.address_budget.used == 43  # counted down locally
    venue.info["userRateLimit"] = exhausted()
    with pytest.raises(ExchangeError, match="address action budget exhausted"):
        await client.noop()  # the 4th action re-reads first, and learns the budget is spent
    assert sum(1 for b in venue.info_bodies if b["type"] == "userRateLimit") == 2
    assert len(venue.exchange_bodies) == 3


async def test_the_venues_cumulative_refusal_updates_the_budget() -> None:
    venue = FakeVenue()
    client, clock = make_client(venue, max_attempts=1)
    await client.start()
    refusal = (
        "Too many cumulative requests sent (13001 > 13000) for cumulative volume traded $3000."
    )
    venue.script["/exchange"].extend([err(refusal), err(refusal)])
    started = clock.now_ms()
    with pytest.raises(ExchangeError, match="Too many cumulative"):
        await client.noop()
    # the one retry waited for the throttled address's next slot (10 s), freshly signed
    assert clock.now_ms() - started >= 10_000 and len(venue.exchange_bodies) == 2
    budget = client.address_budget
    assert (budget.used, budget.cap, budget.remaining) == (13001, 13000, 0)
    with pytest.raises(ExchangeError, match="address action budget exhausted"):
        await client.place_orders([buy("60000")])
    assert len(venue.exchange_bodies) == 2


async def test_a_cancel_never_waits_on_a_due_budget_read() -> None:
    venue = FakeVenue()
    client, _ = make_client(venue, budget_refresh_every=1)
    await client.start()
    await client.noop()
    del venue.info["userRateLimit"]  # the read now fails (HTTP 422)
    [ack] = await client.cancel_orders("BTC", [5])
    assert ack.success
    with pytest.raises(ExchangeError, match="userRateLimit"):
        await client.noop()  # an order-side action does read first, and fails with the read
    assert [b["action"]["type"] for b in venue.exchange_bodies] == ["noop", "cancel"]


async def test_a_plain_rate_refusal_leaves_the_address_budget_alone() -> None:
    venue = FakeVenue()
    client, clock = make_client(venue)
    await client.start()
    venue.script["/exchange"].append(err("Too many requests"))
    started = clock.now_ms()
    await client.noop()  # retried after a short backoff, not the throttled 10 s slot
    assert clock.now_ms() - started < 10_000 and len(venue.exchange_bodies) == 2
    assert (client.address_budget.used, client.address_budget.cap) == (42, 12_500)
