"""The public market stream behind real-price paper trading (hl_ws_kit's scripted server):
what it subscribes and in which order, when it is live, which mids and trades it hands on, a
malformed message skipped, a dropped link resubscribed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from decimal import Decimal

from hl_ws_kit import FakeWsServer, eventually, message

from gridtui.core.clock import RealClock
from gridtui.exchanges.hyperliquid.live_prices import MarketStream
from gridtui.exchanges.sim.live_market import TradePrint

D = Decimal


def trade(coin: str, px: str, sz: str, tid: int) -> dict[str, object]:
    return {
        "coin": coin, "side": "A", "px": px, "sz": sz, "time": 1, "hash": "0x00", "tid": tid,
        "users": ["0x" + "0" * 40, "0x" + "1" * 40],
    }  # fmt: skip


class Heard:
    def __init__(self) -> None:
        self.mids: list[dict[str, D]] = []
        self.trades: list[TradePrint] = []

    def on_mids(self, mids: Mapping[str, D]) -> None:
        self.mids.append(dict(mids))

    def on_trades(self, prints: Sequence[TradePrint]) -> None:
        self.trades.extend(prints)


async def test_subscribes_trades_then_mids_and_hands_on_only_our_coins() -> None:
    heard = Heard()
    async with FakeWsServer() as server:
        stream = MarketStream(
            server.base_url,
            RealClock(),
            {"ETH", "BTC"},
            on_mids=heard.on_mids,
            on_trades=heard.on_trades,
            backoff_base_s=0.01,
            backoff_seed=1,
        )
        stream.start()
        try:
            await eventually(
                lambda: len(server.conns) == 1 and len(server.conns[0].subscriptions()) == 3
            )
            conn = server.conns[0]
            assert conn.subscriptions() == [
                {"type": "trades", "coin": "BTC"},
                {"type": "trades", "coin": "ETH"},
                {"type": "allMids"},  # last: its first message proves the trades subscribed
            ]
            assert not stream.is_live
            await conn.send(
                message("allMids", {"mids": {"BTC": "64000.5", "SOL": "150", "@1": "x"}})
            )
            await eventually(lambda: stream.is_live)
            assert heard.mids == [{"BTC": D("64000.5")}]

            # The first trades message of each coin may be the venue's recent history: skipped.
            await conn.send(message("trades", [trade("BTC", "63990", "0.5", 1)]))
            await conn.send(message("trades", [trade("ETH", "2990", "0.5", 2)]))
            await conn.send(message("trades", [trade("BTC", "63999", "0.01", 3)]))
            await conn.send(message("trades", [{"coin": "BTC", "px": 1.5}]))  # malformed: skipped
            await conn.send(
                message("trades", [trade("SOL", "150", "3", 4), trade("ETH", "3000", "0.5", 5)])
            )
            await conn.send(message("trades", [trade("BTC", "63999", "0.01", 3)]))  # a repeat
            await eventually(lambda: len(heard.trades) == 2)
            await asyncio.sleep(0.05)
            assert heard.trades == [
                TradePrint("BTC", D(63999), D("0.01")),
                TradePrint("ETH", D(3000), D("0.5")),
            ]
            assert stream.malformed_count == 1

            await conn.socket.close()  # the link drops: a new one subscribes the same again
            await eventually(
                lambda: len(server.conns) == 2 and len(server.conns[1].subscriptions()) == 3
            )
            assert not stream.is_live
            assert server.conns[1].subscriptions() == conn.subscriptions()
            await server.conns[1].send(message("allMids", {"mids": {"ETH": "3001"}}))
            await eventually(lambda: stream.is_live)
            assert heard.mids[-1] == {"ETH": D(3001)}
            # A new connection's first trades may replay what was heard: not taken twice, and
            # its first message is skipped even with a trade never seen (it may be history).
            again = [trade("ETH", "3000", "0.5", 5), trade("ETH", "3002", "0.1", 6)]
            await server.conns[1].send(message("trades", again))
            await server.conns[1].send(message("trades", [trade("ETH", "3003", "0.2", 7)]))
            await eventually(lambda: len(heard.trades) == 3)
            assert heard.trades[-1] == TradePrint("ETH", D(3003), D("0.2"))
        finally:
            await stream.close()
