"""The sweep evaluator: the backtest replay's fills at compiled speed, or no answer at all.

``fast_replay`` runs ``grid_kernel`` (the engine's grid, venue, fill booking and risk gate,
mirrored step for step) over candle arrays prepared once per process, and asks the real
``calculate_grid`` for every grid the engine would build. It answers None, with the reason,
whenever it cannot promise the engine replay's fills: settings it does not model (a volatility-
scaled or trend-leaning grid: their indicators read every observed mid), or a decision during
the run it cannot be sure of (the kernel bails). The caller then runs the engine replay for that
trial: never an approximation. ``tests/integration/test_fast_replay.py`` holds the two to
identical fills and equal PnL to the cent on random settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

import attrs
import numpy as np

from gridtui.backtest.replay import HOUR_MS, ReplayOptions
from gridtui.backtest.report import RunFigures
from gridtui.config.schema import AppConfig, BotSettings, GridMode
from gridtui.core.clock import UTC_DAY_MS
from gridtui.core.rounding import round_price, round_size
from gridtui.core.types import AssetMeta, Side
from gridtui.exchanges.sim import CandleSeries, FundingRate
from gridtui.exchanges.sim.exchange import DEFAULT_NOTIONAL_PER_TICK
from gridtui.exchanges.sim.vocabulary import FillModel
from gridtui.execution.grid_builder import REPAIR_EVERY
from gridtui.optimize import grid_kernel as kernel
from gridtui.strategy.grid_calculator import GridError, calculate_grid
from gridtui.strategy.grid_snapshot import GridSnapshot

LEVERAGE = AssetMeta("", 0, 0).max_leverage
"""The paper venue's leverage for every coin (its margin check divides by it)."""
_MAX_DENOMINATOR = 10_000
"""Thresholds and order rates with more decimals than this are left to the engine (the kernel's
integer comparisons would overflow)."""
_FILLS_START = 4096


@attrs.frozen(slots=True)
class CandleArrays:
    """A candle series as the kernel reads it, built once per process and series."""

    points: np.ndarray
    """[candles, 4] the path's rounded mids, in millionths."""
    lows: np.ndarray
    highs: np.ndarray
    budgets: np.ndarray
    """[candles, 4] the lots that trade on each side at each point."""
    times: np.ndarray
    closes: np.ndarray
    """The unrounded closes, as floats: what the equity is marked at."""
    interval_ms: int
    sz_decimals: int
    candles: CandleSeries = attrs.field(repr=False)
    """The series itself: funding is booked at its exact closes."""


def candle_arrays(candles: CandleSeries, sz_decimals: int, options: ReplayOptions) -> CandleArrays:
    """The path each candle is replayed through and the volume at each point, exactly as the
    paper venue's ``CandleReplay`` rounds them."""
    count = len(candles)
    points = np.empty((count, kernel.POINTS), dtype=np.int64)
    budgets = np.empty((count, kernel.POINTS), dtype=np.int64)
    rounded: dict[Decimal, int] = {}
    lots = Decimal(1).scaleb(sz_decimals)
    for k, candle in enumerate(candles):
        for p, price in enumerate(candle.path(options.path)):
            units = rounded.get(price)
            if units is None:
                units = rounded[price] = int(round_price(price, sz_decimals).scaleb(6))
            points[k, p] = units
        if candle.volume > 0:
            budgets[k, :] = int(round_size(candle.volume / kernel.POINTS, sz_decimals) * lots)
        else:  # as the venue: the configured notional at each point's mid
            for p in range(kernel.POINTS):
                mid = Decimal(int(points[k, p])).scaleb(-6)
                budgets[k, p] = int(round_size(DEFAULT_NOTIONAL_PER_TICK / mid, sz_decimals) * lots)
    times = np.fromiter((c.time_ms for c in candles), dtype=np.int64, count=count)
    closes = np.fromiter((float(c.close) for c in candles), dtype=np.float64, count=count)
    return CandleArrays(
        points,
        points.min(axis=1),
        points.max(axis=1),
        budgets,
        times,
        closes,
        candles.interval_ms,
        sz_decimals,
        candles,
    )


