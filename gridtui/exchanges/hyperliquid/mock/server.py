"""The mock exchange on a port: Hyperliquid's wire protocol over the paper matching engine.

There is no network here, so the live client is tested against this: one port serving
``POST /info`` and ``POST /exchange`` with the real envelopes and error strings, verifying what the
real venue verifies (signer recovery, approved agents, nonce rules, tick / lot / $10 rules in the
engine). ``MockExchange`` (exchange.py) holds the state; ``create_app`` builds the aiohttp
application (one route table, ``/ws`` served by ws.py on the same port); ``serve`` serves it and
moves the market. ``mock.faults`` (faults.py, settable at runtime) decides which requests fail,
stall or lose their answer.

Hostile input never takes the mock down: body.py bounds a body's size and nesting before it is
parsed (the C JSON parser would overflow the stack on deep nesting), and a malformed body is
answered with a 4xx whose body is the venue's message as a JSON string (400 not JSON, 413 too
large, 422 the wrong shape), nothing executed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web

from gridtui.config.schema import PaperSettings
from gridtui.core.clock import RealClock
from gridtui.exchanges.hyperliquid.mock.actions import ActionFormatError, handle_exchange
from gridtui.exchanges.hyperliquid.mock.body import MAX_BODY_BYTES, TOO_LARGE, BodyError, parse_json
from gridtui.exchanges.hyperliquid.mock.exchange import DEFAULT_MARKETS, MockExchange
from gridtui.exchanges.hyperliquid.mock.faults import Faults
from gridtui.exchanges.hyperliquid.mock.info import InfoRequestError, handle_info
from gridtui.exchanges.hyperliquid.mock.ws import IDLE_TIMEOUT_S, WsHub

log = logging.getLogger(__name__)

HOLD_POLL_S = 0.05
DESERIALIZE_ERROR = "Failed to deserialize the JSON body into the target type"


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
    body can exhaust memory or the C stack (see body.py)."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return _error_response(413, TOO_LARGE)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error_response(413, TOO_LARGE)
    try:
        body = parse_json(raw)
    except BodyError as exc:
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
        payload = await handle_info(mock, body)
    except InfoRequestError as exc:
        return _deserialize_error(str(exc))
    return _json_response(payload)


async def _exchange(request: web.Request) -> web.StreamResponse:
    mock = request.app[MOCK_KEY]
    body = await _admit(mock, request)
    if isinstance(body, web.StreamResponse):
        return body
    try:
        payload = await handle_exchange(mock, body)
    except ActionFormatError as exc:
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
HUB_KEY: web.AppKey[WsHub] = web.AppKey("ws_hub", WsHub)


def create_app(mock: MockExchange, *, ws_idle_timeout_s: float = IDLE_TIMEOUT_S) -> web.Application:
    """The mock's application: ``POST /info``, ``POST /exchange`` and ``GET /ws``."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[MOCK_KEY] = mock
    hub = WsHub(mock, idle_timeout_s=ws_idle_timeout_s)
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
    ws_idle_timeout_s: float = IDLE_TIMEOUT_S,
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


async def serve(mock: MockExchange, host: str = "127.0.0.1", port: int = 3001) -> None:
    """Serve until cancelled, moving the market every tick interval; the mock is closed after."""
    try:
        runner, bound = await start_site(mock, host, port)
        log.info("mock exchange listening on http://%s:%d", host, bound)
        try:
            while True:
                await mock.clock.sleep(mock.settings.tick_interval_s)
                mock.step()
        finally:
            await runner.cleanup()
    finally:
        await mock.close()


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
        asyncio.run(serve(mock, host, port))
    except KeyboardInterrupt:
        log.info("mock exchange stopped")
    except OSError as exc:
        log.error("mock exchange cannot serve on %s:%d: %s", host, port, exc)
        return 1
    return 0
