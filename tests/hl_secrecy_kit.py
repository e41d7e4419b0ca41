"""Helpers of test_hl_key_secrecy.py: a fresh agent key, the forms it could leak in, the Hyperliquid
mock on an ephemeral port with the key's address funded, and the live config pointing at it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from config_kit import write_paper_config
from rich.console import Console

from gridtui.config.loader import load_config
from gridtui.config.schema import AppConfig, PaperSettings, VenueKind
from gridtui.core.clock import RealClock
from gridtui.exchanges.hyperliquid.mock import DEFAULT_MARKETS, MockExchange, start_site
from gridtui.exchanges.hyperliquid.signing import Signer
from gridtui.monitoring.logs import configure_logging
from gridtui.tui.app import GridApp

WINDOW = 16
"""A run of this many hex digits of the key (64 bits) in a text is the key leaking, not chance."""


def fresh_key() -> str:
    return "0x" + secrets.token_hex(32)


def key_forms(key: str) -> dict[str, str]:
    """The key as a careless line could print it (hex is searched case-insensitively)."""
    body = key[2:].lower()
    raw = bytes.fromhex(body)
    return {
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "url-safe base64": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "base32": base64.b32encode(raw).decode().rstrip("="),
        "integer": str(int(body, 16)),
        "bytes repr": repr(raw),
        "byte list": str(list(raw)),
        "raw bytes": raw.decode("latin-1"),
    }


def leaks(key: str, text: str) -> list[str]:
    """Which forms of the key ``text`` shows (named, never quoted; empty when none).
    Whitespace is dropped first, so a key wrapped over two screen lines is still found."""
    flat = re.sub(r"\s+", "", text)
    found = [name for name, form in key_forms(key).items() if form in text or form in flat]
    body = key[2:].lower()
    for haystack in (text.lower(), flat.lower()):
        for i in range(len(body) - WINDOW + 1):
            if body[i : i + WINDOW] in haystack:
                found.append(f"hex digits {i}..{i + WINDOW} of the key")
                break
    return found


def assert_no_key(key: str, **texts: str) -> None:
    for where, text in texts.items():
        assert not leaks(key, text), f"the agent key appears in {where}: {leaks(key, text)}"


def screen_text(app: GridApp) -> str:
    """The current screen as plain text (what ``export_screenshot`` renders, minus the SVG)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


def files_text(folder: Path) -> str:
    """Every file under ``folder`` (journals, state) as latin-1 text: bytes survive as-is."""
    return "\n".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file())


async def wait_until(check: Callable[[], object], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s

    async def met() -> bool:
        result = check()
        return bool(await result if asyncio.iscoroutine(result) else result)

    while not await met():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@attrs.define
class LiveMock:
    mock: MockExchange
    url: str
    address: str

    async def quoted_coins(self) -> set[str]:
        return {o.coin for o in await self.mock.sim.open_orders()}


@contextlib.asynccontextmanager
async def live_mock(key: str) -> AsyncIterator[LiveMock]:
    """The mock on an ephemeral port, the key's address funded, its market ticking (as
    ``gridtui mock-exchange`` does) so the grids quote and fill."""
    address = Signer.from_key(key).address
    mock = MockExchange(PaperSettings(markets=DEFAULT_MARKETS, seed=3), RealClock())
    await mock.fund(address, Decimal(100_000))
    runner, port = await start_site(mock)

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.05)
            mock.step()

    ticker = asyncio.create_task(tick())
    try:
        yield LiveMock(mock, f"http://127.0.0.1:{port}", address)
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await runner.cleanup()
        await mock.close()


def live_config(tmp_path: Path, url: str, address: str) -> AppConfig:
    """The tests' paper config (config_kit.py) written to ``tmp_path`` with the live venue
    pointing at the mock (so a subprocess given ``--config`` reads the same), journals in
    ``tmp_path/data``."""
    venue = {
        "kind": "hyperliquid",
        "network": "testnet",
        "api_url": url,
        "account_address": address,
    }
    config = load_config(write_paper_config(tmp_path / "config.toml", venue=venue))
    assert config.venue.kind is VenueKind.HYPERLIQUID and config.venue.api_url == url
    return config


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """The project's own logging set-up at debug level (JSON, tracebacks on), into a buffer;
    the root logger is put back afterwards (by conftest's ``restore_logging``)."""
    buffer = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=buffer)
    yield buffer
