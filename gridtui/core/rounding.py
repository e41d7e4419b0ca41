"""Hyperliquid's price and size rules (DESIGN §5), in one place.

A perp price is valid when it is an integer, or when it has at most 5 significant figures and
at most ``6 - szDecimals`` decimals (``8 - szDecimals`` for spot). A size is valid with at most
``szDecimals`` decimals. Every order must be worth at least $10. The exchange rejects anything
else, so the engine rounds before it sends rather than learning the rules from rejections.
"""

from __future__ import annotations

import enum
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

MAX_SIGNIFICANT_FIGURES = 5
PERP_MAX_DECIMALS = 6
SPOT_MAX_DECIMALS = 8
MIN_ORDER_VALUE = Decimal(10)
_TICKS = tuple(Decimal(1).scaleb(-places) for places in range(SPOT_MAX_DECIMALS + 1))
"""The tick at each number of decimals a price may have with a size precision of 0 or more
(0 up to spot's 8), made once."""


class Rounding(enum.Enum):
    NEAREST = ROUND_HALF_EVEN
    DOWN = ROUND_FLOOR
    UP = ROUND_CEILING


def max_price_decimals(sz_decimals: int, *, is_spot: bool = False) -> int:
    base = SPOT_MAX_DECIMALS if is_spot else PERP_MAX_DECIMALS
    return max(base - sz_decimals, 0)


def _plain(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent form (64000, not 6.4E+4)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def _decimals_for(price: Decimal, sz_decimals: int, is_spot: bool) -> int:
    """How many decimals a price of this magnitude may carry."""
    integer_digits = price.adjusted() + 1  # 64000 -> 5, 0.0123 -> -1
    by_sig_figs = MAX_SIGNIFICANT_FIGURES - integer_digits
    return max(min(by_sig_figs, max_price_decimals(sz_decimals, is_spot=is_spot)), 0)


def round_price(
    price: Decimal,
    sz_decimals: int,
    rounding: Rounding = Rounding.NEAREST,
    *,
    is_spot: bool = False,
) -> Decimal:
    """The valid price closest to ``price`` in the given direction.

    Prices with 5 or more integer digits become integers (always valid). A price that keeps its
    number of digits has at most ``5 - digits`` decimals, so at most 5 significant figures. One
    that carries into a new digit (99999.5 -> 100000, 0.0999996 -> 0.1) is a power of ten:
    valid too, so one pass is enough.
    """
    if price <= 0:
        raise ValueError(f"price must be positive, got {price}")
    places = _decimals_for(price, sz_decimals, is_spot)
    tick = _TICKS[places] if places < len(_TICKS) else Decimal(1).scaleb(-places)
    rounded = price.quantize(tick, rounding=rounding.value)
    if rounded <= 0:
        # A price below the smallest representable tick: the smallest valid price is one tick.
        rounded = tick
    return _plain(rounded)


def is_valid_price(price: Decimal, sz_decimals: int, *, is_spot: bool = False) -> bool:
    if not price.is_finite() or price <= 0:
        return False
    if price == price.to_integral_value():
        return True
    plain = price.normalize()
    decimals = -plain.as_tuple().exponent
    if decimals > max_price_decimals(sz_decimals, is_spot=is_spot):
        return False
    significant = len(plain.as_tuple().digits)
    return significant <= MAX_SIGNIFICANT_FIGURES


def round_size(size: Decimal, sz_decimals: int, rounding: Rounding = Rounding.DOWN) -> Decimal:
    """Sizes are rounded down by default: never send more than was asked for."""
    if size < 0:
        raise ValueError(f"size must not be negative, got {size}")
    return _plain(size.quantize(Decimal(1).scaleb(-sz_decimals), rounding=rounding.value))


def is_valid_size(size: Decimal, sz_decimals: int) -> bool:
    if not size.is_finite() or size <= 0:
        return False
    return size == size.quantize(Decimal(1).scaleb(-sz_decimals), rounding=ROUND_FLOOR)


def meets_min_value(price: Decimal, size: Decimal) -> bool:
    return price * size >= MIN_ORDER_VALUE


def min_size_for_value(price: Decimal, sz_decimals: int) -> Decimal:
    """The smallest valid size worth at least $10 at ``price``."""
    return round_size(MIN_ORDER_VALUE / price, sz_decimals, Rounding.UP)
