"""The backtest replay: the engine that trades live, over historical candles on a simulated clock.

Nothing here decides a trade. The bot is built by the same factory as a live bot (Strategy,
GridCalculator, GridBuilder, RiskEngine, ExecutionGateway, FillProcessor, StateManager) over the
paper venue in candle mode; this module only turns the crank: move the clock to the next point of
the candle's path, let the venue match and stream, hand the stream to the orchestrator exactly as
the live consumer would, and run one engine cycle at each candle's close. What it records on the
way (fills, funding payments, equity at each close) is read off the books, never recomputed.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import attrs

from gridtui.backtest import BacktestError
from gridtui.config.schema import AppConfig, BotSettings, CandlePath, PaperMarket
from gridtui.core.clock import SimClock
from gridtui.core.events import BotHalted, Event, EventBus
from gridtui.core.rounding import PERP_MAX_DECIMALS
from gridtui.core.types import ZERO, Fill
from gridtui.exchanges.sim import CandleSeries, FundingRate, SimExchange
from gridtui.exchanges.sim.vocabulary import FillModel
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.orchestrator.factory import build_bot
from gridtui.risk.dead_man_switch import DeadManSwitch
from gridtui.state.accounting import BotState
from gridtui.state.data_dir import PAPER

POINTS_PER_CANDLE = 4
HOUR_MS = 3_600_000
SHUTDOWN_DEADLINE_S = 10.0
YIELD_EVERY = 1_000
"""Candles between two passes through the event loop. Nothing in a replay waits, so without
them the run is one step of its task, and the cancel with which ``asyncio.run`` answers Ctrl-C
would only land after the last candle (a long backtest could not be interrupted). No other task
runs in a replay's loop, so a pass changes nothing else."""
NEVER_S = 10.0**12
"""Engine timers a replay does not want: the venue is the simulator itself, so the periodic
reconciliation and the stuck-order sweep would only cost time (the start-up one still runs)."""


@attrs.frozen(slots=True)
class ReplayOptions:
    fill_model: FillModel = FillModel.STRICT
    path: CandlePath = CandlePath.ADAPTIVE
    sz_decimals: int | None = None
    """Size precision when the config has no paper market for the coin."""


@attrs.frozen(slots=True)
class EquityPoint:
    """The books at one candle's close. It holds the journal's state object itself (shared by
    every close until the next fill) and derives the figures from it: a year of 1m candles is
    half a million points, and this keeps each one small."""

    time_ms: int
    close: Decimal
    books: BotState
    funding: Decimal
    """Funding received (negative: paid) so far."""

    @property
    def position(self) -> Decimal:
        return self.books.position

    @property
    def realized(self) -> Decimal:
        """All realized PnL so far, net of fees (as the journal books it)."""
        return self.books.all_time_realized

    @property
    def unrealized(self) -> Decimal:
        return self.books.unrealized_at(self.close)

    @property
    def fees(self) -> Decimal:
        return self.books.fees_paid

    @property
    def halted(self) -> bool:
        return self.books.halted

    @property
    def equity(self) -> Decimal:
        return self.realized + self.unrealized + self.funding


@attrs.frozen(slots=True)
class FundingPayment:
    time_ms: int
    position: Decimal
    price: Decimal
    rate: Decimal
    amount: Decimal
    """Received by the account: −position × price × rate (a positive rate: longs pay)."""


@attrs.frozen(slots=True)
class GridRange:
    """The grid's lowest and highest level from ``time_ms`` until the next range (None: no grid,
    e.g. while halted)."""

    time_ms: int
    low: Decimal | None
    high: Decimal | None


