"""A local exchange that speaks Hyperliquid's wire protocol over the paper matching engine.

There is no network here, so the live client is tested against this: one port serving
``POST /info`` and ``POST /exchange`` with the real envelopes and error strings, verifying what the
real venue verifies (signer recovery, approved agents, nonce rules, tick / lot / $10 rules in the
engine). ``MockExchange`` holds the state; ``create_app`` builds the aiohttp application (one
route table, ``/ws`` served by mock_ws.py on the same port); ``MockExchange.run`` serves it and
moves the market. Every market step and executed action ``publish``-es the engine's stream
events to listeners (the WebSocket hub), and ``mock.faults`` (mock_faults.py, settable at
runtime) decides which requests fail, stall or lose their answer.

Hostile input never takes the mock down: mock_body.py bounds a body's size and nesting before
it is parsed (the C JSON parser would overflow the stack on deep nesting), and a malformed body
is answered with a 4xx whose body is the venue's message as a JSON string (400 not JSON, 413 too
large, 422 the wrong shape), nothing executed.

One funded account per mock: ``fund`` binds it (mock-only, also reachable as the info request
``{"type": "mockFund", "user": ADDR, "usd": "1000"}``); ``approve_agent`` lets an agent trade
for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import attrs
from aiohttp import web

from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import Clock, RealClock
from gridtui.core.types import AssetMeta
from gridtui.exchanges.base import StreamEvent
from gridtui.exchanges.hyperliquid import mock_actions, mock_body, mock_info, mock_ws
from gridtui.exchanges.hyperliquid.mock_faults import Faults
from gridtui.exchanges.hyperliquid.mock_info import MockError
from gridtui.exchanges.sim import SimExchange

log = logging.getLogger(__name__)

NONCES_KEPT = 100
NONCE_WINDOW_MS = 86_400_000
HOLD_POLL_S = 0.05
DEFAULT_MARKETS = (
    PaperMarket(coin="BTC", start_price=Decimal("64000"), sz_decimals=5),
    PaperMarket(coin="ETH", start_price=Decimal("3000"), sz_decimals=4),
)
MOCK_VENUE = "hyperliquid"
DESERIALIZE_ERROR = "Failed to deserialize the JSON body into the target type"
Listener = Callable[[Sequence[StreamEvent], int], None]
"""Receives one published batch of engine events and the mock time it was published at."""


class NonceBook:
    """Per signer, the highest ``NONCES_KEPT`` nonces: Hyperliquid's replay protection."""

    def __init__(self) -> None:
        self._kept: dict[str, list[int]] = {}

    def check_and_use(self, signer: str, nonce: int, now_ms: int) -> str | None:
        """The refusal message, or None after recording ``nonce`` as used."""
        kept = self._kept.setdefault(signer, [])
        if nonce in kept:
            return f"Invalid nonce: duplicate nonce {nonce}"
        if abs(nonce - now_ms) > NONCE_WINDOW_MS:
            return f"Invalid nonce: {nonce} is more than a day away from the exchange time {now_ms}"
        if len(kept) >= NONCES_KEPT and nonce < kept[0]:
            return f"Invalid nonce: {nonce} is lower than the lowest kept nonce {kept[0]}"
        kept.append(nonce)
        kept.sort()
        del kept[:-NONCES_KEPT]
        return None


