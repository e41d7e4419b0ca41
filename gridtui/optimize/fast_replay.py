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
from gridtui.config.schema import (
    AppConfig,
    BotSettings,
    Direction,
    GridMode,
    GridSettings,
    Spacing,
)
from gridtui.core.rounding import max_price_decimals, round_price, round_size
from gridtui.core.types import AssetMeta, Side
from gridtui.exchanges.sim import CandleSeries, FundingRate
from gridtui.exchanges.sim.exchange import DEFAULT_NOTIONAL_PER_TICK
from gridtui.exchanges.sim.vocabulary import FillModel
from gridtui.execution.grid_builder import REPAIR_EVERY
from gridtui.optimize import grid_kernel as kernel
from gridtui.strategy.grid_calculator import GridError, calculate_grid, configured_size
from gridtui.strategy.grid_snapshot import GridSnapshot

LEVERAGE = AssetMeta("", 0, 0).max_leverage
"""The paper venue's leverage for every coin (its margin check divides by it)."""
_MAX_DENOMINATOR = 10_000
"""Thresholds and order rates with more decimals than this are left to the engine (the kernel's
integer comparisons would overflow)."""
_FILLS_START = 4096
"""Fill rows to start with, or one for every other candle if more: a busy grid fills about
that often, and growing the buffer copies it."""
_MAX_STEP_DECIMALS = 8
"""A spacing with more decimals than this (of spacing_pct / 100) gets its grids from Python."""


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
    paper venue's ``CandleReplay`` rounds them: ``Candle.path`` orders the points,
    ``round_price`` and ``round_size`` round them (in numpy where their rules are plain integer
    arithmetic, ``round_millionths``; by the functions themselves where not)."""
    count = len(candles)
    prices = [
        price for c in candles for price in (c.open, c.high, c.low, c.close)
    ]  # candle by candle: open, high, low, close
    rounded = _rounded(prices, sz_decimals).reshape(count, 4)
    o, h, low, c = rounded[:, 0], rounded[:, 1], rounded[:, 2], rounded[:, 3]
    high_first = np.fromiter(
        (candle.path(options.path)[1] == candle.high for candle in candles), np.bool_, count
    )
    points = np.stack([o, np.where(high_first, h, low), np.where(high_first, low, h), c], axis=1)
    budgets = _budgets(candles, points, sz_decimals)
    times = np.fromiter((c.time_ms for c in candles), dtype=np.int64, count=count)
    close_floats = np.fromiter((float(c.close) for c in candles), dtype=np.float64, count=count)
    return CandleArrays(
        points, low, h, budgets, times, close_floats, candles.interval_ms, sz_decimals, candles
    )


def _rounded(prices: list[Decimal], sz_decimals: int) -> np.ndarray:
    """``round_price`` of each price, in millionths. Each distinct price object is rounded
    once (equal prices read from one file share one object; hashing Decimals is slow)."""
    identities = np.fromiter(map(id, prices), dtype=np.int64, count=len(prices))
    _, first, where = np.unique(identities, return_index=True, return_inverse=True)
    distinct = [prices[i] for i in first.tolist()]
    plain = np.fromiter(
        (p.as_tuple().exponent >= -6 and 0 < p < _PLAIN_LIMIT for p in distinct),
        dtype=np.bool_,
        count=len(distinct),
    )
    units = np.fromiter(
        (int(p.scaleb(6)) if ok else 1 for p, ok in zip(distinct, plain.tolist(), strict=True)),
        dtype=np.int64,
        count=len(distinct),
    )
    out = np.where(plain, round_millionths(units, sz_decimals), 0)
    for i in np.flatnonzero(out <= 0).tolist():  # more decimals than millionths, or too big
        out[i] = int(round_price(distinct[i], sz_decimals).scaleb(6))
    return out[where]


_PLAIN_LIMIT = Decimal(10) ** 9
"""Prices and volumes below this are exact in int64 at 10^9 units, with room to round."""


def round_millionths(units: np.ndarray, sz_decimals: int) -> np.ndarray:
    """``round_price`` (to the nearest, half to even) of positive prices given in millionths:
    at most 5 significant figures and ``6 − sz_decimals`` decimals, integers always valid
    (a rounding that carries into a new digit gives a power of ten: valid too)."""
    digits = np.zeros_like(units)  # of the integer part, + 6
    for power in range(19):
        digits += units >= 10**power
    decimals = np.clip(np.minimum(5 - (digits - 6), max_price_decimals(sz_decimals)), 0, 6)
    tick = 10 ** (6 - decimals)
    whole, rest = np.divmod(units, tick)
    up = (2 * rest > tick) | ((2 * rest == tick) & (whole % 2 == 1))
    out = (whole + up) * tick
    return np.where(out <= 0, tick, out)


def _budgets(candles: CandleSeries, points: np.ndarray, sz_decimals: int) -> np.ndarray:
    """The lots that trade at each point: a quarter of the candle's volume rounded down to the
    lot, or without volume the venue's notional at the point's mid (``round_size``)."""
    count = len(candles)
    lots = Decimal(1).scaleb(sz_decimals)
    volumes = [c.volume for c in candles]
    # round_size(volume / 4) in lots is volume × 10^9 // (4 × 10^(9 − sz_decimals)), exactly,
    # for a volume with at most 9 decimals; others go through round_size itself.
    plain = [v.as_tuple().exponent >= -9 and v < _PLAIN_LIMIT for v in volumes]
    nanos = np.fromiter(
        (int(v.scaleb(9)) if ok else 0 for v, ok in zip(volumes, plain, strict=True)),
        dtype=np.int64,
        count=count,
    )
    quarter = nanos // (kernel.POINTS * 10 ** (9 - sz_decimals))
    for k in np.flatnonzero(~np.array(plain, dtype=np.bool_)).tolist():
        quarter[k] = int(round_size(volumes[k] / kernel.POINTS, sz_decimals) * lots)
    budgets = np.repeat(quarter[:, None], kernel.POINTS, axis=1)
    quiet = np.flatnonzero(quarter == 0)
    no_volume = np.array([k for k in quiet.tolist() if volumes[k] == 0], dtype=np.int64)
    # As the venue: the configured notional at each mid, round_size(notional / mid) in lots,
    # which is notional × 10^(6 + sz_decimals) // mid in millionths, exactly.
    notional = int(DEFAULT_NOTIONAL_PER_TICK.scaleb(6 + sz_decimals))
    budgets[no_volume] = notional // points[no_volume]
    return budgets


def not_modelled(bot: BotSettings, options: ReplayOptions) -> str | None:
    """Why the kernel cannot promise the engine's fills for ``bot`` (None: it can)."""
    grid, risk = bot.grid, bot.risk
    if risk.leverage is not None:
        return "a chosen leverage changes the venue's margin checks"
    if grid.direction is not Direction.NEUTRAL:
        return f"a {grid.direction.value} grid sells (buys) only what it holds"
    if grid.volatility_scaled:
        return "volatility_scaled grids read every mid (the engine replay scores them)"
    if grid.trend_bias != 0 and grid.mode is GridMode.ROLLING:
        return "a trend-leaning grid reads every mid (the engine replay scores it)"
    if Fraction(grid.recenter_threshold_pct).denominator > _MAX_DENOMINATOR:
        return "recenter_threshold_pct has more than 4 decimals"
    if Fraction(risk.max_orders_per_second).denominator > _MAX_DENOMINATOR:
        return "max_orders_per_second has more than 4 decimals"
    if (risk.stop_loss_price, risk.take_profit_price, risk.stop_loss_pnl) != (None, None, None):
        return "exits (stop-loss, take-profit) close the position through the venue's book"
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
    max_drawdown: float
    """The kernel's running ``report._max_drawdown`` of the equity points (the same floats)."""
    sz_decimals: int

    def fill_tuples(self) -> list[tuple[int, Side, Decimal, Decimal]]:
        """(time, side, price, size) of each fill, in the venue's order."""
        return [
            (
                int(t),
                Side.BUY if s == 1 else Side.SELL,
                _price(int(p)).normalize(),
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
            max_drawdown=Decimal(repr(self.max_drawdown)),
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


def kernel_rules(
    bot: BotSettings, sz_decimals: int, interval_ms: int, options: ReplayOptions
) -> np.ndarray:
    """The kernel's integer settings for ``bot`` (``grid_kernel.R_*``)."""
    grid, risk = bot.grid, bot.risk
    szd = sz_decimals
    n = grid.levels
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
    rules[kernel.R_INTERVAL] = interval_ms
    rules[kernel.R_LEVERAGE] = LEVERAGE
    rules[kernel.R_ROLLING] = 1 if grid.mode is GridMode.ROLLING else 0
    rules[kernel.R_REPAIR_EVERY] = REPAIR_EVERY
    step = grid.spacing_pct.scaleb(-2).as_tuple()
    if grid.mode is GridMode.ROLLING and grid.spacing is Spacing.ARITHMETIC and step.exponent < 0:
        digits = int("".join(map(str, step.digits)))
        if -step.exponent <= _MAX_STEP_DECIMALS and step.sign == 0 and digits > 0:
            rules[kernel.R_OWN_GRIDS] = 1
            rules[kernel.R_STEP_NUM] = digits
            rules[kernel.R_STEP_DEN] = 10**-step.exponent
    rules[kernel.R_MAX_DECIMALS] = max_price_decimals(szd)
    return rules


def level_lots(grid: GridSettings, sz_decimals: int) -> np.ndarray:
    """Each level's configured size in lots, the kernel's grids' sizes before the $10 floor."""
    n = grid.levels
    return np.array(
        [int(configured_size(grid, i, sz_decimals).scaleb(sz_decimals)) for i in range(-n, n + 1)],
        dtype=np.int64,
    )


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
    rules = kernel_rules(bot, szd, arrays.interval_ms, options)
    token_unit = int(rules[kernel.R_TOKEN_UNIT])
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
    state[kernel.S_DAILY_END] = kernel.day_end(arrays.times[0])
    state[kernel.S_REPAIR_IN] = REPAIR_EVERY
    state[kernel.S_MARK] = arrays.points[0, 0]
    state[kernel.S_ORDERS_CHANGED] = 1
    money = np.zeros(kernel.MONEY_SIZE, dtype=np.float64)
    orders = np.zeros((kernel.ORDER_SLOTS_PER_LEVEL * (2 * n + 1), 6), dtype=np.int64)
    room = max(_FILLS_START, count // 2, 2 * kernel.POINTS * orders.shape[0])
    fills = np.zeros((room, 7), dtype=np.int64)  # (untouched pages cost nothing: calloc)
    grid_prices = np.zeros(2 * n + 1, dtype=np.int64)
    grid_sizes = np.zeros(2 * n + 1, dtype=np.int64)
    lots = level_lots(grid, szd)
    scratch = np.zeros((orders.shape[0], 5), dtype=np.int64)
    equity = np.zeros(count, dtype=np.float64)
    positions = np.zeros(count, dtype=np.int64)
    halted = np.zeros(count, dtype=np.int8)
    rates = _rates_per_candle(arrays, funding)
    meta = AssetMeta(bot.coin, 0, szd)
    while True:
        code = kernel.run(
            arrays.points, arrays.lows, arrays.highs, arrays.budgets, arrays.times,
            arrays.closes, rates,
            grid_prices, grid_sizes, lots, orders, state, money, rules, limits,
            fills, equity, positions, halted, scratch,
        )  # fmt: skip
        if code == kernel.DONE:
            break
        if code == kernel.FILLS_FULL:
            fills = np.concatenate([fills, np.zeros_like(fills)])
        elif code == kernel.NEED_GRID:
            k = int(state[kernel.S_CANDLE])
            close_ms = int(arrays.times[k]) + 3 * arrays.interval_ms // kernel.POINTS
            mark = _price(int(state[kernel.S_MARK]))
            center = int(state[kernel.S_CENTER])
            keep = center > 0 and state[kernel.S_KEEP_CENTER] == 1
            try:
                snapshot = _grid(bot, meta, _price(center) if keep else None, mark, close_ms)
            except GridError as exc:
                return Bailed(f"no grid at {mark}: {exc}")
            state[kernel.S_CENTER] = int(snapshot.center.scaleb(6))
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
        max_drawdown=float(money[kernel.M_CLOSE_DRAWDOWN]),
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


def _price(units: int) -> Decimal:
    """A price in millionths, as the Decimal the engine holds."""
    return Decimal(units).scaleb(-6)


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
