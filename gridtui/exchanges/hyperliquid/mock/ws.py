"""The mock exchange's ``GET /ws``: Hyperliquid's WebSocket protocol over the paper engine.

A connection is greeted with the plain text ``Websocket connection established.``, then speaks
JSON: subscribe / unsubscribe (answered on channel ``subscriptionResponse``, or ``error``), ping
(``pong``) and post (info and actions answered on channel ``post`` through the same handlers as
HTTP). Channels: allMids, l2Book, trades (each market step's prints, see ``MarketTraded``) and
the account's orderUpdates, userFills, userEvents. Streams are driven by
``MockExchange.publish``: each batch of engine events (a market step, an executed action) is
queued for every connection together with the subscriptions it had at that moment, and rendered
in order by that connection's writer, so a userFills snapshot is never followed by an update
repeating one of its fills. A connection that sends nothing for
``idle_timeout_s`` (60 s on the real venue) is closed. Faults: a dropped socket after any message,
duplicated and reordered fill messages, delayed or never-sent post acks.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from aiohttp import WSMsgType, web

from gridtui.core.types import Order, OrderStatus
from gridtui.exchanges.base import FillsReceived, MidUpdated, OrderUpdated
from gridtui.exchanges.hyperliquid.mock.actions import ActionFormatError, handle_exchange
from gridtui.exchanges.hyperliquid.mock.body import MAX_BODY_BYTES, BodyError, parse_json
from gridtui.exchanges.hyperliquid.mock.exchange import MarketTraded, MockEvent, MockExchange
from gridtui.exchanges.hyperliquid.mock.info import (
    ADDRESS,
    InfoRequestError,
    fill_wires,
    handle_info,
    num,
    order_wire_out,
)

log = logging.getLogger(__name__)

GREETING = "Websocket connection established."
IDLE_TIMEOUT_S = 60.0
USER_CHANNELS = frozenset({"orderUpdates", "userFills", "userEvents"})
COIN_CHANNELS = frozenset({"l2Book", "trades"})
CHANNELS = USER_CHANNELS | COIN_CHANNELS | {"allMids"}
NOBODY = "0x" + "0" * 40
"""The counterparties a market trade names (the mock's market has no accounts)."""
Json = Any


class SubscriptionError(ValueError):
    """A subscription the venue would refuse; the message goes out on channel ``error``."""


@attrs.frozen(slots=True)
class Subscription:
    """One parsed subscription: its type and the coin or (lower-case) user it is about."""

    kind: str
    target: str | None


@attrs.frozen(slots=True)
class _Batch:
    events: tuple[MockEvent, ...]
    now_ms: int
    subscriptions: tuple[Subscription, ...]


_Outgoing = str | _Batch


def parse_subscription(raw: object) -> Subscription:
    """Validate a subscription object as the venue does (a user must be an address); raise
    ``SubscriptionError``."""
    kind = raw.get("type") if isinstance(raw, Mapping) else None
    if not isinstance(kind, str) or kind not in CHANNELS:
        raise SubscriptionError(f"Invalid subscription {_dump(raw)}")
    if kind == "allMids":
        return Subscription(kind, None)
    field = "coin" if kind in COIN_CHANNELS else "user"
    value = raw.get(field)
    if not isinstance(value, str) or not value:
        raise SubscriptionError(f"Invalid subscription {_dump(raw)}")
    if field == "user" and not ADDRESS.fullmatch(value):
        raise SubscriptionError(f"Invalid subscription {_dump(raw)}")
    return Subscription(kind, value.lower() if field == "user" else value)


def _dump(payload: Json) -> str:
    return json.dumps(payload, separators=(",", ":"))


def _message(channel: str, data: Json) -> str:
    return _dump({"channel": channel, "data": data})


def _order_update(mock: MockExchange, order: Order, now_ms: int) -> dict[str, Any]:
    """One orderUpdates entry. The word comes from the order as the event carried it (a live
    order that filled later in the batch still reads "open" here); terminal non-fill reasons
    (canceled, scheduledCancel, ...) are final, so the engine's current word is safe for them."""
    if order.status.is_live:
        word = "open"
    elif order.status is OrderStatus.FILLED:
        word = "filled"
    else:
        word = mock.sim.status_word(exchange_id=order.exchange_id) or order.status.value
    wire = order_wire_out(order, frontend=False)
    wire["origSz"] = num(order.size)
    if order.client_id:
        wire["cloid"] = order.client_id
    return {"order": wire, "status": word, "statusTimestamp": now_ms}


class _Connection:
    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.request, self.ws = request, ws
        self.subscriptions: dict[Subscription, None] = {}
        """Parsed, so an unsubscribe matches whatever key order or address case it uses; a dict
        so one batch renders its messages in subscription order, reproducibly."""
        self.outbox: asyncio.Queue[_Outgoing] = asyncio.Queue()
        self.tasks: set[asyncio.Task[None]] = set()

    def send(self, text: str) -> None:
        self.outbox.put_nowait(text)

    def drop(self) -> None:
        """Cut the TCP connection without a close frame, as a network failure does."""
        transport = self.request.transport
        if transport is not None:
            transport.close()


class WsHub:
    """Every open /ws connection of one mock, fed from the mock's published event batches."""

    def __init__(self, mock: MockExchange, *, idle_timeout_s: float = IDLE_TIMEOUT_S) -> None:
        self.mock = mock
        self.idle_timeout_s = idle_timeout_s
        self._connections: set[_Connection] = set()
        self._trade_ids = 0
        mock.add_listener(self._on_events)

    def _on_events(self, events: Sequence[MockEvent], now_ms: int) -> None:
        for conn in self._connections:
            if conn.subscriptions:
                batch = _Batch(tuple(events), now_ms, tuple(conn.subscriptions))
                conn.outbox.put_nowait(batch)

    async def close(self) -> None:
        """Close every connection (the mock is shutting down) and stop listening."""
        self.mock.remove_listener(self._on_events)
        for conn in list(self._connections):
            await conn.ws.close(code=1001, message=b"server shutdown")

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one WebSocket until the client leaves, idles out or the socket drops."""
        ws = web.WebSocketResponse(max_msg_size=MAX_BODY_BYTES)
        await ws.prepare(request)
        conn = _Connection(request, ws)
        self._connections.add(conn)
        conn.send(GREETING)
        writer = asyncio.create_task(self._write_loop(conn), name="mock-ws-writer")
        try:
            await self._read_loop(conn)
        finally:
            self._connections.discard(conn)
            for task in (writer, *conn.tasks):
                task.cancel()
            await asyncio.gather(writer, *conn.tasks, return_exceptions=True)
            if not ws.closed:
                await ws.close()
        return ws

    async def _read_loop(self, conn: _Connection) -> None:
        while True:
            try:
                msg = await conn.ws.receive(timeout=self.idle_timeout_s)
            except TimeoutError:
                log.info("mock ws: closing a connection idle for %.0f s", self.idle_timeout_s)
                return
            if msg.type is WSMsgType.TEXT:
                await self._on_text(conn, msg.data)
            elif msg.type is WSMsgType.BINARY:
                conn.send(_message("error", "Binary messages are not supported"))
            else:
                return

    async def _on_text(self, conn: _Connection, text: str) -> None:
        try:
            request = parse_json(text)
        except BodyError as exc:
            conn.send(_message("error", f"Invalid JSON: {text[:200]} ({exc})"))
            return
        method = request.get("method") if isinstance(request, Mapping) else None
        if method == "ping":
            conn.send(_dump({"channel": "pong"}))
        elif method in ("subscribe", "unsubscribe"):
            await self._on_subscription(conn, str(method), request.get("subscription"))
        elif method == "post":
            task = asyncio.create_task(self._on_post(conn, request), name="mock-ws-post")
            conn.tasks.add(task)
            task.add_done_callback(conn.tasks.discard)
        else:
            conn.send(_message("error", f"Unknown method: {_dump(request)}"))

    async def _on_subscription(self, conn: _Connection, method: str, raw: object) -> None:
        try:
            sub = parse_subscription(raw)
        except SubscriptionError as exc:
            conn.send(_message("error", str(exc)))
            return
        if method == "unsubscribe":
            if sub not in conn.subscriptions:
                conn.send(_message("error", f"Already unsubscribed: {_dump(raw)}"))
                return
            del conn.subscriptions[sub]
            conn.send(_message("subscriptionResponse", {"method": method, "subscription": raw}))
            return
        if sub in conn.subscriptions:
            conn.send(_message("error", f"Already subscribed: {_dump(raw)}"))
            return
        first = await self._initial(sub)
        # Registered only after the snapshot is read, with no await in between: every later
        # batch reaches this subscription, no earlier one does.
        conn.subscriptions[sub] = None
        conn.send(_message("subscriptionResponse", {"method": method, "subscription": raw}))
        if first is not None:
            conn.send(first)

    async def _initial(self, sub: Subscription) -> str | None:
        """What a fresh subscription gets at once: current mids or book, the fills snapshot.
        orderUpdates and userEvents start with nothing, as on the real venue."""
        if sub.kind == "allMids":
            mids = await handle_info(self.mock, {"type": "allMids"})
            return _message("allMids", {"mids": mids})
        if sub.kind == "l2Book":
            book = await self._book_or_fills("l2Book", coin=sub.target)
            return None if book is None else _message("l2Book", book)
        if sub.kind == "userFills":
            fills = await handle_info(self.mock, {"type": "userFills", "user": sub.target})
            data = {"isSnapshot": True, "user": sub.target, "fills": fills}
            return _message("userFills", data)
        return None

    async def _book_or_fills(self, kind: str, **fields: str | None) -> Json:
        return await handle_info(self.mock, {"type": kind, **fields})

    async def _on_post(self, conn: _Connection, request: Mapping[str, Any]) -> None:
        """Answer a post through the HTTP handlers. Faults: the ack may come late or (an action
        that was executed) never."""
        post_id, inner = request.get("id"), request.get("request")
        kind = inner.get("type") if isinstance(inner, Mapping) else None
        payload = inner.get("payload") if isinstance(inner, Mapping) else None
        response: dict[str, Any]
        try:
            if not isinstance(payload, Mapping) or kind not in ("info", "action"):
                raise InfoRequestError(f"Invalid post request: {_dump(request)}")
            if kind == "info":
                data = await handle_info(self.mock, payload)
                response = {"type": "info", "payload": {"type": payload["type"], "data": data}}
            else:
                answer = await handle_exchange(self.mock, payload)
                if self.mock.faults.timeout_after_accept():
                    log.info("mock ws: injected timeout after accepting post %s", post_id)
                    return
                response = {"type": "action", "payload": answer}
        except (InfoRequestError, ActionFormatError) as exc:
            response = {"type": "error", "payload": str(exc)}
        except Exception as exc:  # a bug must not leave the client waiting for an answer
            log.exception("mock ws: post %s failed", post_id)
            response = {"type": "error", "payload": f"internal error: {type(exc).__name__}"}
        if kind == "action" and self.mock.faults.ack_delay_s:
            await asyncio.sleep(self.mock.faults.ack_delay_s)
        conn.send(_message("post", {"id": post_id, "response": response}))

    async def _write_loop(self, conn: _Connection) -> None:
        greeted = False
        while True:
            item = await conn.outbox.get()
            texts = [item] if isinstance(item, str) else await self._render(item)
            for text in texts:
                if conn.ws.closed:
                    return
                try:
                    await conn.ws.send_str(text)
                except ConnectionError as exc:
                    log.info("mock ws: send failed, connection gone: %s", exc)
                    return
                if greeted and self.mock.faults.drop_ws():
                    log.info("mock ws: injected connection drop")
                    conn.drop()
                    return
                greeted = True

    async def _render(self, batch: _Batch) -> list[str]:
        """The messages one event batch produces for the subscriptions it was queued with."""
        mids = {e.coin: num(e.price) for e in batch.events if isinstance(e, MidUpdated)}
        traded = {e.coin: e for e in batch.events if isinstance(e, MarketTraded)}
        fills = [f for e in batch.events if isinstance(e, FillsReceived) for f in e.fills]
        orders = [e.order for e in batch.events if isinstance(e, OrderUpdated)]
        account = self.mock.account
        out: list[str] = []
        ours: list[dict[str, Any]] = []
        if fills and account is not None:
            tids = {f.trade_id for f in fills}
            every = fill_wires(await self.mock.sim.fills_since(0))
            ours = [w for w in every if w["tid"] in tids]
        for sub in batch.subscriptions:
            if sub.kind == "allMids" and mids:
                out.append(_message("allMids", {"mids": mids}))
            elif sub.kind == "l2Book" and mids:
                book = await handle_info(self.mock, {"type": "l2Book", "coin": sub.target})
                if book is not None:
                    out.append(_message("l2Book", book))
            elif sub.kind == "trades" and sub.target in traded:
                out.append(_message("trades", self._trades(traded[sub.target], batch.now_ms)))
            elif sub.target != account or sub.kind not in USER_CHANNELS:
                continue
            elif sub.kind == "orderUpdates" and orders:
                updates = [_order_update(self.mock, o, batch.now_ms) for o in orders]
                out.append(_message("orderUpdates", updates))
            elif sub.kind in ("userFills", "userEvents") and ours:
                out.extend(self._fill_messages(sub, ours))
        return out

    def _trades(self, traded: MarketTraded, now_ms: int) -> list[dict[str, Any]]:
        """One ``trades`` message's entries, each with a trade id of its own."""
        out = []
        for price, size, side in traded.prints:
            self._trade_ids += 1
            out.append(
                {
                    "coin": traded.coin,
                    "side": side,
                    "px": num(price),
                    "sz": num(size),
                    "time": now_ms,
                    "hash": f"0x{self._trade_ids:064x}",
                    "tid": self._trade_ids,
                    "users": [NOBODY, NOBODY],
                }
            )
        return out

    def _fill_messages(self, sub: Subscription, wires: list[dict[str, Any]]) -> list[str]:
        faults = self.mock.faults
        arranged = faults.arrange_fills(wires)
        if sub.kind == "userFills":
            text = _message("userFills", {"user": sub.target, "fills": arranged})
        else:
            text = _message("user", {"fills": arranged})
        return [text, text] if faults.duplicate_fills() else [text]