class MockExchange:
    """The state behind the mock: the engine, the funded account, agents, nonces, leverage."""

    def __init__(
        self,
        settings: PaperSettings,
        clock: Clock,
        *,
        is_mainnet: bool = False,
        seed: int | None = None,
        faults: Faults | None = None,
    ) -> None:
        if not settings.markets:
            raise ValueError("the mock exchange needs at least one market")
        self.settings = settings if seed is None else attrs.evolve(settings, seed=seed)
        self.clock = clock
        self.is_mainnet = is_mainnet
        self.account: str | None = None
        self.agents: dict[str, str] = {}
        """Approved agent address → the master it trades for."""
        self.nonces = NonceBook()
        self.leverage: dict[str, tuple[bool, int]] = {}
        """Coin → (is_cross, leverage) as set by updateLeverage."""
        self.actions_used = 0
        self.faults = Faults() if faults is None else faults
        """What goes wrong; tests replace it at runtime (start a 429 storm, stop it)."""
        self.release_held = asyncio.Event()
        """Set on shutdown: requests held by a timeout-after-accept fault give up at once."""
        self._listeners: list[Listener] = []
        self.sim = self._new_sim(self.settings)
        self._stream = self.sim.subscribe()

    def _new_sim(self, settings: PaperSettings) -> SimExchange:
        return SimExchange.in_memory(settings, self.clock, venue=MOCK_VENUE, account="mock")

    @property
    def metas(self) -> dict[str, AssetMeta]:
        return {
            m.coin: AssetMeta(m.coin, i, m.sz_decimals) for i, m in enumerate(self.settings.markets)
        }

    @property
    def coins_by_asset(self) -> dict[int, str]:
        return {i: m.coin for i, m in enumerate(self.settings.markets)}

    async def fund(self, address: str, usd: Decimal) -> None:
        """Bind the mock's one account and give it ``usd``. The engine is rebuilt with that
        balance, its markets starting from the current mids so prices do not jump."""
        address = address.lower()
        if not usd.is_finite() or usd <= 0:
            raise MockError(f"mockFund: usd must be positive, got {usd}")
        if self.account is not None:
            raise MockError(f"mockFund: this mock already serves account {self.account}")
        mids = await self.sim.all_mids()
        markets = tuple(attrs.evolve(m, start_price=mids[m.coin]) for m in self.settings.markets)
        self.settings = attrs.evolve(self.settings, starting_balance=usd, markets=markets)
        self.publish()
        old, self.sim = self.sim, self._new_sim(self.settings)
        self._stream = self.sim.subscribe()
        await old.close()
        self.account = address
        log.info("mock exchange: funded %s with %s USD", address, usd)

    def approve_agent(self, master: str, agent: str) -> None:
        """Let ``agent`` sign L1 actions for the funded ``master``."""
        master, agent = master.lower(), agent.lower()
        if master != self.account:
            raise MockError(f"Must deposit before performing actions. User: {master}")
        if agent == master:
            raise MockError("an account cannot be its own agent")
        self.agents[agent] = master
        log.info("mock exchange: %s approved agent %s", master, agent)

    def master_of(self, signer: str) -> str | None:
        """The account a signer may act for: itself when funded, or the master that approved it."""
        if signer == self.account:
            return signer
        return self.agents.get(signer)

    def step(self, dt_s: float | None = None) -> None:
        """One market tick (and a due scheduleCancel); tests drive it with a SimClock."""
        self.sim.step(dt_s)
        self.publish()

    async def exchange(self, body: Mapping[str, Any]) -> Any:
        """Answer one /exchange body (HTTP or WS post) and publish what it changed."""
        try:
            return await mock_actions.handle_exchange(self, body)
        finally:
            self.publish()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def publish(self) -> None:
        """Hand the engine's queued stream events (mids, fills, order changes) to every listener
        as one batch. Called right after each step and action, so the WebSocket sees changes in
        the order the engine made them."""
        events: list[StreamEvent] = []
        while not self._stream.empty():
            events.append(self._stream.get_nowait())
        if not events:
            return
        now = self.clock.now_ms()
        for listener in list(self._listeners):
            listener(events, now)

    async def close(self) -> None:
        await self.sim.close()

    async def run(self, host: str = "127.0.0.1", port: int = 3001) -> None:
        """Serve until cancelled, moving the market every tick interval."""
        try:
            runner, bound = await start_site(self, host, port)
            log.info("mock exchange listening on http://%s:%d", host, bound)
            try:
                while True:
                    await self.clock.sleep(self.settings.tick_interval_s)
                    self.step()
            finally:
                await runner.cleanup()
        finally:
            await self.close()


def _json_response(payload: object, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(payload, separators=(",", ":")),
        status=status,
        content_type="application/json",
    )


def _error_response(status: int, message: str) -> web.Response:
    """A refused request: a 4xx whose body is JSON (the venue's message as a JSON string), so a
    client can always decode the answer; ``json.dumps`` escapes anything unprintable the
    message echoes back from the request."""
    return _json_response(message, status)


def _deserialize_error(detail: str) -> web.Response:
    """A body that parses but has the wrong shape: HTTP 422, worded like the real API."""
    return _error_response(422, f"{DESERIALIZE_ERROR}: {detail}")


async def _read_body(request: web.Request) -> Mapping[str, Any] | web.Response:
    """The JSON object of the body, or the 4xx answer: 413 when too large, 400 when not JSON
    (not UTF-8, too deeply nested, NaN, numbers out of range), 422 when not an object. The
    size is bounded before anything is read and the nesting before anything is parsed, so no
    body can exhaust memory or the C stack (see mock_body.py)."""
    length = request.content_length
    if length is not None and length > mock_body.MAX_BODY_BYTES:
        return _error_response(413, mock_body.TOO_LARGE)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error_response(413, mock_body.TOO_LARGE)
    try:
        body = mock_body.parse_json(raw)
    except mock_body.BodyError as exc:
        return _error_response(exc.status, str(exc))
    if not isinstance(body, Mapping):
        return _deserialize_error("expected a JSON object")
    return body


def _injected_http_error(mock: MockExchange) -> web.Response | None:
    """A 429 or 5xx answered before the request is even read, when the faults say so."""
    status = mock.faults.http_error()
    if status is None:
        return None
    log.info("mock exchange: injected HTTP %d", status)
    return web.Response(text=HTTPStatus(status).phrase, status=status)


