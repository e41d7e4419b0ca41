"""The mock exchange under hostile input: every malformed body gets a 4xx JSON answer, nothing
kills the process, and the official SDK's unnamed ``approveAgent`` is accepted.

The deep-nesting case runs the mock in a child process: on a build that recurses without bound
the child dies with SIGSEGV, which a test in the same process could not survive to report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from eth_account import Account
from hl_mock_kit import AGENT, AGENT_KEY, BTC, MASTER, MASTER_KEY, MockClient, hl, order

from gridtui.exchanges.hyperliquid import signing, wire

__all__ = ["hl"]

DEEP = ("[" * 100_000 + "]" * 100_000).encode()
DEEP_OBJECT = ('{"a":' * 50_000 + "1" + "}" * 50_000).encode()
ADDRESS_LIKE = "0x" + "ab" * 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def _mock_process() -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
    """``run_mock_exchange`` (the CLI entry) in a child process on a free port."""
    port = _free_port()
    code = textwrap.dedent(
        f"""
        import argparse
        from gridtui.exchanges.hyperliquid.mock import run_mock_exchange
        run_mock_exchange(argparse.Namespace(host="127.0.0.1", port={port}))
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.post(url + "/info", json={"type": "meta"}) as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the mock never started listening")
        yield proc, url
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


async def _post_raw(http: aiohttp.ClientSession, url: str, data: bytes) -> tuple[int, str, Any]:
    async with http.post(url, data=data, headers={"Content-Type": "application/json"}) as resp:
        text = await resp.text()
        return resp.status, resp.content_type, text


def _assert_json_4xx(status: int, content_type: str, text: str) -> Any:
    assert 400 <= status < 500, (status, text[:200])
    assert content_type == "application/json", (content_type, text[:200])
    return json.loads(text)


async def test_deeply_nested_bodies_are_refused_and_the_process_survives() -> None:
    async with _mock_process() as (proc, url), aiohttp.ClientSession() as http:
        for path in ("/info", "/exchange"):
            for body in (DEEP, DEEP_OBJECT):
                try:
                    answer = await _post_raw(http, url + path, body)
                except aiohttp.ClientError as exc:
                    proc.wait(timeout=5)
                    raise AssertionError(
                        f"{path}: no answer ({exc!r}); the mock exited with {proc.returncode}"
                    ) from None
                _assert_json_4xx(*answer)
                assert proc.poll() is None
        async with http.ws_connect(url.replace("http", "ws", 1) + "/ws") as ws:
            assert (await ws.receive(timeout=5)).data == "Websocket connection established."
            await ws.send_str(DEEP.decode())
            reply = json.loads((await ws.receive(timeout=5)).data)
            assert reply["channel"] == "error"
            await ws.send_json({"method": "ping"})
            assert json.loads((await ws.receive(timeout=5)).data) == {"channel": "pong"}
        assert proc.poll() is None
        async with http.post(url + "/info", json={"type": "allMids"}) as response:
            assert response.status == 200 and set(await response.json()) == {"BTC", "ETH"}


# ------------------------------------------------------------------ /info


def _info_cases() -> list[bytes]:
    def b(obj: object) -> bytes:
        return json.dumps(obj).encode()

    user = {"user": MASTER}
    cases = [
        b'{"type":"meta"',  # truncated
        b"",
        b'{"type":"\xff\xfe"}',  # not UTF-8
        b"\xef\xbb\xbf\x00\x00",
        b"[]",
        b"1",
        b'"meta"',
        b"null",
        b"true",
        b'{"type":"meta","x":NaN}',
        b'{"type":"meta","x":Infinity}',
        b'{"type":"meta","x":-Infinity}',
        b'{"type":"meta","x":1e999}',
        b'{"type":"meta","x":' + b"9" * 5000 + b"}",
        b'{"type":"userFillsByTime","user":"%s","startTime":%d}' % (MASTER.encode(), 2**64),
        b(["type", "meta"]),
        b({"type": []}),
        b({"type": {"a": 1}}),
        b({"type": None}),
        b({"type": 7}),
    ]
    for usd in ("NaN", "nan", "sNaN", "Infinity", "-Infinity", "1e999999", "-5", "0", "abc"):
        cases.append(b({"type": "mockFund", "user": ADDRESS_LIKE, "usd": usd}))
    for usd in (None, [], {}, True, 1.5, "", " 1"):
        cases.append(b({"type": "mockFund", "user": ADDRESS_LIKE, "usd": usd}))
    for price in (None, 5, [], "NaN", "Infinity", "1e5", "-5", "0", " 1", ""):
        cases.append(b({"type": "mockMove", "coin": "ETH", "price": price}))
    cases.append(b({"type": "mockMove", "price": "1"}))
    for bad_user in (None, 5, [], {}, True, "", "0x123", "0x" + "zz" * 20, "ab" * 21):
        cases.append(b({"type": "clearinghouseState", "user": bad_user}))
        cases.append(b({"type": "mockFund", "user": bad_user, "usd": "10"}))
    for oid in (None, [], {}, True, -1, 1.5, "0xzz", "0x" + "0" * 31, "hello", 2**64):
        cases.append(b({"type": "orderStatus", **user, "oid": oid}))
    for start in (None, "1", -1, 1.5, True, [], 2**64):
        cases.append(b({"type": "userFillsByTime", **user, "startTime": start}))
        if start is not None:  # a null endTime is a valid optional field
            cases.append(b({"type": "userFillsByTime", **user, "startTime": 0, "endTime": start}))
    for coin in (None, 5, [], {}, True):
        cases.append(b({"type": "l2Book", "coin": coin}))
    return cases