@attrs.frozen(slots=True)
class Replay:
    """What one run produced, in time order. The series stay out of its repr: asyncio (3.11)
    builds the repr of a task's result when ``asyncio.run`` puts the SIGINT handler back, and a
    year's full repr was a transient 1 GB string (seconds, and the run's peak memory)."""

    bot: str
    coin: str
    fills: tuple[Fill, ...] = attrs.field(repr=False)
    funding: tuple[FundingPayment, ...] | None = attrs.field(repr=False)
    """None when no funding rates were given: funding not modelled (never a silent zero)."""
    equity: tuple[EquityPoint, ...] = attrs.field(repr=False)
    grid: tuple[GridRange, ...] = attrs.field(repr=False)
    """Each change of the grid's range, in time order (for pictures)."""
    halts: int
    capital: Decimal


def replay(
    config: AppConfig,
    bot: BotSettings,
    candles_file: Path,
    candles: CandleSeries,
    funding: Sequence[FundingRate] | None,
    options: ReplayOptions,
    progress: Callable[[int], None] | None = None,
) -> Replay:
    """Run ``bot`` over ``candles`` (read from ``candles_file``) and return what happened."""
    return asyncio.run(_replay(config, bot, candles_file, candles, funding, options, progress))


async def _replay(
    config: AppConfig,
    bot: BotSettings,
    candles_file: Path,
    candles: CandleSeries,
    funding: Sequence[FundingRate] | None,
    options: ReplayOptions,
    progress: Callable[[int], None] | None,
) -> Replay:
    if len(candles) < 2:
        raise BacktestError(f"{candles_file}: a backtest needs at least 2 candles")
    market = _market(config, bot, candles_file, candles, options)
    paper = attrs.evolve(config.venue.paper, markets=(market,))
    clock = SimClock(candles[0].time_ms)
    exchange = SimExchange.in_memory(
        paper,
        clock,
        half_spread=ZERO,
        fill_model=options.fill_model,
        candles={bot.coin: candles},
    )
    bus = EventBus()
    halts: list[Event] = []
    bus.subscribe(lambda e: halts.append(e) if isinstance(e, BotHalted) else None)
    metrics = Metrics()
    with _scratch_dir() as data_dir:
        engine = attrs.evolve(
            config.engine, reconcile_interval_s=NEVER_S, stuck_order_after_s=NEVER_S
        )
        run_config = attrs.evolve(config, data_dir=data_dir, engine=engine)
        dead_man = DeadManSwitch(
            exchange,
            attrs.evolve(config.dead_man, enabled=False),
            clock,
            Alerter(bus, clock),
            metrics,
        )
        components = await build_bot(
            bot,
            config=run_config,
            exchange=exchange,
            dead_man=dead_man,
            bus=bus,
            clock=clock,
            metrics=metrics,
            identity=PAPER,
        )
        orchestrator = BotOrchestrator(components, engine)
        try:
            await orchestrator.start()
            equity, payments, grid = await _crank(
                orchestrator, exchange, clock, candles, funding, progress
            )
            fills = tuple(await exchange.fills_since(0, bot.coin))
            await orchestrator.shutdown(time.monotonic() + SHUTDOWN_DEADLINE_S)
        finally:
            orchestrator.detach()
            components.close()  # the journal, before its folder goes
            await exchange.close()
    return Replay(
        bot=bot.name,
        coin=bot.coin,
        fills=fills,
        funding=None if funding is None else tuple(payments),
        equity=tuple(equity),
        grid=tuple(grid),
        halts=len(halts),
        capital=paper.starting_balance,
    )