async def _withhold(mock: MockExchange, request: web.Request) -> None:
    """Timeout after accept: the action ran, but its answer never comes. Hold the request until
    the client hangs up, the hold time passes or the mock shuts down, then drop the connection.
    Wall time (not the mock clock): this models the network, which the client times in wall time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + mock.faults.timeout_hold_s
    transport = request.transport
    while transport is not None and not transport.is_closing() and loop.time() < deadline:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(mock.release_held.wait(), HOLD_POLL_S)
        if mock.release_held.is_set():
            break
    if transport is not None:
        transport.close()


async def _admit(
    mock: MockExchange, request: web.Request
) -> Mapping[str, Any] | web.StreamResponse:
    """What both endpoints do first: an injected HTTP fault, else the JSON body (or the 422 for
    one that cannot be read)."""
    refused = _injected_http_error(mock)
    if refused is not None:
        return refused
    return await _read_body(request)


async def _info(request: web.Request) -> web.StreamResponse:
    mock = request.app[MOCK_KEY]
    body = await _admit(mock, request)
    if isinstance(body, web.StreamResponse):
        return body
    try:
        payload = await mock_info.handle_info(mock, body)
    except mock_info.InfoRequestError as exc:
        return _deserialize_error(str(exc))
    return _json_response(payload)


async def _exchange(request: web.Request) -> web.StreamResponse:
    mock = request.app[MOCK_KEY]
    body = await _admit(mock, request)
    if isinstance(body, web.StreamResponse):
        return body
    try:
        payload = await mock.exchange(body)
    except mock_actions.ActionFormatError as exc:
        return _deserialize_error(str(exc))
    if mock.faults.timeout_after_accept():
        log.info("mock exchange: injected timeout after accepting %s", body["action"]["type"])
        await _withhold(mock, request)
        # The connection is closed by now, so this answer never leaves the mock.
        return web.Response(status=504)
    if mock.faults.ack_delay_s:
        await asyncio.sleep(mock.faults.ack_delay_s)
    return _json_response(payload)


MOCK_KEY: web.AppKey[MockExchange] = web.AppKey("mock", MockExchange)
HUB_KEY: web.AppKey[mock_ws.WsHub] = web.AppKey("ws_hub", mock_ws.WsHub)


def create_app(
    mock: MockExchange, *, ws_idle_timeout_s: float = mock_ws.IDLE_TIMEOUT_S
) -> web.Application:
    """The mock's application: ``POST /info``, ``POST /exchange`` and ``GET /ws``."""
    app = web.Application(client_max_size=mock_body.MAX_BODY_BYTES)
    app[MOCK_KEY] = mock
    hub = mock_ws.WsHub(mock, idle_timeout_s=ws_idle_timeout_s)
    app[HUB_KEY] = hub
    app.router.add_post("/info", _info)
    app.router.add_post("/exchange", _exchange)
    app.router.add_get("/ws", hub.handle)

    async def _shutdown(app: web.Application) -> None:
        mock.release_held.set()
        await hub.close()

    app.on_shutdown.append(_shutdown)
    return app


async def start_site(
    mock: MockExchange,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ws_idle_timeout_s: float = mock_ws.IDLE_TIMEOUT_S,
) -> tuple[web.AppRunner, int]:
    """Start serving (port 0 = an ephemeral one) and return the runner and the bound port;
    ``await runner.cleanup()`` stops it."""
    app = create_app(mock, ws_idle_timeout_s=ws_idle_timeout_s)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, bound


def run_mock_exchange(args: argparse.Namespace) -> int:
    """``gridtui mock-exchange [--host 127.0.0.1] [--port 3001] [--mainnet] [--faults SPEC]``:
    serve until interrupted. Fund an account with the ``mockFund`` info request. ``faults`` is a
    ``Faults`` or its spec text (``"seed=7,http_429_rate=0.1"``, see ``Faults.from_spec``)."""
    host = getattr(args, "host", None) or "127.0.0.1"
    port = getattr(args, "port", None)
    port = 3001 if port is None else port
    faults = getattr(args, "faults", None)
    if isinstance(faults, str):
        try:
            faults = Faults.from_spec(faults)
        except ValueError as exc:
            log.error("mock exchange: %s", exc)
            return 2
    settings = PaperSettings(markets=DEFAULT_MARKETS)
    mock = MockExchange(
        settings,
        RealClock(),
        is_mainnet=bool(getattr(args, "mainnet", False)),
        seed=getattr(args, "seed", None),
        faults=faults,
    )
    try:
        asyncio.run(mock.run(host, port))
    except KeyboardInterrupt:
        log.info("mock exchange stopped")
    except OSError as exc:
        log.error("mock exchange cannot serve on %s:%d: %s", host, port, exc)
        return 1
    return 0
