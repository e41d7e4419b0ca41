"""The mock exchange's runner: ``serve`` serves and moves the market on a real clock;
``run_mock_exchange`` (the CLI entry) fails cleanly when its port is taken."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket

import aiohttp
import attrs
from hl_mock_kit import SETTINGS

from gridtui.core.clock import RealClock
from gridtui.exchanges.hyperliquid.mock import MockExchange, run_mock_exchange, serve


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_run_serves_and_moves_the_market() -> None:
    fast = attrs.evolve(SETTINGS, tick_interval_s=0.01, speed=3600.0)
    mock = MockExchange(fast, RealClock())
    port = _free_port()
    task = asyncio.create_task(serve(mock, "127.0.0.1", port))
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/info"
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.post(url, json={"type": "allMids"}) as response:
                        first = await response.json()
                        break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the mock never started listening")
            for _ in range(200):
                await asyncio.sleep(0.01)
                async with http.post(url, json={"type": "allMids"}) as response:
                    if await response.json() != first:
                        break
            else:
                raise AssertionError("the market never moved")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_cli_entry_reports_a_taken_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert run_mock_exchange(argparse.Namespace(host="127.0.0.1", port=port)) == 1