def not_modelled(bot: BotSettings, options: ReplayOptions) -> str | None:
    """Why the kernel cannot promise the engine's fills for ``bot`` (None: it can)."""
    grid, risk = bot.grid, bot.risk
    if grid.volatility_scaled:
        return "volatility_scaled grids read every mid (the engine replay scores them)"
    if grid.trend_bias != 0 and grid.mode is GridMode.ROLLING:
        return "a trend-leaning grid reads every mid (the engine replay scores it)"
    if Fraction(grid.recenter_threshold_pct).denominator > _MAX_DENOMINATOR:
        return "recenter_threshold_pct has more than 4 decimals"
    if Fraction(risk.max_orders_per_second).denominator > _MAX_DENOMINATOR:
        return "max_orders_per_second has more than 4 decimals"
    if options.fill_model not in (FillModel.STRICT, FillModel.TOUCH):
        return f"fill model {options.fill_model.value}"
    return None


@attrs.frozen(slots=True)
class FastRun:
    """What the kernel's run produced, in the replay's terms."""

    fills: np.ndarray
    """[fills, 4]: time, side (+1 buy, -1 sell), price in millionths, size in lots."""
    equity: np.ndarray
    """Equity at each close: realized (net of fees) + unrealized + funding."""
    positions: np.ndarray
    """Lots held at each close."""
    halted: np.ndarray
    halts: int
    realized: float
    fees: float
    funding: Decimal | None
    """Exact, from the positions at each hour boundary; None: funding not modelled."""
    avg_entry: float
    sz_decimals: int

    def fill_tuples(self) -> list[tuple[int, Side, Decimal, Decimal]]:
        """(time, side, price, size) of each fill, in the venue's order."""
        return [
            (
                int(t),
                Side.BUY if s == 1 else Side.SELL,
                Decimal(int(p)).scaleb(-6).normalize(),
                Decimal(int(q)).scaleb(-self.sz_decimals).normalize(),
            )
            for t, s, p, q in self.fills
        ]

    @property
    def final_position(self) -> Decimal:
        return Decimal(int(self.positions[-1])).scaleb(-self.sz_decimals)

    def figures(self, bot: BotSettings, capital: Decimal, arrays: CandleArrays) -> RunFigures:
        """The report's inputs. Realized PnL, fees and the average entry come from floats: the
        differential test holds them to the engine's exact figures to the cent."""
        position = self.final_position
        last_close = arrays.candles[-1].close
        unrealized = position * (last_close - _decimal(self.avg_entry)) if position else Decimal(0)
        buys = int((self.fills[:, 1] == 1).sum())
        return RunFigures(
            bot=bot.name,
            coin=bot.coin,
            capital=capital,
            realized=_decimal(self.realized),
            unrealized=unrealized,
            fees=_decimal(self.fees),
            funding=self.funding,
            buys=buys,
            sells=len(self.fills) - buys,
            halts=self.halts,
            final_position=position,
            close_times=arrays.times + arrays.interval_ms,
            equity=self.equity,
            halted=self.halted.astype(np.bool_),
        )


_SNAP = Decimal("1e-10")


def _decimal(value: float) -> Decimal:
    """A float sum of exact amounts, back to the amount: the money the engine books has few
    decimals (prices, sizes and fees are short decimals), and a float lands a hair beside it
    (22.454999999999973 for 22.455, which then rounds to the other cent). Snapped to 10
    decimals, far below a cent and far above the floats' error."""
    return Decimal(repr(value)).quantize(_SNAP)


@attrs.frozen(slots=True)
class Bailed:
    """No answer: why the engine replay must score this run."""

    reason: str


_BAIL_REASONS = {
    kernel.BAIL_HALT_LIMIT: "an equity within a hair of a halt limit",
    kernel.BAIL_NOTIONAL_LIMIT: "a notional within a hair of max_notional",
    kernel.BAIL_MARGIN: "an order near the venue's margin limit",
    kernel.BAIL_ORDER_ROOM: "more resting orders than the kernel has room for",
}


