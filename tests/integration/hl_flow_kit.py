"""A real bot graph trading the Hyperliquid mock over real sockets, in one process.

The mock (``MockExchange`` + ``start_site`` on an ephemeral port) runs a BTC market that follows a
*tape* of flat candles, so a test decides every mid and knows which grid orders a move fills.
The bot side is what ``gridtui --venue hyperliquid`` builds: a ``HyperliquidExchange`` (REST and
the WebSocket stream, real sockets) and the graph of ``orchestrator.factory.build_bot``, configured
from the tests' own paper config (config_kit.py; the "btc" bot) with its journal in ``tmp_path``.

Clocks: the bot and client run on wall time (the stream's watchdog and the breaker's cooldown must
pass in real time); the mock runs on ``MockClock`` = wall time + an offset the test can push
forward (a due scheduleCancel), so nonces stay inside the mock's window and mock fills are never
stamped before the orders the bot journaled. The bot's ``run()`` loop runs in the background with
a one-hour cycle: the start-up reconcile, the first cycle and the stream consumer happen by
themselves, every later cycle is the test's call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
from bot_kit import bot_over
from config_kit import write_paper_config

from gridtui.config.loader import load_config
from gridtui.config.schema import (
    AppConfig,
    BotSettings,
    BreakerSettings,
    EngineSettings,
    PaperMarket,
    PaperSettings,
)
from gridtui.core.clock import RealClock
from gridtui.core.events import Event, EventBus
from gridtui.core.types import Fill
from gridtui.exchanges.hyperliquid.client import HyperliquidExchange
from gridtui.exchanges.hyperliquid.mock import Faults, MockExchange, start_site
from gridtui.exchanges.hyperliquid.signing import Signer
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.state.data_dir import venue_identity

D = Decimal
KEY = "0x" + "5a" * 32
ADDRESS = Signer.from_key(KEY).address.lower()
COIN = "BTC"
BOT = "btc"
START = D(64000)
STEPS_PER_PRICE = 4
"""A candle is replayed as four mids; ``next_price`` steps through one whole candle."""
ENGINE = EngineSettings(
    cycle_interval_s=3600.0,
    reconcile_interval_s=3600.0,
    stream_stale_after_s=30.0,
    stuck_order_after_s=30.0,
)
BREAKER = BreakerSettings(error_threshold=3, cooldown_s=0.2, max_cooldown_s=1.0)


class MockClock(RealClock):
    """Wall time plus an offset only a test moves (time on the mock's side of the wire)."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def advance(self, seconds: float) -> None:
        self.offset_ms += round(seconds * 1000)


def write_tape(path: Path, prices: list[int]) -> Path:
    """One flat candle per price (no volume: the mock then trades far more than a grid order)."""
    lines = ["time_ms,open,high,low,close,volume"]
    for i, price in enumerate(prices):
        lines.append(f"{1_700_000_000_000 + i * 60_000},{price},{price},{price},{price},0")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def own_config(tmp_path: Path) -> AppConfig:
    """The tests' paper config (config_kit.py) with the journal in ``tmp_path`` and a
    hand-driven engine."""
    config = load_config(write_paper_config(tmp_path / "config.toml"))
    return attrs.evolve(config, data_dir=tmp_path / "data", engine=ENGINE, breaker=BREAKER)


@attrs.define
class HlEnv:
    mock: MockExchange
    mock_clock: MockClock
    url: str
    client: HyperliquidExchange
    bot: BotOrchestrator
    events: list[Event]
    http: httpx.AsyncClient
    task: asyncio.Task[None] | None = None

    def step(self, n: int = 1) -> None:
        """``n`` mock market steps, one mock second apart."""
        for _ in range(n):
            self.mock_clock.advance(1)
            self.mock.step()

    def next_price(self, n: int = 1) -> None:
        self.step(STEPS_PER_PRICE * n)

    def set_faults(self, **faults: Any) -> None:
        self.mock.faults = Faults(seed=5, **faults)

    async def info(self, body: dict[str, Any]) -> Any:
        """A raw /info query (the mock's own answer, not the client's reading of it)."""
        response = await self.http.post(f"{self.url}/info", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def mock_fill_tids(self) -> list[int]:
        fills = await self.info({"type": "userFills", "user": ADDRESS})
        return sorted(f["tid"] for f in fills if f["coin"] == COIN)

    async def mock_position(self) -> Decimal:
        state = await self.info({"type": "clearinghouseState", "user": ADDRESS})
        sizes = [D(p["position"]["szi"]) for p in state["assetPositions"]]
        coins = [p["position"]["coin"] for p in state["assetPositions"]]
        return dict(zip(coins, sizes, strict=True)).get(COIN, D(0))

    async def mock_open_orders(self) -> list[Any]:
        """Straight from the mock's engine, so it answers during an injected HTTP storm too."""
        return await self.mock.sim.open_orders(COIN)

    def journal_fills(self) -> list[Fill]:
        return self.bot.c.store.fills()

    def of_type(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


def _with_risk(settings: BotSettings, changes: dict[str, Any]) -> BotSettings:
    return attrs.evolve(settings, risk=attrs.evolve(settings.risk, **changes))


async def wait_until(
    predicate: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s}s")
        await asyncio.sleep(0.01)


async def wait_for_async(
    predicate: Callable[[], Any], timeout_s: float = 5.0, what: str = "condition"
) -> None:
    """Like ``wait_until`` for a coroutine predicate (e.g. asking the mock)."""
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s}s")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def hl_env(tmp_path: Path, prices: list[int], **risk: Any) -> AsyncIterator[HlEnv]:
    """The mock funded for ``ADDRESS``, the client started, the btc bot running with its grid
    resting on the mock; ``risk`` changes the bot's risk settings (``leverage=3``, ...)."""
    clock = MockClock()
    tape = write_tape(tmp_path / "btc.csv", prices)
    settings = PaperSettings(
        seed=11,
        markets=(
            PaperMarket(COIN, D(prices[0]), 5, candles_file=tape),
            PaperMarket("ETH", D(3000), 4),
        ),
    )
    mock = MockExchange(settings, clock)
    await mock.fund(ADDRESS, D(100_000))
    runner, port = await start_site(mock)
    url = f"http://127.0.0.1:{port}"
    wall = RealClock()
    client = HyperliquidExchange(
        url,
        ADDRESS,
        Signer.from_key(KEY),
        wall,
        is_mainnet=False,
        max_attempts=2,
        backoff_base_s=0.01,
        backoff_cap_s=0.05,
        backoff_seed=3,
        timeout_s=1.0,
        stream_coins={COIN},
    )
    config = own_config(tmp_path)
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    components = None
    try:
        await client.start()
        assert client.stream is not None and client.stream.is_live
        bot = await bot_over(
            client,
            config,
            _with_risk(next(b for b in config.bots if b.name == BOT), risk),
            clock=wall,
            identity=venue_identity(config, client.account_address),
            bus=bus,
        )
        components = bot.c
        async with httpx.AsyncClient(timeout=5) as http:
            env = HlEnv(mock, clock, url, client, bot, events, http)
            env.task = asyncio.create_task(bot.run(), name="hl-flow-bot")
            await wait_until(lambda: bot.cycles >= 1 or env.task.done(), what="first cycle")  # type: ignore[union-attr]
            assert not env.task.done(), env.task
            levels = 2 * components.settings.grid.levels
            await wait_for_async(
                lambda: _count_is(env, levels), what=f"{levels} grid orders resting"
            )
            try:
                yield env
            finally:
                mock.faults = Faults()
                bot.stop()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(env.task, timeout=5)
    finally:
        if components is not None:
            components.close()
        await client.close()
        await runner.cleanup()
        await mock.close()


async def _count_is(env: HlEnv, n: int) -> bool:
    return len(await env.mock_open_orders()) == n
