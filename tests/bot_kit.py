"""The one way to build a bot in a test: the real composition root over the paper venue.

Unit and integration tests alike get their bot graph from here, never by calling component
constructors one by one, so a test's bot is wired exactly as production wires it
(``orchestrator.factory.build_bot``) and a changed constructor breaks one place, not every test.
The fixtures (``make_env``, ``env``, ``bot``) are registered in tests/conftest.py.

``env`` is an ``Env``: one paper venue, one clock, one bus whose events are collected in a list,
one ``Metrics`` and a ``DeadManSwitch``. ``bot`` is ``await env.build()``: the ``BotComponents`` of
bot "b1" on BTC (``env.orchestrator()`` wraps a freshly built graph in a ``BotOrchestrator``). A
test module that needs another environment overrides ``env`` with ``make_env(...)`` (prices,
grid, risk, breaker, ... — see ``make_config``); ``bot`` is then built over that one.

The venue is a real ``SimExchange`` whose BTC price follows a *tape*: a candle file of flat
candles, so the test decides every mid (``Env.next_price``) and knows by hand which grid orders
the move fills. Time is a ``SimClock`` that only moves when a test steps the market or advances
it. Bots are built over a journal in ``tmp_path/data``.

A *driven* bot (``running``) runs its real ``run()`` loop with a cycle interval of an hour: the
start-up reconcile and the first cycle happen by themselves, the stream consumer keeps running
in the background, and the test calls ``cycle()`` itself, so nothing happens at a moment the
test did not choose. Supervisor tests (``supervised``) are the exception: they run the real loops
on a real clock with a 10 ms cycle, which keeps them well under a second each.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import attrs
import pytest

from gridtui.config.schema import (
    AppConfig,
    BotSettings,
    BreakerSettings,
    DeadManSettings,
    EngineSettings,
    GridSettings,
    PaperMarket,
    PaperSettings,
    RiskLimits,
    VenueSettings,
)
from gridtui.core.clock import Clock, RealClock, SimClock
from gridtui.core.events import Event, EventBus
from gridtui.core.types import Order, OrderRequest, PlaceStatus, Side
from gridtui.exchanges.base import Exchange, StreamEvent
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.execution.fill_deduplicator import FillDeduplicator
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.orchestrator.factory import BotComponents, build_bot
from gridtui.risk.dead_man_switch import DeadManSwitch
from gridtui.state.data_dir import PAPER, VenueIdentity
from gridtui.supervisor import Supervisor

D = Decimal
T0 = 1_700_000_000_000
COIN = "BTC"
OTHER = "ETH"
STEPS_PER_PRICE = 4
"""A candle is replayed as four mids; a flat candle holds its price for four venue steps."""

# BTC at 100 with 2 size decimals; 3 levels of 1 % and 0.2 BTC: buys 97/98/99, sells 101/102/103.
GRID = GridSettings(levels=3, spacing_pct=D(1), size=D("0.2"))
RISK = RiskLimits()
ENGINE = EngineSettings(
    cycle_interval_s=3600.0,
    reconcile_interval_s=30.0,
    stream_stale_after_s=10.0,
    stuck_order_after_s=30.0,
    restart_backoff_s=0.01,
    restart_backoff_max_s=0.05,
)
BREAKER = BreakerSettings(error_threshold=3, cooldown_s=5.0, max_cooldown_s=60.0)
DEAD_MAN = DeadManSettings(enabled=True, timeout_s=60.0)

T = TypeVar("T", bound=Event)


def write_tape(path: Path, prices: Sequence[Decimal | str | int]) -> Path:
    """One flat candle per price, one minute apart, no volume (the venue then trades its
    configured notional per step, far more than any grid order)."""
    lines = ["time_ms,open,high,low,close,volume"]
    for i, price in enumerate(prices):
        p = D(price)
        lines.append(f"{T0 + i * 60_000},{p},{p},{p},{p},0")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cloid(n: int) -> str:
    """A client id no bot would ever derive (bots hash theirs)."""
    return f"0x{n:032x}"


@attrs.define
class Env:
    """One paper venue, one clock, one bus, and the bots built over them."""

    tmp_path: Path
    clock: SimClock
    config: AppConfig
    exchange: SimExchange
    dead_man: DeadManSwitch
    bus: EventBus
    metrics: Metrics
    events: list[Event]
    streams: dict[str, asyncio.Queue[StreamEvent]] = attrs.field(factory=dict)
    _exchanges: list[SimExchange] = attrs.field(factory=list)
    _bots: list[BotComponents] = attrs.field(factory=list)

    @property
    def paper(self) -> PaperSettings:
        return self.config.venue.paper

    def settings(self, name: str = "b1") -> BotSettings:
        return next(b for b in self.config.bots if b.name == name)

    async def build(self, name: str = "b1", *, data_dir: Path | None = None) -> BotComponents:
        """Bot ``name``'s graph, built by the real factory over its journal in the config's data
        folder (a second build over the same journal is a restart), or in ``data_dir`` (an empty
        journal, as another process or machine would have). Closed after the test."""
        config = self.config if data_dir is None else attrs.evolve(self.config, data_dir=data_dir)
        components = await build_bot(
            self.settings(name),
            config=config,
            exchange=self.exchange,
            dead_man=self.dead_man,
            bus=self.bus,
            clock=self.clock,
            metrics=self.metrics,
            identity=PAPER,
        )
        self._bots.append(components)
        return components

    async def orchestrator(self, name: str = "b1") -> BotOrchestrator:
        """A bot over a freshly built graph; its stream subscription is kept in ``streams``."""
        components = await self.build(name)
        subscribe = self.exchange.subscribe

        def capture() -> asyncio.Queue[StreamEvent]:
            queue = subscribe()
            self.streams[name] = queue
            return queue

        self.exchange.subscribe = capture  # type: ignore[method-assign]
        try:
            return BotOrchestrator(components, self.config.engine)
        finally:
            del self.exchange.subscribe

    def lose_stream(self, name: str = "b1") -> int:
        """Drop whatever the venue has queued for bot ``name`` (a stream outage); returns how
        many events were lost."""
        queue = self.streams[name]
        lost = 0
        while not queue.empty():
            queue.get_nowait()
            lost += 1
        return lost

    def reopen_exchange(self) -> SimExchange:
        """A second venue object over the same state file, as a restarted process would open
        it; the first one is left as it was (a crash closes nothing)."""
        self.exchange = SimExchange(self.paper, self.clock)
        self._exchanges.append(self.exchange)
        alerter = Alerter(self.bus, self.clock)
        self.dead_man = DeadManSwitch(
            self.exchange, self.config.dead_man, self.clock, alerter, self.metrics
        )
        return self.exchange

    def step(self, n: int = 1) -> None:
        """``n`` venue steps, one simulated second apart (fills get distinct timestamps)."""
        for _ in range(n):
            self.clock.advance(1)
            self.exchange.step()

    def next_price(self, n: int = 1) -> None:
        """Move the BTC tape on by ``n`` prices (the last of its four steps makes
        the move, so the new price is the mid when this returns)."""
        self.step(STEPS_PER_PRICE * n)

    async def open_orders(self, coin: str | None = COIN) -> list[Order]:
        return await self.exchange.open_orders(coin)

    async def book(self, coin: str = COIN) -> set[tuple[Side, Decimal, Decimal]]:
        """What rests on the exchange for ``coin``, as (side, price, size)."""
        return {(o.side, o.price, o.remaining) for o in await self.exchange.open_orders(coin)}

    async def place_foreign(
        self, side: Side, price: str, size: str, *, coin: str = COIN, n: int = 1
    ) -> Order:
        """An order placed on the account by someone else (a human, another tool)."""
        request = OrderRequest(coin, side, D(price), D(size), cloid(n))
        (ack,) = await self.exchange.place_orders([request])
        assert ack.status is PlaceStatus.RESTING, ack
        order = await self.exchange.order_status(client_id=request.client_id)
        assert order is not None
        return order

    def of_type(self, kind: type[T], bot: str | None = None) -> list[T]:
        """The events of type ``kind`` published so far, all or only bot ``bot``'s."""
        return [e for e in self.events if isinstance(e, kind) and bot in (None, e.bot)]

    async def aclose(self) -> None:
        for components in self._bots:
            components.close()
        for exchange in self._exchanges:
            await exchange.close()


