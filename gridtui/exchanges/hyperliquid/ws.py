"""Hyperliquid's WebSocket stream of one account: mids, order updates and fills as stream events.

``StreamLink`` is the connection loop (shared with live_prices.py's public market stream);
``UserStream`` is the account's stream on it. One background task keeps one connection alive:
- it subscribes allMids, l2Book(coin) per traded coin, orderUpdates / userEvents / userFills of
  the MASTER account; books go to ``on_book``, everything else out as stream events (userEvents'
  fills duplicate userFills and are dropped; its venue cancels become CANCELED order updates);
- it pings before the server's 60 s idle cut-off, and a watchdog drops the connection when
  nothing arrived for ``silence_timeout_s`` (a half-open socket looks alive but says nothing);
- it reconnects with a bounded, jittered backoff, forever, until ``close()``.

Gaps: orderUpdates sends no snapshot, and whatever happened while the socket was down is not
replayed. So the first userFills snapshot of a connection is not forwarded as new fills (it is
only the sign that the subscriptions are live); once it arrives after an interruption, a
``StreamReset`` tells subscribers to catch up by REST. The REST catch-up then starts after the
stream is live again, so nothing falls between the two, and overlap is removed by fill dedup.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from typing import Any

import attrs
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from gridtui.core.clock import Clock
from gridtui.core.types import ExchangeError, Order, OrderStatus
from gridtui.exchanges.base import FillsReceived, OrderUpdated, StreamEvent, StreamReset
from gridtui.exchanges.hyperliquid import ws_parse
from gridtui.exchanges.hyperliquid.info_parse import L2Book, parse_l2_book
from gridtui.exchanges.hyperliquid.rate_limit import Backoff

log = logging.getLogger(__name__)

PING = json.dumps({"method": "ping"})
_MALFORMED = (ExchangeError, ValueError, TypeError, KeyError)


def ws_url(base_url: str) -> str:
    """The stream's address: the REST base URL with http → ws (https → wss) plus ``/ws``."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://") + "/ws"
    if base.startswith("http://"):
        return "ws://" + base.removeprefix("http://") + "/ws"
    raise ValueError(f"not an http(s) base URL: {base_url!r}")


class StreamFanout:
    """Every subscriber gets its own queue and every event (like the paper venue does)."""

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[StreamEvent]] = []

    def subscribe(self) -> asyncio.Queue[StreamEvent]:
        queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self._queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[StreamEvent]) -> None:
        if queue in self._queues:
            self._queues.remove(queue)

    def publish(self, event: StreamEvent) -> None:
        for queue in self._queues:
            queue.put_nowait(event)