async def _crank(
    orchestrator: BotOrchestrator,
    exchange: SimExchange,
    clock: SimClock,
    candles: CandleSeries,
    funding: Sequence[FundingRate] | None,
    progress: Callable[[int], None] | None,
) -> tuple[list[EquityPoint], list[FundingPayment], list[GridRange]]:
    """The venue starts at the first candle's open; every step moves it one point along the
    path (the last point of a candle is its close, the next step the next candle's open). One
    engine cycle at each close: orders placed in reaction to a fill (its replacement) are on
    the book for the rest of the candle's path, so they can fill later in the same candle only
    if the path reaches them after the fill."""
    c = orchestrator.c
    rates = _hourly(funding or ())
    equity: list[EquityPoint] = []
    payments: list[FundingPayment] = []
    grid: list[GridRange] = []
    shown = None
    received = ZERO
    interval = candles.interval_ms
    for index, candle in enumerate(candles):
        first = 1 if index == 0 else 0  # the first open is where the venue already stands
        times = [
            candle.time_ms + point * interval // POINTS_PER_CANDLE
            for point in range(first, POINTS_PER_CANDLE)
        ]
        if exchange.step_quietly(times):
            clock.set_ms(times[-1])
            await orchestrator.drain_stream()
        else:  # the candle reaches an order: point by point, so the bot reacts to each fill
            for at in times:
                clock.set_ms(at)
                exchange.step(0)
                await orchestrator.drain_stream()
        await orchestrator.cycle()
        await orchestrator.drain_stream()
        state = c.state.get_snapshot()
        close_ms = candle.time_ms + interval
        if c.builder.snapshot is not shown:
            shown = c.builder.snapshot
            low, high = (None, None) if shown is None else (shown.lowest, shown.highest)
            grid.append(GridRange(close_ms, low, high))
        if funding is not None:
            for hour in _hours_between(candle.time_ms, close_ms):
                rate = rates.get(hour)
                if rate is not None and state.position != 0:
                    amount = -state.position * candle.close * rate
                    payments.append(
                        FundingPayment(hour * HOUR_MS, state.position, candle.close, rate, amount)
                    )
                    received += amount
        equity.append(EquityPoint(close_ms, candle.close, state, received))
        if progress is not None:
            progress(index + 1)
        if index % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    return equity, payments, grid


def _market(
    config: AppConfig,
    bot: BotSettings,
    candles_file: Path,
    candles: CandleSeries,
    options: ReplayOptions,
) -> PaperMarket:
    """The coin's paper market (its size precision) replaying ``candles_file``."""
    known = next((m for m in config.venue.paper.markets if m.coin == bot.coin), None)
    sz_decimals = size_decimals(config, bot, options)
    base = known or PaperMarket(bot.coin, candles[0].open, sz_decimals)
    return attrs.evolve(
        base, sz_decimals=sz_decimals, candles_file=candles_file, candle_path=options.path
    )


def size_decimals(config: AppConfig, bot: BotSettings, options: ReplayOptions) -> int:
    """The coin's size precision: ``--sz-decimals``, else its paper market's."""
    if options.sz_decimals is not None:
        if not 0 <= options.sz_decimals <= PERP_MAX_DECIMALS:
            raise BacktestError(
                f"--sz-decimals {options.sz_decimals}: give 0 to {PERP_MAX_DECIMALS} (a perp's "
                f"prices carry {PERP_MAX_DECIMALS} minus that many decimals)"
            )
        return options.sz_decimals
    known = next((m for m in config.venue.paper.markets if m.coin == bot.coin), None)
    if known is None:
        raise BacktestError(
            f"no paper market for {bot.coin} in the config to take its size precision "
            f"from: add one under [venue.paper] or pass --sz-decimals N"
        )
    return known.sz_decimals


def _hourly(funding: Sequence[FundingRate]) -> dict[int, Decimal]:
    """Rates by the hour they apply to (Hyperliquid pays each hour on the hour)."""
    return {rate.time_ms // HOUR_MS: rate.rate for rate in funding}


def _hours_between(start_ms: int, end_ms: int) -> Iterator[int]:
    """The hour boundaries in (start, end]: funding is paid on the position held then."""
    first = start_ms // HOUR_MS + 1
    last = end_ms // HOUR_MS
    return iter(range(first, last + 1))


@contextmanager
def _scratch_dir() -> Iterator[Path]:
    """The run's journal: thrown away afterwards, and in memory where the system offers it
    (a journal commits each fill with fsync; a replay needs none of that durability)."""
    shm = Path("/dev/shm")
    where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="gridtui-backtest-", dir=where) as folder:
        yield Path(folder)