@pytest.mark.parametrize("body", _info_cases(), ids=lambda body: body[:60].decode("latin-1"))
async def test_malformed_info_bodies_get_a_4xx_json_error(hl: MockClient, body: bytes) -> None:
    answer = await _post_raw(hl.http, hl.url + "/info", body)
    _assert_json_4xx(*answer)
    assert hl.mock.account == MASTER  # nothing was (re)funded by a malformed request
    assert await hl.info({"type": "allMids"})


# ------------------------------------------------------------------ /exchange


def _signed(action: dict[str, Any], nonce: int) -> dict[str, Any]:
    """A body whose signature is valid for ``action`` when it can be computed at all, so the
    request gets past signer recovery to the part of the action that is malformed."""
    try:
        signature = signing.sign_l1_action(MASTER_KEY, action, None, nonce, None, is_mainnet=False)
    except (ValueError, OverflowError, TypeError):
        signature = {"r": "0x1", "s": "0x1", "v": 27}
    return {
        "action": action,
        "nonce": nonce,
        "signature": signature,
        "vaultAddress": None,
        "expiresAfter": None,
    }


def _order(**override: Any) -> dict[str, Any]:
    wire_order = order(BTC, True, "60000", "0.001")
    wire_order.update(override)
    return wire_order


def _action_cases() -> list[dict[str, Any]]:
    """Signed actions that must be refused as undeserializable (nothing executed)."""
    limit = {"limit": {"tif": "Gtc"}}
    numbers = ("NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "1e999999", "-1")
    numbers += ("", " 1", "1_000", "0x10", "1e-999999", "9" * 5000)
    cases: list[dict[str, Any]] = []
    for text in numbers:
        cases.append(wire.order_action([_order(p=text)]))
        cases.append(wire.order_action([_order(s=text)]))
    for key, values in {
        "a": (None, -1, "0", 1.5, True, [], 2**64),
        "b": (None, "yes", 1, []),
        "p": (None, 60000, 6e4, [], {}),
        "s": (None, 1, 0.001, [], {}),
        "r": (None, "false", 0, []),
        "t": (None, "Gtc", [], {}, {"limit": None}, {"limit": {"tif": []}}),
        "c": (5, [], "0xZZ", "0x" + "0" * 31, "0x" + "A" * 32),
    }.items():
        for value in values:
            cases.append(wire.order_action([_order(**{key: value})]))
    cases.append(wire.order_action([_order(t={"limit": {"tif": {"x": 1}}})]))
    cases.append(wire.order_action([_order(t={"trigger": {}})]))
    for orders in (None, 5, "x", {}, [5], [None], [[]]):
        cases.append({"type": "order", "orders": orders, "grouping": "na"})
    cases.append({"type": "order", "orders": [], "grouping": []})
    cases.append({"type": "order", "orders": [limit], "grouping": "na"})
    for cancel in ({"a": 0, "o": -1}, {"a": 0, "o": "1"}, {"a": -1, "o": 1}, {"a": 0}, 5, []):
        cases.append({"type": "cancel", "cancels": [cancel]})
    cases.append({"type": "cancel", "cancels": {"a": 0, "o": 1}})
    for cancel in ({"asset": 0, "cloid": 5}, {"asset": 0, "cloid": "0x1"}, {"asset": 0}):
        cases.append({"type": "cancelByCloid", "cancels": [cancel]})
    for target in ([], {}, None, True, "0x1", -1):
        cases.append({"type": "batchModify", "modifies": [{"oid": target, "order": _order()}]})
    cases.append({"type": "batchModify", "modifies": [{"oid": 1, "order": 5}]})
    for when in ("x", -5, 1.5, True, [], 2**64):
        cases.append({"type": "scheduleCancel", "time": when})
    for lev in ({"asset": 0, "isCross": True, "leverage": "5"}, {"asset": 0, "isCross": 1}):
        cases.append({"type": "updateLeverage", **lev})
    cases.append({"type": "noSuchAction"})
    return cases


@pytest.mark.parametrize("action", _action_cases(), ids=lambda a: json.dumps(a)[:70])
async def test_malformed_signed_actions_get_a_4xx_json_error(
    hl: MockClient, action: dict[str, Any]
) -> None:
    before = await hl.mock.sim.open_orders()
    body = _signed(action, hl.next_nonce())
    answer = await _post_raw(hl.http, hl.url + "/exchange", json.dumps(body).encode())
    _assert_json_4xx(*answer)
    assert await hl.mock.sim.open_orders() == before


def _envelope_cases() -> list[bytes]:
    def b(obj: object) -> bytes:
        return json.dumps(obj).encode()

    noop = {"type": "noop"}
    sig = {"r": "0x1", "s": "0x1", "v": 27}
    good = {"action": noop, "nonce": 1, "signature": sig, "vaultAddress": None}
    cases = [b"[]", b"5", b"null", b'"x"', b"{", b'{"action":\xff}', b(["action", noop])]
    for action in (None, 5, "noop", [], {}, {"type": 5}, {"type": []}, {"type": None}):
        cases.append(b({**good, "action": action}))
    for nonce in (None, "1", -1, 1.5, True, [], 2**64, 10**30):
        cases.append(b({**good, "nonce": nonce}))
    cases.append(b'{"action":{"type":"noop"},"nonce":1e999,"signature":{}}')
    cases.append(b'{"action":{"type":"noop"},"nonce":NaN,"signature":{}}')
    for signature in (None, 5, "0x1", [], {}, {"r": "0x1", "s": "0x1"}):
        cases.append(b({**good, "signature": signature}))
    for r in ("zz", "0xzz", 5, None, "0x" + "f" * 65, "0x"):
        cases.append(b({**good, "signature": {**sig, "r": r}}))
    for v in (29, 0, "27", True, None, 27.0, 2**64):
        cases.append(b({**good, "signature": {**sig, "v": v}}))
    for vault in (5, [], {}, True, "0x123", "zz"):
        cases.append(b({**good, "vaultAddress": vault}))
    for expires in ("x", -1, 1.5, True, [], 2**64):
        cases.append(b({**good, "expiresAfter": expires}))
    return cases


@pytest.mark.parametrize("body", _envelope_cases(), ids=lambda body: body[:60].decode("latin-1"))
async def test_malformed_exchange_envelopes_get_a_4xx_json_error(
    hl: MockClient, body: bytes
) -> None:
    answer = await _post_raw(hl.http, hl.url + "/exchange", body)
    _assert_json_4xx(*answer)
    assert hl.mock.account == MASTER and await hl.info({"type": "allMids"})


def _approve_cases() -> list[dict[str, Any]]:
    base = signing.approve_agent_action(AGENT, "bot", 1, is_mainnet=False)
    cases: list[dict[str, Any]] = []
    for key, values in {
        "agentAddress": (None, 5, [], "nothex", "0x123", "0x" + "zz" * 20),
        "agentName": (5, [], {}, True),
        "signatureChainId": (None, 5, [], "zz", "0x", "", "0x" + "f" * 80),
        "hyperliquidChain": (None, 5, []),
        "nonce": (None, "1", -1, 1.5, True, [], 2**64),
    }.items():
        for value in values:
            cases.append({**base, key: value})
    for missing in ("agentAddress", "signatureChainId", "nonce"):
        cases.append({k: v for k, v in base.items() if k != missing})
    return cases


@pytest.mark.parametrize("action", _approve_cases(), ids=lambda a: json.dumps(a)[:90])
async def test_malformed_approve_agent_gets_a_4xx_json_error(
    hl: MockClient, action: dict[str, Any]
) -> None:
    nonce = hl.next_nonce()
    body = {"action": action, "nonce": nonce, "signature": {"r": "0x1", "s": "0x1", "v": 27}}
    with contextlib.suppress(Exception):  # a signature when the action can be signed at all
        body["signature"] = signing.sign_user_action(MASTER_KEY, {**action, "nonce": nonce})
    answer = await _post_raw(hl.http, hl.url + "/exchange", json.dumps(body).encode())
    _assert_json_4xx(*answer)
    assert hl.mock.agents == {}


async def test_malformed_ws_messages_get_an_error_and_the_connection_lives(
    hl: MockClient,
) -> None:
    async with hl.http.ws_connect(hl.url.replace("http", "ws", 1) + "/ws") as ws:
        assert (await ws.receive(timeout=2)).data == "Websocket connection established."
        bad_posts: list[object] = [
            {"type": "info", "payload": {"type": "orderStatus", "user": MASTER, "oid": []}},
            {"type": "info", "payload": {"type": "mockFund", "user": MASTER, "usd": "NaN"}},
            {"type": "action", "payload": _signed(wire.order_action([_order(p="NaN")]), 1)},
            {"type": "action", "payload": {"action": {"type": "noop"}, "nonce": -1}},
            {"type": [], "payload": {}},
        ]
        for i, request in enumerate(bad_posts):
            await ws.send_json({"method": "post", "id": i, "request": request})
            reply = json.loads((await ws.receive(timeout=2)).data)
            assert reply["channel"] == "post" and reply["data"]["id"] == i, reply
            assert reply["data"]["response"]["type"] == "error", reply
        texts = ['{"method":"ping","x":NaN}', "[" * 5000, '{"method":[]}', "nope", "7"]
        texts.append(json.dumps({"method": "post", "id": 9, "request": {"nonce": 2**64}}))
        for subscription in (
            {"type": []},
            {"type": "userFills", "user": "bob"},
            {"type": "userFills"},
            [],
        ):
            texts.append(json.dumps({"method": "subscribe", "subscription": subscription}))
        for text in texts:
            await ws.send_str(text)
            reply = json.loads((await ws.receive(timeout=2)).data)
            assert reply["channel"] == "error", (text[:80], reply)
        await ws.send_json({"method": "ping"})
        assert json.loads((await ws.receive(timeout=2)).data) == {"channel": "pong"}


# ------------------------------------------------- approveAgent as the SDK sends it


def _sdk_approve_agent_body(nonce: int, name: str | None) -> dict[str, Any]:
    """What hyperliquid-python-sdk's ``Exchange.approve_agent(name)`` posts: it signs
    ``agentName`` as ``name or ""``, then deletes the field when ``name`` is None. The agent's
    address is the checksummed one, and the signing helper appends the chain fields."""
    action: dict[str, Any] = {
        "type": "approveAgent",
        "agentAddress": Account.from_key(AGENT_KEY).address,
        "agentName": name or "",
        "nonce": nonce,
    }
    action["signatureChainId"] = "0x66eee"
    action["hyperliquidChain"] = "Testnet"
    signature = signing.sign_user_action(MASTER_KEY, action)
    if name is None:
        del action["agentName"]
    return {
        "action": action,
        "nonce": nonce,
        "signature": signature,
        "vaultAddress": None,
        "expiresAfter": None,
    }


@pytest.mark.parametrize("name", [None, "", "sdk-bot"])
async def test_sdk_default_approve_agent_is_accepted(hl: MockClient, name: str | None) -> None:
    status, answer = await hl.post("/exchange", _sdk_approve_agent_body(hl.next_nonce(), name))
    assert (status, answer) == (200, {"status": "ok", "response": {"type": "default"}})
    assert hl.mock.agents == {AGENT: MASTER}
    (placed,) = await hl.place(order(BTC, True, "60000", "0.001"), key=AGENT_KEY)
    assert "resting" in placed


async def test_unnamed_approval_does_not_verify_for_another_name(hl: MockClient) -> None:
    """A missing name reads as "": a signature over "" with a name added must not verify."""
    body = _sdk_approve_agent_body(hl.next_nonce(), None)
    body["action"]["agentName"] = "other"
    status, answer = await hl.post("/exchange", body)
    assert status == 200 and answer["status"] == "err", answer
    assert hl.mock.agents == {}


async def test_oversized_bodies_get_413_json_whether_sized_or_chunked(hl: MockClient) -> None:
    big = b'{"type":"meta","pad":"' + b"x" * (2 << 20) + b'"}'
    _assert_json_4xx(*await _post_raw(hl.http, hl.url + "/info", big))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 64 << 10):
            yield big[start : start + (64 << 10)]

    async with hl.http.post(hl.url + "/exchange", data=chunks()) as response:
        assert response.status == 413 and response.content_type == "application/json"
        assert "length limit" in await response.json()
    assert await hl.info({"type": "allMids"})