class StreamLink(ABC):
    """One WebSocket kept alive for a set of subscriptions: connect, subscribe, ping, watch for
    silence, reconnect with backoff, forever, until ``close()``. A subclass says what to
    subscribe (``subscriptions``), what a message means (``_dispatch``) and when the
    subscriptions are proven live (it calls ``_became_live``)."""

    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        venue: str = "hyperliquid",
        ping_interval_s: float = 50.0,
        silence_timeout_s: float = 30.0,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        backoff_seed: int | None = None,
        open_timeout_s: float = 10.0,
    ) -> None:
        if not 0 < ping_interval_s < 60:
            raise ValueError(
                "ping_interval_s must be in (0, 60): the server cuts idle links at 60 s"
            )
        if silence_timeout_s <= 0:
            raise ValueError("silence_timeout_s must be positive")
        self.url = ws_url(url)
        self._clock = clock
        self._venue = venue
        self._ping_interval_s = ping_interval_s
        self._silence_timeout_s = silence_timeout_s
        self._open_timeout_s = open_timeout_s
        self._backoff = Backoff(
            clock, base=backoff_base_s, cap=backoff_cap_s, seed=backoff_seed, max_attempts=1000
        )
        self._task: asyncio.Task[None] | None = None
        self._live = asyncio.Event()
        self._reset_reason: str | None = None
        self._last_sent_ms = 0
        self.message_count = 0
        self.malformed_count = 0
        self.reconnects = 0
        self.last_message_ms: int | None = None

    @property
    def is_live(self) -> bool:
        """Connected, and a message proved the subscriptions active."""
        return self._live.is_set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Launch the stream task. Idempotent."""
        if not self.running:
            self._task = asyncio.create_task(self._run(), name=f"{self._venue}-ws")

    async def wait_live(self, timeout_s: float) -> bool:
        """Wait until the stream is live. On a timeout the caller goes on without it, so the
        stream owes a ``StreamReset`` once it does come up (the caller's start-up catch-up
        may not cover what happens before that)."""
        try:
            await asyncio.wait_for(self._live.wait(), timeout_s)
        except TimeoutError:
            log.warning(
                "%s stream not live after %.1f s; REST covers until it is", self.url, timeout_s
            )
            self._reset_reason = self._reset_reason or "stream not live at start"
            return False
        return True

    async def close(self) -> None:
        """Stop the task and close the socket; nothing is left running."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._live.clear()

    # -- connection loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            reason = await self._connect_once()
            self._live.clear()
            self._reset_reason = reason
            log.warning("%s stream down (%s); reconnecting", self.url, reason)
            if self._backoff.exhausted:
                self._backoff.reset()
            await self._backoff.wait()

    async def _connect_once(self) -> str:
        """One connection from open to loss; returns why it ended. Never raises but on cancel."""
        try:
            async with connect(
                self.url,
                open_timeout=self._open_timeout_s,
                ping_interval=None,  # Hyperliquid wants its own JSON ping, sent below
                close_timeout=1.0,
            ) as socket:
                return await self._session(socket)
        except (OSError, TimeoutError, WebSocketException) as exc:
            return f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bug must not end the stream for good: log it loudly, go on
            log.exception("%s stream failed unexpectedly", self.url)
            return f"unexpected {type(exc).__name__}: {exc}"

    @abstractmethod
    def subscriptions(self) -> list[dict[str, Any]]:
        """What every connection subscribes, in order."""

    def _on_session(self) -> None:  # noqa: B027 -- a hook: most streams need nothing here
        """A new connection opened (before it subscribes)."""

    @abstractmethod
    def _dispatch(self, channel: Any, data: Any) -> None:
        """One message of ``channel``; raise ``ValueError`` (or a ``WireError``) when malformed."""

    async def _session(self, socket: ClientConnection) -> str:
        self._on_session()
        self._last_sent_ms = self._clock.now_ms()
        self.last_message_ms = self._clock.now_ms()
        for subscription in self.subscriptions():
            await self._send(socket, json.dumps(ws_parse.subscribe_message(subscription)))
        reader = asyncio.create_task(self._read(socket))
        watchdog = asyncio.create_task(self._watch(socket))
        try:
            done, _ = await asyncio.wait({reader, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            return done.pop().result()
        finally:
            for task in (reader, watchdog):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _send(self, socket: ClientConnection, text: str) -> None:
        await socket.send(text)
        self._last_sent_ms = self._clock.now_ms()

    async def _read(self, socket: ClientConnection) -> str:
        try:
            async for raw in socket:
                self._handle(raw)
        except ConnectionClosed as exc:
            return f"connection lost: {exc}"
        return f"server closed the connection: {socket.close_reason or socket.close_code}"

    async def _watch(self, socket: ClientConnection) -> str:
        """Ping when we have been quiet for ping_interval_s (or the server for half the silence
        timeout: a probe before giving up); drop the link after silence_timeout_s."""
        tick = min(self._ping_interval_s, self._silence_timeout_s) / 5
        try:
            while True:
                await self._clock.sleep(tick)
                now = self._clock.now_ms()
                quiet_s = (now - (self.last_message_ms or now)) / 1000
                idle_s = (now - self._last_sent_ms) / 1000
                if quiet_s >= self._silence_timeout_s:
                    return f"no message for {quiet_s:.1f} s"  # leaving `connect` closes it
                probe = quiet_s >= self._silence_timeout_s / 2 and idle_s >= tick
                if idle_s >= self._ping_interval_s or probe:
                    await self._send(socket, PING)
        except ConnectionClosed as exc:
            return f"connection lost while pinging: {exc}"

    # -- messages ----------------------------------------------------------------------------

    def _handle(self, raw: str | bytes) -> None:
        """Translate one frame; a malformed one is logged, counted and skipped."""
        self.message_count += 1
        self.last_message_ms = self._clock.now_ms()
        if raw == ws_parse.GREETING:
            return
        try:
            message = json.loads(raw)
            if not isinstance(message, dict):
                raise ValueError("not a JSON object")
            self._dispatch(message.get("channel"), message.get("data"))
        except _MALFORMED as exc:
            self.malformed_count += 1
            log.warning("skipping malformed stream message (%s): %.120r", exc, raw)

    def _became_live(self) -> None:
        self._live.set()
        self._backoff.reset()
        if self._reset_reason is not None:
            reason, self._reset_reason = self._reset_reason, None
            self.reconnects += 1
            log.info("%s stream live again after: %s", self.url, reason)
            self._on_live_again(reason)

    def _on_live_again(self, reason: str) -> None:  # noqa: B027 -- a hook, as _on_session
        """The subscriptions are live again after ``reason`` interrupted them."""


class UserStream(StreamLink):
    """The account's stream; ``on_event`` receives every translated event in arrival order."""

    def __init__(
        self,
        url: str,
        account_address: str,
        clock: Clock,
        *,
        coins: Collection[str] | None,
        on_event: Callable[[StreamEvent], None],
        on_book: Callable[[L2Book], None] | None = None,
        **link: Any,
    ) -> None:
        super().__init__(url, clock, **link)
        self.account_address = account_address.lower()
        self._coins = None if coins is None else frozenset(coins)
        self._on_event = on_event
        self._on_book = on_book
        self._orders: dict[int, Order] = {}
        """Live orders as orderUpdates last showed them: a venue cancel names only the oid."""
        self._snapshot_seen = False

    def subscriptions(self) -> list[dict[str, Any]]:
        return ws_parse.subscriptions(self.account_address, self._coins)

    def _on_session(self) -> None:
        self._snapshot_seen = False

    def _on_live_again(self, reason: str) -> None:
        self._on_event(StreamReset(reason))

    def _dispatch(self, channel: Any, data: Any) -> None:
        if channel == "allMids":
            for event in ws_parse.mid_events(data, self._coins, self._clock.now_ms()):
                self._on_event(event)
        elif channel == "orderUpdates":
            for update in ws_parse.order_updates(data):
                self._remember(update.order)
                self._on_event(update)
        elif channel == "l2Book":
            book = parse_l2_book(data)
            if self._on_book is not None:
                self._on_book(book)
        elif channel == "user":
            self._on_user_events(ws_parse.user_events(data))
        elif channel == "userFills":
            self._on_fills(ws_parse.user_fills(data, self.account_address, self._venue))
        elif channel == "error":
            log.error("stream error from %s: %.200s", self.url, data)
        elif channel not in ("subscriptionResponse", "pong", "post"):
            raise ValueError(f"unknown channel {channel!r}")

    def _on_fills(self, message: ws_parse.UserFillsMessage) -> None:
        if message.is_snapshot and not self._snapshot_seen:
            self._snapshot_seen = True
            self._became_live()
            return
        if message.fills:
            self._on_event(FillsReceived(message.fills, is_snapshot=message.is_snapshot))

    def _remember(self, order: Order) -> None:
        if order.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
            self._orders[order.exchange_id] = order
        else:
            self._orders.pop(order.exchange_id, None)

    def _on_user_events(self, events: ws_parse.UserEvents) -> None:
        """Venue cancels become CANCELED updates (of the order as last seen; an order never
        seen asks subscribers to reconcile); a liquidation is logged loudly; fills are left
        to userFills, which carries the same ones."""
        if events.liquidation is not None:
            log.error("LIQUIDATION on %s: %.300s", self.account_address, events.liquidation)
        for cancel in events.cancels:
            known = self._orders.pop(cancel.exchange_id, None)
            if known is None:
                log.warning("venue cancelled unknown order %s %d", cancel.coin, cancel.exchange_id)
                self._on_event(StreamReset(f"venue cancelled unknown order {cancel.exchange_id}"))
                continue
            log.warning("venue cancelled order %s %d", cancel.coin, cancel.exchange_id)
            canceled = attrs.evolve(
                known, status=OrderStatus.CANCELED, timestamp_ms=self._clock.now_ms()
            )
            self._on_event(OrderUpdated(canceled))
