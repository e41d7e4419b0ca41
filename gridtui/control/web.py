"""The cockpit in a browser: textual-serve, each page a cockpit process attached to the engine.

textual-serve (the Textual authors' server: xterm.js in the page, a websocket to a process running
the app with Textual's web driver) starts one process per page. Ours is ``gridtui attach``, a
cockpit that steers the engine of this process over its control socket, so every page shows and
steers the same bots.

Who may open a page: only a browser that brings the token (``?token=…`` once, in the address
``gridtui serve`` prints, then an HttpOnly cookie), on loopback too, as Jupyter does: every user
of the machine reaches a loopback port, and a web page the trader visits can reach it through a
name re-pointed at 127.0.0.1 (DNS rebinding), which would otherwise pass any origin check. A
websocket opened by a page of another site (its ``Origin`` is not this server) is refused even
with the cookie.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server, to_int

log = logging.getLogger(__name__)

COOKIE = "gridtui_token"
SHUTDOWN_TIMEOUT_S = 5.0
"""Pages still open when the server ends get this long (their cockpits close with the engine's
control socket, which closes first)."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """``host`` is reached from this machine only (a name other than localhost counts as
    not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


class CockpitServer(Server):
    """textual-serve's server with the token and origin checks, and page URLs taken from the
    address the browser used (so binding 0.0.0.0 still gives the browser a reachable
    websocket)."""

    def __init__(self, command: str, *, host: str, port: int, token: str) -> None:
        super().__init__(command, host=host, port=port, title="gridtui")
        self.token = token

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/ws" and not _same_origin(request):
            log.warning("refused a websocket from another site: %s", request.headers["Origin"])
            raise web.HTTPForbidden(text="gridtui: a page of another site may not steer the bots")
        offered = request.query.get("token")
        if offered is not None and _same_token(offered, self.token):
            response = await handler(request)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
            return response
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and _same_token(cookie, self.token):
            return await handler(request)
        raise web.HTTPUnauthorized(
            text="gridtui: open the address gridtui serve printed (it carries the token)"
        )

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        """The page, with its websocket and static files at the address the browser used."""
        origin = f"{request.scheme}://{request.host}"
        websocket = origin.replace("http", "ws", 1) + str(request.app.router["websocket"].url_for())
        static = str(request.app.router["static"].url_for(filename="/")).rstrip("/") + "/"
        return {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": websocket,
            "config": {"static": {"url": origin + static}},
            "application": {"name": self.title},
        }

    async def on_startup(self, app: web.Application) -> None:
        """Nothing printed here: ``gridtui serve`` says where it serves, once."""


def _same_token(offered: str, token: str) -> bool:
    """In constant time, and for any text a browser sends (compare_digest refuses non-ASCII
    str)."""
    return hmac.compare_digest(offered.encode(), token.encode())


def _same_origin(request: web.Request) -> bool:
    """A websocket without an Origin is no browser's; one with an Origin must be this server."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.host


async def start_web(server: CockpitServer) -> web.AppRunner:
    """Listening when this returns; ``runner.cleanup()`` ends every page's cockpit."""
    runner = web.AppRunner(
        await server._make_app(), handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    site = web.TCPSite(runner, server.host, server.port)
    await site.start()
    return runner