def make_config(
    tmp_path: Path,
    *,
    prices: Sequence[Decimal | str | int] = (100,),
    grid: GridSettings = GRID,
    risk: RiskLimits = RISK,
    engine: EngineSettings = ENGINE,
    breaker: BreakerSettings = BREAKER,
    dead_man: DeadManSettings = DEAD_MAN,
    with_eth_bot: bool = False,
    state_file: Path | None = None,
) -> AppConfig:
    btc_tape = write_tape(tmp_path / "btc.csv", prices)
    eth_tape = write_tape(tmp_path / "eth.csv", [2000])
    paper = PaperSettings(
        seed=3,
        state_file=state_file or tmp_path / "paper.db",
        tick_interval_s=0.25,
        markets=(
            PaperMarket(COIN, D(prices[0]), 2, candles_file=btc_tape),
            PaperMarket(OTHER, D(2000), 3, candles_file=eth_tape),
        ),
    )
    bots = [BotSettings("b1", COIN, grid, risk)]
    if with_eth_bot:
        eth_grid = GridSettings(levels=2, spacing_pct=D(1), size=D("0.01"))
        bots.append(BotSettings("e1", OTHER, eth_grid, risk))
    return AppConfig(
        data_dir=tmp_path / "data",
        venue=VenueSettings(paper=paper),
        engine=engine,
        breaker=breaker,
        dead_man=dead_man,
        bots=tuple(bots),
    )