def fast_replay(
    config: AppConfig,
    bot: BotSettings,
    arrays: CandleArrays,
    funding: Sequence[FundingRate] | None,
    options: ReplayOptions,
) -> FastRun | Bailed:
    """The replay's outcome for ``bot`` over ``arrays``, or why there is none."""
    reason = not_modelled(bot, options)
    if reason is not None:
        return Bailed(reason)
    grid, risk = bot.grid, bot.risk
    paper = config.venue.paper
    szd = arrays.sz_decimals
    n = grid.levels
    count = arrays.points.shape[0]
    threshold = Fraction(grid.recenter_threshold_pct)
    rate = Fraction(risk.max_orders_per_second)
    token_unit = 1000 * rate.denominator
    rules = np.zeros(kernel.RULES_SIZE, dtype=np.int64)
    rules[kernel.R_LEVELS] = n
    rules[kernel.R_STRICT] = 1 if options.fill_model is FillModel.STRICT else 0
    rules[kernel.R_MAX_OPEN] = risk.max_open_orders
    rules[kernel.R_MAX_POSITION] = min(int(risk.max_position.scaleb(szd)), 2**62)
    rules[kernel.R_TOKEN_UNIT] = token_unit
    rules[kernel.R_TOKEN_CAP] = risk.order_burst * token_unit
    rules[kernel.R_RATE] = rate.numerator
    rules[kernel.R_MIN_VALUE] = 10 * 10 ** (6 + szd)
    rules[kernel.R_THRESHOLD_NUM] = threshold.numerator
    rules[kernel.R_THRESHOLD_DEN] = threshold.denominator
    rules[kernel.R_INTERVAL] = arrays.interval_ms
    rules[kernel.R_LEVERAGE] = LEVERAGE
    rules[kernel.R_ROLLING] = 1 if grid.mode is GridMode.ROLLING else 0
    rules[kernel.R_REPAIR_EVERY] = REPAIR_EVERY
    limits = np.zeros(kernel.LIMITS_SIZE, dtype=np.float64)
    limits[kernel.L_MAKER_FEE] = float(paper.maker_fee)
    limits[kernel.L_MAX_NOTIONAL] = float(risk.max_notional)
    limits[kernel.L_MAX_DRAWDOWN] = float(risk.max_drawdown)
    limits[kernel.L_DAILY_LOSS] = float(risk.daily_loss_limit)
    limits[kernel.L_BALANCE] = float(paper.starting_balance)
    limits[kernel.L_SIZE_SCALE] = float(10**szd)
    state = np.zeros(kernel.STATE_SIZE, dtype=np.int64)
    state[kernel.S_TOKENS] = risk.order_burst * token_unit
    state[kernel.S_TOKENS_AT] = arrays.times[0]
    state[kernel.S_DAILY_DAY] = arrays.times[0] // UTC_DAY_MS
    state[kernel.S_MARK] = arrays.points[0, 0]
    state[kernel.S_ORDERS_CHANGED] = 1
    money = np.zeros(kernel.MONEY_SIZE, dtype=np.float64)
    orders = np.zeros((kernel.ORDER_SLOTS_PER_LEVEL * (2 * n + 1), 6), dtype=np.int64)
    fills = np.zeros((max(_FILLS_START, 2 * kernel.POINTS * orders.shape[0]), 7), dtype=np.int64)
    grid_prices = np.zeros(2 * n + 1, dtype=np.int64)
    grid_sizes = np.zeros(2 * n + 1, dtype=np.int64)
    scratch = np.zeros((2 * n + 1, 5), dtype=np.int64)
    equity = np.zeros(count, dtype=np.float64)
    positions = np.zeros(count, dtype=np.int64)
    halted = np.zeros(count, dtype=np.int8)
    rates = _rates_per_candle(arrays, funding)
    meta = AssetMeta(bot.coin, 0, szd)
    center: Decimal | None = None
    while True:
        code = kernel.run(
            arrays.points, arrays.lows, arrays.highs, arrays.budgets, arrays.times,
            arrays.closes, rates,
            grid_prices, grid_sizes, orders, state, money, rules, limits,
            fills, equity, positions, halted, scratch,
        )  # fmt: skip
        if code == kernel.DONE:
            break
        if code == kernel.FILLS_FULL:
            fills = np.concatenate([fills, np.zeros_like(fills)])
        elif code == kernel.NEED_GRID:
            k = int(state[kernel.S_CANDLE])
            close_ms = int(arrays.times[k]) + 3 * arrays.interval_ms // kernel.POINTS
            mark = Decimal(int(state[kernel.S_MARK])).scaleb(-6)
            keep = center if state[kernel.S_KEEP_CENTER] == 1 else None
            try:
                snapshot = _grid(bot, meta, keep, mark, close_ms)
            except GridError as exc:
                return Bailed(f"no grid at {mark}: {exc}")
            center = snapshot.center
            grid_prices[:] = [int(p.scaleb(6)) for p in snapshot.prices]
            grid_sizes[:] = [int(s.scaleb(szd)) for s in snapshot.sizes]
        else:
            return Bailed(_BAIL_REASONS.get(int(state[kernel.S_BAIL]), "the kernel gave up"))
    used = fills[: state[kernel.S_FILLS], :4].copy()
    return FastRun(
        fills=used,
        equity=equity,
        positions=positions,
        halted=halted,
        halts=int(state[kernel.S_HALTS]),
        realized=float(money[kernel.M_REALIZED]),
        fees=float(money[kernel.M_FEES]),
        funding=None if funding is None else _funding(arrays, funding, positions),
        avg_entry=float(money[kernel.M_AVG_ENTRY]),
        sz_decimals=szd,
    )


