"""UserStream over real sockets against an in-test WebSocket server (hl_ws_kit)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from hl_ws_kit import MASTER, MASTER_LOWER, FakeWsServer, eventually, fill_wire, message

from gridtui.core.clock import RealClock
from gridtui.core.types import OrderStatus, Side
from gridtui.exchanges.base import (
    FillsReceived,
    MidUpdated,
    OrderUpdated,
    StreamEvent,
    StreamReset,
)
from gridtui.exchanges.hyperliquid.ws import UserStream, ws_url


@pytest.fixture
async def server() -> AsyncIterator[FakeWsServer]:
    async with FakeWsServer() as srv:
        yield srv


def make_stream(
    server: FakeWsServer, on_event: Callable[[StreamEvent], None], **kwargs: Any
) -> UserStream:
    options: dict[str, Any] = {
        "ping_interval_s": 5.0,
        "silence_timeout_s": 5.0,
        "backoff_base_s": 0.05,
        "backoff_cap_s": 0.1,
        "backoff_seed": 3,
    } | kwargs
    return UserStream(
        server.base_url,
        MASTER,
        RealClock(),
        coins={"BTC", "ETH"},
        on_event=on_event,
        **options,
    )


async def live_stream(server: FakeWsServer, events: list[StreamEvent], **kwargs: Any) -> UserStream:
    stream = make_stream(server, events.append, **kwargs)
    stream.start()
    assert await stream.wait_live(3.0)
    return stream


def of_type(events: list[StreamEvent], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def test_ws_url_is_the_base_url_with_ws_scheme_and_path() -> None:
    assert ws_url("https://api.hyperliquid.xyz") == "wss://api.hyperliquid.xyz/ws"
    assert ws_url("http://127.0.0.1:3001/") == "ws://127.0.0.1:3001/ws"
    with pytest.raises(ValueError):
        ws_url("ftp://example.com")


async def test_subscribes_for_the_master_account_and_ignores_the_greeting(
    server: FakeWsServer,
) -> None:
    events: list[StreamEvent] = []
    server.snapshot_fills = [fill_wire(1), fill_wire(2)]
    stream = await live_stream(server, events)
    try:
        assert [c.subscriptions() for c in server.conns] == [
            [
                {"type": "allMids"},
                {"type": "l2Book", "coin": "BTC"},
                {"type": "l2Book", "coin": "ETH"},
                {"type": "orderUpdates", "user": MASTER_LOWER},
                {"type": "userEvents", "user": MASTER_LOWER},
                {"type": "userFills", "user": MASTER_LOWER},
            ]
        ]
        # greeting + 6 subscriptionResponses + the snapshot, none of them malformed
        await eventually(lambda: stream.message_count == 8)
        assert stream.malformed_count == 0
        assert stream.last_message_ms is not None
        # the first snapshot proves the stream live but is not news: no event, no reset
        assert events == []
        assert stream.reconnects == 0
    finally:
        await stream.close()


async def test_mids_fills_and_order_updates_are_translated(server: FakeWsServer) -> None:
    events: list[StreamEvent] = []
    stream = await live_stream(server, events)
    try:
        conn = server.conns[0]
        await conn.send(
            message("allMids", {"mids": {"BTC": "64000.5", "ETH": "3100", "DOGE": "0.1"}})
        )
        fills = {"isSnapshot": False, "user": MASTER_LOWER, "fills": [fill_wire(77)]}
        await conn.send(message("userFills", fills))
        base = {"coin": "ETH", "side": "B", "limitPx": "3000.5", "oid": 9, "timestamp": 5}
        partly = {**base, "sz": "0.4", "origSz": "1.0", "cloid": "0x" + "0c" * 16}
        canceled = {**base, "sz": "1.0", "origSz": "1.0"}
        await conn.send(
            message(
                "orderUpdates",
                [
                    {"order": partly, "status": "open", "statusTimestamp": 6},
                    {"order": canceled, "status": "scheduledCancel", "statusTimestamp": 7},
                ],
            )
        )
        await eventually(lambda: len(of_type(events, OrderUpdated)) == 2)

        mids = {e.coin: e.price for e in of_type(events, MidUpdated)}
        assert mids == {"BTC": Decimal("64000.5"), "ETH": Decimal(3100)}  # DOGE not traded
        (received,) = of_type(events, FillsReceived)
        assert not received.is_snapshot
        (fill,) = received.fills
        assert (fill.trade_id, fill.exchange_order_id, fill.coin) == (77, 4242, "BTC")
        assert (fill.side, fill.price, fill.size) == (
            Side.SELL,
            Decimal("64000.5"),
            Decimal("0.002"),
        )
        assert fill.fee == Decimal("0.05") and fill.is_taker
        first, second = (e.order for e in of_type(events, OrderUpdated))
        assert first.status is OrderStatus.PARTIALLY_FILLED
        assert (first.size, first.remaining, first.filled) == (
            Decimal("1.0"),
            Decimal("0.4"),
            Decimal("0.6"),
        )
        assert first.client_id == "0x" + "0c" * 16 and first.side is Side.BUY
        assert second.status is OrderStatus.CANCELED
        assert stream.malformed_count == 0
    finally:
        await stream.close()


async def test_only_the_first_snapshot_of_a_connection_is_withheld(server: FakeWsServer) -> None:
    events: list[StreamEvent] = []
    server.snapshot_fills = [fill_wire(1)]
    stream = await live_stream(server, events)
    try:
        again = {"isSnapshot": True, "user": MASTER_LOWER, "fills": [fill_wire(2)]}
        await server.conns[0].send(message("userFills", again))
        await eventually(lambda: len(events) == 1)
        (event,) = events
        assert isinstance(event, FillsReceived) and event.is_snapshot
        assert [f.trade_id for f in event.fills] == [2]
    finally:
        await stream.close()


async def test_a_dropped_connection_reconnects_resubscribes_and_resets(
    server: FakeWsServer,
) -> None:
    events: list[StreamEvent] = []
    server.snapshot_fills = [fill_wire(1)]
    stream = await live_stream(server, events)
    try:
        await server.conns[0].socket.close()
        await eventually(lambda: len(of_type(events, StreamReset)) == 1)
        assert len(server.conns) == 2
        assert server.conns[1].subscriptions() == server.conns[0].subscriptions()
        assert stream.reconnects == 1 and stream.is_live
        # the new connection's snapshot is not replayed as new fills: the REST catch-up does it
        assert of_type(events, FillsReceived) == []
        await server.conns[1].send(message("allMids", {"mids": {"BTC": "1"}}))
        await eventually(lambda: len(of_type(events, MidUpdated)) == 1)
        assert events[0] == StreamReset(events[0].reason) and "closed" in events[0].reason
    finally:
        await stream.close()


async def test_a_refused_first_connection_still_ends_in_a_reset(server: FakeWsServer) -> None:
    """Events may have passed while the stream was still down at start: catch up once live."""
    events: list[StreamEvent] = []
    server.send_snapshot = False
    stream = make_stream(server, events.append)
    stream.start()
    try:
        assert not await stream.wait_live(0.3)
        await server.send_fills_snapshot(server.conns[0], MASTER_LOWER)
        await eventually(lambda: events == [StreamReset("stream not live at start")])
        assert stream.is_live
    finally:
        await stream.close()


async def test_a_silent_connection_is_dropped_by_the_watchdog(server: FakeWsServer) -> None:
    events: list[StreamEvent] = []
    server.answer_pings = False
    stream = await live_stream(server, events, ping_interval_s=0.1, silence_timeout_s=0.4)
    try:
        await eventually(lambda: len(of_type(events, StreamReset)) == 1)
        assert "no message" in events[0].reason
        assert len(server.conns) == 2 and server.conns[0].pings() >= 1
    finally:
        await stream.close()


async def test_pings_keep_an_idle_connection_alive(server: FakeWsServer) -> None:
    events: list[StreamEvent] = []
    stream = await live_stream(server, events, ping_interval_s=0.1, silence_timeout_s=0.4)
    try:
        await eventually(lambda: server.conns[0].pings() >= 3)
        assert {"method": "ping"} in server.conns[0].received
        assert len(server.conns) == 1 and events == [] and stream.reconnects == 0
    finally:
        await stream.close()


async def test_malformed_messages_are_counted_and_skipped(server: FakeWsServer) -> None:
    events: list[StreamEvent] = []
    stream = await live_stream(server, events)
    try:
        conn = server.conns[0]
        other = {"isSnapshot": False, "user": "0x" + "99" * 20, "fills": [fill_wire(5)]}
        bad_fill = {"isSnapshot": False, "user": MASTER_LOWER, "fills": [{"coin": "BTC"}]}
        for text in (
            "not json",
            json.dumps([1, 2]),
            message("allMids", {"mids": {"BTC": 64000.5}}),  # a float: digits may be lost
            message("userFills", other),
            message("userFills", bad_fill),
            message("orderUpdates", {"order": {}}),
            message("somethingNew", {}),
        ):
            await conn.send(text)
        await conn.send(message("allMids", {"mids": {"BTC": "64001"}}))
        await eventually(lambda: len(events) == 1)
        assert events == [MidUpdated("BTC", Decimal(64001), events[0].timestamp_ms)]
        assert stream.malformed_count == 7 and stream.running and len(server.conns) == 1
    finally:
        await stream.close()


async def test_close_leaves_no_task_running(server: FakeWsServer) -> None:
    before = asyncio.all_tasks()
    events: list[StreamEvent] = []
    stream = await live_stream(server, events)
    assert len(asyncio.all_tasks() - before) >= 3  # the stream, its reader and its watchdog
    await stream.close()
    assert not stream.running and not stream.is_live
    await eventually(lambda: not (asyncio.all_tasks() - before))
    await stream.close()  # idempotent


async def test_a_failing_subscriber_callback_does_not_end_the_stream(
    server: FakeWsServer,
) -> None:
    events: list[StreamEvent] = []

    def on_event(event: StreamEvent) -> None:
        if isinstance(event, MidUpdated) and not events:
            events.append(event)
            raise RuntimeError("subscriber bug")
        events.append(event)

    stream = make_stream(server, on_event)
    stream.start()
    try:
        assert await stream.wait_live(3.0)
        await server.conns[0].send(message("allMids", {"mids": {"BTC": "1"}}))
        await eventually(lambda: any(isinstance(e, StreamReset) for e in events))
        assert stream.running and len(server.conns) == 2
        assert "RuntimeError" in of_type(events, StreamReset)[0].reason
    finally:
        await stream.close()
