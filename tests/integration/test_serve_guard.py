"""Who may open the browser cockpit of ``gridtui serve`` (gridtui.control.web): a browser with
the token, on loopback too, and never a websocket from another site's page."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gridtui.control.web import COOKIE, CockpitServer, is_loopback

TOKEN = "s3cret-token"


async def client_of(token: str) -> TestClient:
    server = CockpitServer("true", host="127.0.0.1", port=0, token=token)
    client = TestClient(TestServer(await server._make_app()))
    await client.start_server()
    return client


@pytest.fixture
async def guarded() -> AsyncIterator[TestClient]:
    client = await client_of(TOKEN)
    yield client
    await client.close()


async def test_without_the_token_nothing_is_served(guarded: TestClient) -> None:
    for path in ("/", "/static/js/textual.js", "/ws"):
        response = await guarded.get(path)
        assert response.status == 401, path
        assert "open the address gridtui serve printed" in await response.text()
    for wrong in ("wrong", "%C3%A9"):  # not ASCII either: refused, never a server error
        assert (await guarded.get(f"/?token={wrong}")).status == 401


async def test_the_token_opens_the_page_once_then_its_cookie_does(guarded: TestClient) -> None:
    response = await guarded.get(f"/?token={TOKEN}")
    assert response.status == 200
    assert response.cookies[COOKIE].value == TOKEN
    assert response.cookies[COOKIE]["httponly"]
    page = await response.text()
    host = f"{guarded.host}:{guarded.port}"
    # The page's websocket and files are where the browser reached this server.
    assert f'data-session-websocket-url="ws://{host}/ws"' in page
    assert f"http://{host}/static/js/textual.js" in page
    assert (await guarded.get("/static/js/textual.js")).status == 200  # the cookie, now


async def test_a_websocket_from_another_sites_page_is_refused(guarded: TestClient) -> None:
    guarded.session.cookie_jar.update_cookies({COOKIE: TOKEN})
    response = await guarded.get("/ws", headers={"Origin": "https://evil.example"})
    assert response.status == 403
    assert "another site" in await response.text()


async def test_a_rebound_name_gets_nothing_without_the_token(guarded: TestClient) -> None:
    """DNS rebinding: a site's name re-pointed at this server reaches it as "attacker.test",
    with its own origin, and without the cookie (which belongs to this server's address)."""
    headers = {"Host": "attacker.test:8000", "Origin": "http://attacker.test:8000"}
    for path in ("/", "/ws"):
        assert (await guarded.get(path, headers=headers)).status == 401


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("myhost", False),
    ],
)
def test_which_addresses_need_a_token(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
