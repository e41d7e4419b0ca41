"""Grid level generation: pure functions from (mid, settings, market rules) to a ``GridSnapshot``.

Nothing here reads a clock or talks to anything, so the same inputs always give the same grid:
a backtest, a restart and a unit test all see exactly what the live bot would place.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Context, Decimal
from itertools import pairwise

from gridtui.config.schema import GridMode, GridSettings, Spacing
from gridtui.core.rounding import (
    MIN_ORDER_VALUE,
    Rounding,
    meets_min_value,
    round_price,
    round_size,
)
from gridtui.core.types import AssetMeta
from gridtui.strategy.grid_snapshot import GridSnapshot

ONE = Decimal(1)
HUNDRED = Decimal(100)

# Raw level prices come from divisions and powers carried to 28 digits; a level that should sit
# exactly on a tick can come out a hair above it and then be rounded UP a whole tick. Trimming to 20
# significant digits first removes that noise while keeping far more precision than any tick.
_TRIM = Context(prec=20, rounding=ROUND_HALF_EVEN)


class GridError(ValueError):
    """The settings cannot produce a valid grid for this coin at this price."""


def effective_spacing_pct(settings: GridSettings, volatility_pct: Decimal | None) -> Decimal:
    """The configured spacing, widened to ``volatility_multiplier × volatility_pct`` when the grid
    is volatility-scaled, so levels are not filled back and forth by noise. Until the strategy has
    enough samples (``volatility_pct`` is None) the configured spacing applies."""
    if settings.volatility_scaled and volatility_pct is not None:
        return max(settings.spacing_pct, settings.volatility_multiplier * volatility_pct)
    return settings.spacing_pct


def calculate_grid(
    *,
    coin: str,
    mid: Decimal,
    settings: GridSettings,
    meta: AssetMeta,
    now_ms: int,
    volatility_pct: Decimal | None = None,
    trend: Decimal = Decimal(0),
) -> GridSnapshot:
    """The desired grid around ``mid``.

    Rolling mode centers on the mid, shifted by ``trend × trend_bias`` spacings (``trend`` is
    clipped to [-1, 1]) so the grid leans into a trend. Bounded mode ignores mid, trend and
    volatility: its levels span ``lower..upper`` exactly and never move.

    Prices follow Hyperliquid's rules: levels below the center round DOWN and levels above round UP
    (rounding only ever widens the grid), the center rounds to NEAREST. Sizes grow by
    ``size_scaling_pct`` per level of distance, round DOWN to the lot, and are then raised to the
    smallest lot multiple worth $10 at the level's price (rounded UP to the lot), because the
    exchange rejects smaller orders: near a $10 order value the configured size is a floor.
    """
    n = settings.levels
    _check_inputs(coin, mid, settings, n)
    if settings.mode is GridMode.BOUNDED:
        center, spacing_pct = _bounded_center_and_spacing(coin, settings, n)
    else:
        spacing_pct = effective_spacing_pct(settings, volatility_pct)
        lean = max(-ONE, min(ONE, Decimal(trend)))
        center = mid * (1 + lean * settings.trend_bias * spacing_pct / HUNDRED)

    raw = [_raw_price(center, index, spacing_pct, settings.spacing) for index in range(-n, n + 1)]
    if raw[0] <= 0:
        raise GridError(
            f"{coin}: {n} levels of {spacing_pct}% below {center:.6g} reach zero; "
            f"use fewer levels or a smaller spacing_pct"
        )
    prices = tuple(
        round_price(_TRIM.plus(price), meta.sz_decimals, _direction(index))
        for index, price in zip(range(-n, n + 1), raw, strict=True)
    )
    _check_increasing(coin, prices, spacing_pct, meta.sz_decimals)
    sizes = tuple(
        _level_size(settings, index, price, meta.sz_decimals)
        for index, price in zip(range(-n, n + 1), prices, strict=True)
    )
    return GridSnapshot(
        coin=coin,
        mid=mid,
        center=prices[n],
        spacing_pct=spacing_pct,
        prices=prices,
        sizes=sizes,
        created_ms=now_ms,
        levels_per_side=n,
    )


def _check_inputs(coin: str, mid: Decimal, settings: GridSettings, n: int) -> None:
    if n < 1:
        raise GridError(f"{coin}: a grid needs at least 1 level per side, got {n}")
    if mid <= 0:
        raise GridError(f"{coin}: cannot build a grid around a mid of {mid}")
    if settings.size <= 0:
        raise GridError(f"{coin}: order size must be positive, got {settings.size}")
    if settings.mode is GridMode.ROLLING and settings.spacing_pct <= 0:
        raise GridError(f"{coin}: spacing_pct must be positive, got {settings.spacing_pct}")


def _bounded_center_and_spacing(
    coin: str, settings: GridSettings, n: int
) -> tuple[Decimal, Decimal]:
    """Center and spacing that put level -n on ``lower`` and level +n on ``upper``.

    Arithmetic grids center on the arithmetic middle; geometric grids on the geometric middle
    (sqrt(lower × upper)), the only center from which equal ratios reach both bounds.
    """
    lower, upper = settings.lower, settings.upper
    if lower is None or upper is None or not 0 < lower < upper:
        raise GridError(
            f"{coin}: bounded mode needs 0 < lower < upper, got lower={lower} upper={upper}"
        )
    if settings.spacing is Spacing.GEOMETRIC:
        center = (lower * upper).sqrt()
        ratio = (upper / lower) ** (ONE / (2 * n))
        return center, (ratio - 1) * HUNDRED
    center = (lower + upper) / 2
    return center, (upper - center) / center / n * HUNDRED


def _raw_price(center: Decimal, index: int, spacing_pct: Decimal, spacing: Spacing) -> Decimal:
    step = spacing_pct / HUNDRED
    if spacing is Spacing.GEOMETRIC:
        return center * (1 + step) ** index
    return center * (1 + index * step)


def _direction(index: int) -> Rounding:
    if index < 0:
        return Rounding.DOWN
    if index > 0:
        return Rounding.UP
    return Rounding.NEAREST


def _check_increasing(
    coin: str, prices: tuple[Decimal, ...], spacing_pct: Decimal, sz_decimals: int
) -> None:
    for lower, upper in pairwise(prices):
        if not lower < upper:
            minimum = _min_spacing_pct(lower, sz_decimals)
            raise GridError(
                f"{coin}: grid levels collapse to the same price {lower} after rounding: spacing "
                f"{spacing_pct:.6g}% is below one price tick there; the minimum spacing is "
                f"{minimum}%"
            )


def _min_spacing_pct(price: Decimal, sz_decimals: int) -> Decimal:
    """One price tick at ``price``, in percent, rounded up to 2 significant figures.

    Mirrors the rule in core.rounding (5 significant figures, at most 6 - szDecimals decimals,
    integers always valid); used only to tell the user what spacing would work.
    """
    integer_digits = price.adjusted() + 1
    decimals = max(min(5 - integer_digits, 6 - sz_decimals), 0)
    pct = Decimal(1).scaleb(-decimals) / price * HUNDRED
    return pct.quantize(Decimal(1).scaleb(pct.adjusted() - 1), rounding=ROUND_CEILING)


def configured_size(settings: GridSettings, index: int, sz_decimals: int) -> Decimal:
    """Level ``index``'s size before the $10 floor: ``size`` grown by ``size_scaling_pct`` per
    level of distance, rounded down to the lot (the sweep evaluator's grids start from it)."""
    distance = abs(index)
    factor = ONE if distance == 0 else 1 + settings.size_scaling_pct / HUNDRED * (distance - 1)
    return round_size(settings.size * factor, sz_decimals, Rounding.DOWN)


def _level_size(settings: GridSettings, index: int, price: Decimal, sz_decimals: int) -> Decimal:
    size = configured_size(settings, index, sz_decimals)
    if not meets_min_value(price, size):
        size = round_size(MIN_ORDER_VALUE / price, sz_decimals, Rounding.UP)
    return size