def _grid(
    bot: BotSettings, meta: AssetMeta, center: Decimal | None, mark: Decimal, now_ms: int
) -> GridSnapshot:
    """``GridBuilder._rebuild``: around the journaled center if the mark is inside that grid,
    else around the mark."""
    snapshot = None
    if center is not None:
        snapshot = calculate_grid(
            coin=bot.coin, mid=center, settings=bot.grid, meta=meta, now_ms=now_ms
        )
    if snapshot is None or snapshot.is_outside(mark, bot.grid.recenter_threshold_pct):
        snapshot = calculate_grid(
            coin=bot.coin, mid=mark, settings=bot.grid, meta=meta, now_ms=now_ms
        )
    return snapshot


def _hour_rates(funding: Sequence[FundingRate] | None) -> dict[int, Decimal]:
    return {} if funding is None else {r.time_ms // HOUR_MS: r.rate for r in funding}


def _hours(start_ms: int, end_ms: int) -> range:
    """The hour boundaries in (start, end], as the replay pays them."""
    return range(start_ms // HOUR_MS + 1, end_ms // HOUR_MS + 1)


def _rates_per_candle(arrays: CandleArrays, funding: Sequence[FundingRate] | None) -> np.ndarray:
    """The rates paid at each candle's close (summed: a candle longer than an hour)."""
    rates = np.zeros(arrays.points.shape[0], dtype=np.float64)
    by_hour = _hour_rates(funding)
    if not by_hour:
        return rates
    interval = arrays.interval_ms
    for k, start in enumerate(arrays.times.tolist()):
        for hour in _hours(start, start + interval):
            rate = by_hour.get(hour)
            if rate is not None:
                rates[k] += float(rate)
    return rates


def _funding(
    arrays: CandleArrays, funding: Sequence[FundingRate], positions: np.ndarray
) -> Decimal:
    """Funding received, exactly as the replay books it: −position × close × rate at each hour
    boundary where a position is held."""
    by_hour = _hour_rates(funding)
    total = Decimal(0)
    interval = arrays.interval_ms
    for k in np.flatnonzero(positions).tolist():
        start = int(arrays.times[k])
        for hour in _hours(start, start + interval):
            rate = by_hour.get(hour)
            if rate is not None:
                position = Decimal(int(positions[k])).scaleb(-arrays.sz_decimals)
                total += -position * arrays.candles[k].close * rate
    return total
