"""``gridtui bench orders``: how many orders a second the client can sign and send to the mock.

The mock runs in this process on an ephemeral localhost port; the client is the real
``HyperliquidExchange`` (rounding, signing, nonces, HTTP). Hyperliquid's own IP budget (1200 weight
a minute) would cap this at 20 single orders a second, so the client's budget is lifted here: the
figure is the client's capacity, not the exchange's quota. Orders rest far below the mid so none
fills, each with its own cloid.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from decimal import Decimal
from importlib.metadata import version
from typing import TextIO

from gridtui.bench.report import machine_line, percentile
from gridtui.config.schema import PaperSettings
from gridtui.core.clock import RealClock
from gridtui.core.types import OrderRequest, Side
from gridtui.exchanges.hyperliquid import wire
from gridtui.exchanges.hyperliquid.client import HyperliquidExchange
from gridtui.exchanges.hyperliquid.mock import DEFAULT_MARKETS, MockExchange, start_site
from gridtui.exchanges.hyperliquid.rate_limit import IpWeightBudget
from gridtui.exchanges.hyperliquid.signing import Signer, sign_l1_action

BATCHES = (1, 10, 40)
UNLIMITED = 10**12


def _orders(start: int, count: int) -> list[OrderRequest]:
    """Buys at half the BTC start price: valid, worth > $10, and never filled."""
    return [
        OrderRequest("BTC", Side.BUY, Decimal(32000 - (i % 500)), Decimal("0.001"), f"0x{i:032x}")
        for i in range(start, start + count)
    ]


def _sign_rate(signer: Signer, count: int) -> float:
    action = wire.order_action([wire.order_wire(r, 0) for r in _orders(0, 1)])
    started = time.perf_counter()
    for nonce in range(count):
        sign_l1_action(signer, action, None, nonce, None, is_mainnet=False)
    return count / (time.perf_counter() - started)


async def _measure(count: int) -> tuple[float, dict[int, tuple[float, float, float]]]:
    clock = RealClock()
    mock = MockExchange(PaperSettings(markets=DEFAULT_MARKETS), clock)
    signer = Signer.from_key("0x" + secrets.token_hex(32))
    await mock.fund(signer.address, Decimal(10**9))
    runner, port = await start_site(mock)
    client = HyperliquidExchange(
        f"http://127.0.0.1:{port}", signer.address, signer, clock, is_mainnet=False,
        ip_budget=IpWeightBudget(clock, per_minute=UNLIMITED), stream=False,
    )  # fmt: skip
    results: dict[int, tuple[float, float, float]] = {}
    await client.start()
    try:
        placed = 0
        for batch in BATCHES:
            calls: list[float] = []
            started = time.perf_counter()
            for _ in range(max(count // batch, 1)):
                requests = _orders(placed, batch)
                placed += batch
                t0 = time.perf_counter()
                acks = await client.place_orders(requests)
                calls.append(time.perf_counter() - t0)
                if any(a.error for a in acks):
                    raise RuntimeError(f"the mock refused an order: {acks[0].error}")
            wall = time.perf_counter() - started
            sent = len(calls) * batch
            results[batch] = (sent / wall, percentile(calls, 50), percentile(calls, 99))
    finally:
        await client.close()
        await runner.cleanup()
        await mock.close()
    return _sign_rate(signer, 500), results


def run_orders_bench(count: int | None, out: TextIO) -> int:
    count = count or 400
    sign_rate, results = asyncio.run(_measure(count))
    print("gridtui bench orders: sign + send + acknowledge, HyperliquidExchange -> mock", file=out)
    budget = "client IP budget lifted (the exchange's 1200/min would cap single orders at 20/s)"
    print(machine_line(f"eth-account {version('eth-account')}; {budget}"), file=out)
    print(f"signing alone: {sign_rate:.0f} actions/s", file=out)
    print(f"{'batch':<7}{'orders/s':>10}{'p50 ms/call':>13}{'p99 ms/call':>13}", file=out)
    for batch, (rate, p50, p99) in results.items():
        print(f"{batch:<7}{rate:>10.0f}{p50 * 1000:>13.2f}{p99 * 1000:>13.2f}", file=out)
    return 0