def use_dedup(components: BotComponents, dedup: FillDeduplicator) -> FillDeduplicator:
    """Make the bot's fill processor (the one reconciliation uses too) consult ``dedup``, e.g. one
    with a smaller memory or one seeded at an earlier moment; returns ``dedup``."""
    components.processor._dedup = dedup
    return dedup


EnvFactory = Callable[..., Env]


@pytest.fixture
async def make_env(tmp_path: Path) -> AsyncIterator[EnvFactory]:
    """``make_env(prices=..., grid=..., risk=..., breaker=..., start_ms=T0, file_backed=False,
    ...)`` → an ``Env`` (the keywords besides ``start_ms``, the clock's start, and
    ``file_backed``, a venue with a state file, are ``make_config``'s); everything it opened is
    closed after the test."""
    made: list[Env] = []

    def factory(*, file_backed: bool = False, start_ms: int = T0, **overrides: object) -> Env:
        config = make_config(tmp_path, **overrides)  # type: ignore[arg-type]
        clock = SimClock(start_ms)
        if file_backed:
            exchange = SimExchange(config.venue.paper, clock)
        else:
            exchange = SimExchange.in_memory(config.venue.paper, clock)
        bus = EventBus()
        events: list[Event] = []
        bus.subscribe(events.append)
        metrics = Metrics()
        env = Env(
            tmp_path=tmp_path,
            clock=clock,
            config=config,
            exchange=exchange,
            dead_man=DeadManSwitch(exchange, config.dead_man, clock, Alerter(bus, clock), metrics),
            bus=bus,
            metrics=metrics,
            events=events,
        )
        env._exchanges.append(exchange)
        made.append(env)
        return env

    yield factory
    for env in made:
        await env.aclose()


@pytest.fixture
def env(make_env: EnvFactory) -> Env:
    """The default: in-memory venue, BTC held at 100. A test module overrides this fixture to
    change the environment of every test in it (``bot`` follows)."""
    return make_env()


@pytest.fixture
async def bot(env: Env) -> BotComponents:
    """Bot "b1" (BTC) built by the real factory over ``env``."""
    return await env.build()


async def settle(rounds: int = 20) -> None:
    """Let background tasks (the stream consumer) handle what is queued. The paper venue never
    suspends inside a call, so a handful of loop turns drain any queue completely."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def bot_over(
    exchange: Exchange,
    config: AppConfig,
    settings: BotSettings,
    *,
    clock: Clock,
    identity: VenueIdentity,
    bus: EventBus | None = None,
) -> BotOrchestrator:
    """A bot built by the real factory over any venue (a paper venue of its own, the Hyperliquid
    client on the mock), with a dead-man switch of its own: the one way a test builds a bot
    outside an ``Env``. The caller closes its store (``bot.c.close()``)."""
    bus = bus or EventBus()
    metrics = Metrics()
    dead_man = DeadManSwitch(exchange, config.dead_man, clock, Alerter(bus, clock), metrics)
    components = await build_bot(
        settings, config=config, exchange=exchange, dead_man=dead_man, bus=bus, clock=clock,
        metrics=metrics, identity=identity,
    )  # fmt: skip
    return BotOrchestrator(components, config.engine)


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``predicate`` in real time (for loops that run on real timers, e.g. supervisors)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.002)


@contextlib.asynccontextmanager
async def running(bot: BotOrchestrator) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``bot.run()`` in the background until the block ends; yields the task once the
    start-up reconcile and the first cycle are done (or the run failed)."""
    task = asyncio.create_task(bot.run(), name=f"test-{bot.name}")
    await wait_until(lambda: bot.cycles >= 1 or task.done())
    await settle()
    try:
        yield task
    finally:
        bot.stop()
        if not task.done():
            await asyncio.wait_for(asyncio.shield(task), timeout=5)
        elif not task.cancelled():
            task.exception()  # the test inspects it; do not warn about it being unretrieved


def supervised(env: Env, *, tick_interval_s: float = 0.01) -> Supervisor:
    """A Supervisor over ``env``'s config with real time: bots cycle every 10 ms and the venue,
    file-backed at ``tmp_path/sup.db``, ticks every ``tick_interval_s`` on its own."""
    engine = attrs.evolve(env.config.engine, cycle_interval_s=0.01)
    config = attrs.evolve(env.config, engine=engine)
    paper = attrs.evolve(
        env.paper, state_file=env.tmp_path / "sup.db", tick_interval_s=tick_interval_s
    )
    return Supervisor(
        config, clock=RealClock(), bus=env.bus, exchange=SimExchange(paper, RealClock())
    )


async def quoting(supervisor: Supervisor, *coins: str) -> None:
    """Wait until the venue holds orders on every one of ``coins``."""
    deadline = time.monotonic() + 5
    while {o.coin for o in await supervisor.exchange.open_orders()} < set(coins):
        assert time.monotonic() < deadline, "the bots never quoted"
        await asyncio.sleep(0.005)
