"""HyperliquidExchange's batchModify, updateLeverage, noop and address budget against the mock
exchange over a real socket: the mock verifies each signature, nonce and order rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import attrs
import pytest
from hl_mock_kit import AGENT_KEY, MASTER, MockClient, cloid, hl  # noqa: F401

from gridtui.config.schema import RiskLimits
from gridtui.core.types import ExchangeError, OrderRequest, PlaceStatus, Side, Tif
from gridtui.exchanges.hyperliquid import wire
from gridtui.exchanges.hyperliquid.client import HyperliquidExchange
from gridtui.exchanges.hyperliquid.signing import Signer
from gridtui.risk.risk_engine import RiskDecision, RiskEngine, RiskKind
from gridtui.state.accounting import BotState

D = Decimal


@pytest.fixture
async def client(hl: MockClient) -> AsyncIterator[HyperliquidExchange]:  # noqa: F811
    """The live client (REST only) trading MASTER's account through the approved AGENT."""
    approved = await hl.approve()
    assert approved["status"] == "ok", approved
    exchange = HyperliquidExchange(
        hl.url, MASTER, Signer.from_key(AGENT_KEY), hl.clock, is_mainnet=False, stream=False
    )
    await exchange.start()
    try:
        yield exchange
    finally:
        await exchange.close()


def buy(price: str, size: str = "0.001", n: int = 1, tif: Tif = Tif.GTC) -> OrderRequest:
    return OrderRequest("BTC", Side.BUY, D(price), D(size), cloid(n), tif)


async def test_modify_moves_a_resting_orders_price(
    hl: MockClient,  # noqa: F811
    client: HyperliquidExchange,
) -> None:
    [placed] = await client.place_orders([buy("60000", n=1)])
    assert placed.status is PlaceStatus.RESTING and placed.exchange_id is not None
    [by_oid] = await client.batch_modify([(placed.exchange_id, buy("61000.04", n=2))])
    assert by_oid.status is PlaceStatus.RESTING
    [order] = await client.open_orders("BTC")
    assert (order.price, order.client_id) == (D(61000), cloid(2))  # rounded down to 5 sig figs
    [by_cloid] = await client.batch_modify([(cloid(2), buy("61500", n=3))])
    assert by_cloid.status is PlaceStatus.RESTING
    [order] = await client.open_orders("BTC")
    assert (order.price, order.client_id, order.exchange_id) == (
        D(61500),
        cloid(3),
        by_cloid.exchange_id,
    )
    # below the $10 minimum: refused locally, the resting order stays as it was
    [small] = await client.batch_modify([(cloid(3), buy("61500", size="0.0001", n=4))])
    assert small.status is PlaceStatus.ERROR and "minimum value" in (small.error or "")
    [gone] = await client.batch_modify([(123456, buy("61000", n=5))])
    assert gone.status is PlaceStatus.ERROR and gone.error
    assert [o.client_id for o in await client.open_orders()] == [cloid(3)]


async def test_update_leverage_shows_in_clearinghouse_state(
    hl: MockClient,  # noqa: F811
    client: HyperliquidExchange,
) -> None:
    await client.update_leverage("BTC", 7, cross=False)
    [filled] = await client.place_orders([buy("66000", n=1, tif=Tif.IOC)])
    assert filled.status is PlaceStatus.FILLED
    state = await hl.info({"type": "clearinghouseState", "user": MASTER})
    [position] = state["assetPositions"]
    assert position["position"]["leverage"] == {"type": "isolated", "value": 7}
    await client.update_leverage("BTC", 3)
    state = await hl.info({"type": "clearinghouseState", "user": MASTER})
    assert state["assetPositions"][0]["position"]["leverage"] == {"type": "cross", "value": 3}
    with pytest.raises(ExchangeError, match="Invalid leverage"):
        await client.update_leverage("BTC", 500)


async def test_noop_answers_ok_and_consumes_a_nonce(
    hl: MockClient,  # noqa: F811
    client: HyperliquidExchange,
) -> None:
    before = (await hl.info({"type": "userRateLimit", "user": MASTER}))["nRequestsUsed"]
    await client.noop()
    used = client.nonces.last
    after = (await hl.info({"type": "userRateLimit", "user": MASTER}))["nRequestsUsed"]
    assert after == before + 1
    # the agent's nonce is spent: a request signed with it again is refused
    replay = await hl.exchange(wire.noop_action(), AGENT_KEY, nonce=used)
    assert replay == {"status": "err", "response": f"Invalid nonce: duplicate nonce {used}"}
    await client.noop()
    assert client.nonces.last > used


async def test_the_address_budget_comes_from_the_mock_and_is_counted_down(
    hl: MockClient,  # noqa: F811
    client: HyperliquidExchange,
) -> None:
    budget = client.address_budget
    start = await hl.info({"type": "userRateLimit", "user": MASTER})
    assert (budget.used, budget.cap) == (start["nRequestsUsed"], start["nRequestsCap"])
    await client.noop()
    await client.place_orders([buy("60000", n=1)])
    assert budget.used == start["nRequestsUsed"] + 2
    assert (await client.user_rate_limit()).used == budget.used  # the mock counted the same


async def test_the_account_page_reads_the_clearinghouse_state(
    hl: MockClient,  # noqa: F811
    client: HyperliquidExchange,
) -> None:
    flat = await client.account()
    assert flat.positions == () and flat.account_value == D(100_000)
    await client.update_leverage("BTC", 7, cross=False)
    for n in range(1, 5):  # 3 BTC (~2x the account), the market's depth a step at a time
        [filled] = await client.place_orders([buy("66000", size="0.75", n=n, tif=Tif.IOC)])
        assert filled.status is PlaceStatus.FILLED
        hl.mock.step(0)
    account = await client.account()
    paper = await hl.mock.sim.account()  # what the engine behind the mock computes
    eight = D("1e-8")  # the venue writes 8 decimals
    assert account.account_value == paper.account_value.quantize(eight)
    assert account.maintenance_margin == paper.maintenance_margin.quantize(eight)
    [btc] = account.positions
    assert (btc.coin, btc.size, btc.leverage, btc.cross) == ("BTC", D(3), 7, False)
    assert btc.mark == paper.positions[0].mark
    assert btc.liquidation_price == paper.positions[0].liquidation_price is not None
    assert btc.funding_since_open == 0  # the venue's figure, as it sent it
    assert btc.margin_used == (btc.mark * 3 / 7).quantize(eight)


async def test_the_liquidation_guard_judges_with_the_venues_own_reading(
    hl: MockClient,  # noqa: F811
    client: HyperliquidExchange,
) -> None:
    for n in range(1, 5):  # 3 BTC on a 100k account: liquidated about half-way down
        [filled] = await client.place_orders([buy("66000", size="0.75", n=n, tif=Tif.IOC)])
        assert filled.status is PlaceStatus.FILLED
        hl.mock.step(0)
    account = await client.account()
    (btc,) = account.positions
    state = attrs.evolve(
        BotState.fresh("b", "BTC", 0), position=btc.size, avg_entry=btc.entry_price
    )
    more = buy("63000", size="0.1", n=9)

    def judged(minimum: str) -> RiskDecision:
        limits = RiskLimits(
            max_position=D(10), max_notional=D(10**7), min_liquidation_distance_pct=D(minimum)
        )
        risk = RiskEngine(limits, hl.clock, max_leverage=50)
        return risk.allow_order(more, state=state, open_orders=[], mark=btc.mark, account=account)

    assert judged("40").allowed
    refused = judged("60")
    assert refused.kind is RiskKind.LIQUIDATION and "closer than" in refused.reason
