"""Who may act on the Hyperliquid mock: signer recovery, agents, nonces, funding."""

from __future__ import annotations

import aiohttp
from hl_mock_kit import (
    AGENT,
    AGENT_KEY,
    BTC,
    MASTER,
    MASTER_KEY,
    SETTINGS,
    STRANGER,
    STRANGER_KEY,
    T0,
    D,
    MockClient,
    hl,
    order,
)

from gridtui.core.clock import SimClock
from gridtui.exchanges.hyperliquid import signing, wire
from gridtui.exchanges.hyperliquid.mock import MockExchange, start_site

__all__ = ["hl"]

RESTING_ORDER = order(BTC, True, "60000", "0.001")


async def test_wrong_key_is_an_unknown_wallet(hl: MockClient) -> None:
    answer = await hl.exchange(wire.order_action([RESTING_ORDER]), STRANGER_KEY)
    assert answer == {
        "status": "err",
        "response": f"User or API Wallet {STRANGER} does not exist.",
    }
    assert await hl.info({"type": "openOrders", "user": MASTER}) == []


async def test_tampered_or_wrong_network_signature_recovers_someone_else(hl: MockClient) -> None:
    nonce = hl.next_nonce()
    action = wire.order_action([RESTING_ORDER])
    signature = signing.sign_l1_action(MASTER_KEY, action, None, nonce, None, is_mainnet=False)
    tampered = wire.order_action([{**RESTING_ORDER, "p": "60000.0"}])  # a trailing zero
    _, answer = await hl.post("/exchange", wire.exchange_request(tampered, nonce, signature))
    assert answer["status"] == "err"
    assert answer["response"].startswith("User or API Wallet 0x")
    assert MASTER not in answer["response"]

    mainnet = await hl.exchange(action, is_mainnet=True)  # the mock verifies as testnet
    assert mainnet["status"] == "err" and "does not exist" in mainnet["response"]


async def test_nonce_rules(hl: MockClient) -> None:
    nonce = hl.next_nonce()
    first = await hl.exchange(wire.noop_action(), nonce=nonce)
    assert first == {"status": "ok", "response": {"type": "default"}}
    reused = await hl.exchange(wire.order_action([RESTING_ORDER]), nonce=nonce)
    assert reused == {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}
    assert await hl.info({"type": "openOrders", "user": MASTER}) == []

    stale = await hl.exchange(wire.noop_action(), nonce=T0 - 86_400_001)
    assert stale["status"] == "err" and stale["response"].startswith("Invalid nonce")
    ahead = await hl.exchange(wire.noop_action(), nonce=T0 + 86_400_001)
    assert ahead["status"] == "err" and ahead["response"].startswith("Invalid nonce")

    # Once 100 nonces are kept, a new one must beat the smallest of them (nonce + 10 here).
    for i in range(1, 101):
        noop = await hl.exchange(wire.noop_action(), nonce=nonce + 10 * i)
        assert noop["status"] == "ok"
    below = await hl.exchange(wire.noop_action(), nonce=nonce + 5)
    assert below["status"] == "err" and below["response"].startswith("Invalid nonce")
    between = await hl.exchange(wire.noop_action(), nonce=nonce + 15)
    assert between["status"] == "ok"


async def test_approved_agent_trades_for_the_master(hl: MockClient) -> None:
    before = await hl.exchange(wire.order_action([RESTING_ORDER]), AGENT_KEY)
    assert before["response"] == f"User or API Wallet {AGENT} does not exist."

    refused = await hl.approve(AGENT, key=STRANGER_KEY)
    assert refused == {
        "status": "err",
        "response": f"Must deposit before performing actions. User: {STRANGER}",
    }
    assert await hl.approve(AGENT) == {"status": "ok", "response": {"type": "default"}}

    (status,) = await hl.place(RESTING_ORDER, key=AGENT_KEY)
    oid = status["resting"]["oid"]
    (listed,) = await hl.info({"type": "openOrders", "user": MASTER})
    assert listed["oid"] == oid
    assert await hl.info({"type": "openOrders", "user": AGENT}) == []
    agent_state = await hl.info({"type": "clearinghouseState", "user": AGENT})
    assert agent_state["marginSummary"]["accountValue"] == "0"
    unknown = await hl.info({"type": "orderStatus", "user": AGENT, "oid": oid})
    assert unknown == {"status": "unknownOid"}

    cancel = await hl.exchange(wire.cancel_action([(BTC, oid)]), AGENT_KEY)
    assert cancel["response"]["data"]["statuses"] == ["success"]


async def test_mock_fund_info_request_funds_one_account() -> None:
    clock = SimClock(T0)
    mock = MockExchange(SETTINGS, clock)
    runner, port = await start_site(mock)
    try:
        async with aiohttp.ClientSession() as http:
            client = MockClient(mock, clock, http, f"http://127.0.0.1:{port}")
            unfunded = await client.exchange(wire.noop_action())
            assert unfunded["response"] == f"User or API Wallet {MASTER} does not exist."

            fund = {"type": "mockFund", "user": MASTER.upper().replace("0X", "0x"), "usd": "2500"}
            assert await client.info(fund) == {"status": "ok", "response": {"type": "default"}}
            state = await client.info({"type": "clearinghouseState", "user": MASTER})
            assert D(state["marginSummary"]["accountValue"]) == D(2500)
            assert D(state["withdrawable"]) == D(2500)

            again = await client.info(fund)
            assert again["status"] == "err"
            assert (await client.exchange(wire.noop_action()))["status"] == "ok"
            # 2500 USD at 50x carries at most 125 000 of notional.
            (too_big,) = await client.place(order(BTC, True, "60000", "2.5"))
            assert too_big == {"error": "Insufficient margin to place order."}
    finally:
        await runner.cleanup()
        await mock.close()
