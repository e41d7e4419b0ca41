"""Settings that are each well-formed but together cannot work: a grid that loses on every round
trip, an order below the venue's minimum, a size no position limit lets through.

Each rule mirrors what the engine would do at run time (the calculator's rounding, the $10 bump
of a small order, the risk engine's position gate), so check-config refuses the config instead
of the bot failing, or silently trading something else, an hour later. Only values the
field rules accepted reach here; the caller skips a bot whose grid or risk has a bad value.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

import attrs

from gridtui.config.schema import Direction, GridMode, GridSettings, RiskLimits, Spacing
from gridtui.core.rounding import (
    MIN_ORDER_VALUE,
    PERP_MAX_DECIMALS,
    Rounding,
    round_price,
    round_size,
)

HUNDRED = Decimal(100)
HYPERLIQUID_BASE_MAKER_FEE = Decimal("0.00015")
"""Hyperliquid's base-tier perp maker fee (0.015%): the reference for live venues, whose real fee
depends on the account's volume tier and is not known to check-config."""


@attrs.frozen(slots=True)
class Market:
    """What a paper market tells about prices: where the path starts and its size precision."""

    coin: str
    start_price: Decimal
    sz_decimals: int


@attrs.frozen(slots=True)
class FeeReference:
    """The maker fee a round trip pays twice, and how a message names where it comes from."""

    maker_fee: Decimal
    named: str
    """e.g. "venue.paper.maker_fee 0.00015" or "Hyperliquid's base maker fee 0.015%"."""

    @classmethod
    def paper(cls, maker_fee: Decimal) -> FeeReference:
        return cls(maker_fee, f"venue.paper.maker_fee {_plain(maker_fee)}")

    @classmethod
    def hyperliquid(cls) -> FeeReference:
        fee = _plain(HYPERLIQUID_BASE_MAKER_FEE * HUNDRED)
        return cls(HYPERLIQUID_BASE_MAKER_FEE, f"Hyperliquid's base maker fee {fee}%")


def price_tick(sz_decimals: int) -> Decimal:
    """The smallest price the rounding rules can express for a coin (6 - szDecimals decimals)."""
    return Decimal(1).scaleb(-max(PERP_MAX_DECIMALS - sz_decimals, 0))


def market_problems(here: str, market: Market) -> list[str]:
    """A start price below one tick rounds to a different price than the one written."""
    tick = price_tick(market.sz_decimals)
    if market.start_price >= tick:
        return []
    return [
        f"{here}.start_price: {_plain(market.start_price)} is below one price tick "
        f"({_plain(tick)} with sz_decimals = {market.sz_decimals}: prices carry at most "
        f"6 - sz_decimals decimals; expected a start price of at least {_plain(tick)})"
    ]


Place = Callable[[str, str], str]
"""``place("grid", "size")``: where a merged value was set (``coins.ETH.grid.size for
bots[1]``), so a message points at the line to edit, not only at the bot."""


def bot_problems(
    here: str,
    grid: GridSettings,
    risk: RiskLimits,
    market: Market | None,
    fee: FeeReference,
    place: Place,
) -> list[str]:
    """Every reason this bot's merged grid and risk settings cannot trade as written.

    ``market`` is None on a live venue: the price is unknown, so price-based rules are skipped.
    """
    problems = _spacing_problems(here, grid, market, fee, place)
    if market is not None:
        problems += _order_value_problems(grid, market, place)
    if grid.size > risk.max_position:
        problems.append(
            f"{place('grid', 'size')}: {_plain(grid.size)} is above the position limit "
            f"{_plain(risk.max_position)} ({place('risk', 'max_position')}), so no order could "
            "ever be placed (expected size <= max_position)"
        )
    problems += _initial_position_problems(grid, risk, market, place)
    stop, take = risk.stop_loss_price, risk.take_profit_price
    if stop is not None and take is not None and stop >= take:
        problems.append(
            f"{place('risk', 'stop_loss_price')}: {_plain(stop)} is not below "
            f"{place('risk', 'take_profit_price')} {_plain(take)}, so one exit would fire at "
            "once (expected stop_loss_price < take_profit_price)"
        )
    if market is not None:
        start = market.start_price
        if stop is not None and start <= stop:
            problems.append(
                f"{place('risk', 'stop_loss_price')}: {_plain(stop)} is at or above the market's "
                f"start price {_plain(start)}, so the bot would exit at once (expected a price "
                "below it)"
            )
        if take is not None and start >= take:
            problems.append(
                f"{place('risk', 'take_profit_price')}: {_plain(take)} is at or below the "
                f"market's start price {_plain(start)}, so the bot would exit at once (expected "
                "a price above it)"
            )
    return problems


def _initial_position_problems(
    grid: GridSettings, risk: RiskLimits, market: Market | None, place: Place
) -> list[str]:
    """The inventory a bot starts from must be one its grid may hold, its limits allow and an
    order can buy (the venue's $10 minimum, at the paper market's start price)."""
    initial = grid.initial_position
    wrong_side = {Direction.LONG: initial < 0, Direction.SHORT: initial > 0}
    if wrong_side.get(grid.direction, False):
        sign = "> 0" if grid.direction is Direction.LONG else "< 0"
        return [
            f"{place('grid', 'initial_position')}: {_plain(initial)} is against the "
            f"{grid.direction.value} direction ({place('grid', 'direction')}), whose inventory "
            f"never crosses zero (expected initial_position {sign}, or 0)"
        ]
    if abs(initial) > risk.max_position:
        return [
            f"{place('grid', 'initial_position')}: {_plain(initial)} is beyond the position "
            f"limit {_plain(risk.max_position)} ({place('risk', 'max_position')}; expected "
            "|initial_position| <= max_position)"
        ]
    if market is not None and initial and abs(initial) * market.start_price < MIN_ORDER_VALUE:
        return [
            f"{place('grid', 'initial_position')}: {_plain(initial)} {market.coin} is worth "
            f"{_plain(abs(initial) * market.start_price)} at the start price "
            f"{_plain(market.start_price)}, below the venue's minimum order value "
            f"{_plain(MIN_ORDER_VALUE)} (expected 0, or a position worth at least that)"
        ]
    return []


def _spacing_problems(
    here: str, grid: GridSettings, market: Market | None, fee: FeeReference, place: Place
) -> list[str]:
    problems: list[str] = []
    round_trip = 2 * fee.maker_fee * HUNDRED
    loses = (
        f"the round-trip fee of {_plain(round_trip)}% (2 × {fee.named}), so every round trip "
        "loses money"
    )
    if grid.mode is GridMode.BOUNDED:
        spacing = _bounded_spacing_pct(grid)
        if spacing is not None and fee.maker_fee > 0 and spacing <= round_trip:
            problems.append(
                f"{here}.grid: the bounded range {_plain(grid.lower)}..{_plain(grid.upper)} over "
                f"{grid.levels} levels per side spaces the levels {_pct(spacing)}% apart, at or "
                f"below {loses} (expected a wider range or fewer levels)"
            )
        return problems
    spacing = grid.spacing_pct
    if fee.maker_fee > 0 and spacing <= round_trip:
        problems.append(
            f"{place('grid', 'spacing_pct')}: {_plain(spacing)}% is at or below {loses} "
            f"(expected a spacing well above {_plain(round_trip)}%)"
        )
    if market is not None:
        tick = _tick_pct(market.start_price, market.sz_decimals)
        if spacing < tick:
            at = round_price(market.start_price, market.sz_decimals)
            problems.append(
                f"{place('grid', 'spacing_pct')}: {_plain(spacing)}% is below one price tick at "
                f"the start price {_plain(market.start_price)} ({_plain(_tick_at(at, market))} = "
                f"{_plain(tick)}%), so the levels collapse to one price "
                f"(expected at least {_plain(tick)}%)"
            )
    if grid.spacing is Spacing.ARITHMETIC and grid.levels * spacing >= HUNDRED:
        problems.append(
            f"{here}.grid: {grid.levels} levels × {_plain(spacing)}% reach "
            f"{_plain(grid.levels * spacing)}% below the center, so the lowest buy would have a "
            "price of zero or less (expected levels × spacing_pct below 100, or spacing = "
            '"geometric")'
        )
    return problems


def _order_value_problems(grid: GridSettings, market: Market, place: Place) -> list[str]:
    """The calculator raises any order worth less than $10 to the minimum size, silently; the
    lowest buy level is where an order is worth least."""
    lowest = _lowest_buy(grid, market)
    if lowest is None or lowest <= 0:
        return []
    size = round_size(grid.size, market.sz_decimals, Rounding.DOWN)
    value = size * lowest
    if value >= MIN_ORDER_VALUE:
        return []
    needed = round_size(MIN_ORDER_VALUE / lowest, market.sz_decimals, Rounding.UP)
    worth = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return [
        f"{place('grid', 'size')}: {_plain(grid.size)} {market.coin} at the lowest buy level "
        f"{_plain(lowest)} (start price {_plain(market.start_price)} on the paper venue) is worth "
        f"${worth}, below Hyperliquid's ${MIN_ORDER_VALUE} minimum order value, so the bot would "
        f"silently place a larger size (expected size >= {_plain(needed)})"
    ]


def _lowest_buy(grid: GridSettings, market: Market) -> Decimal | None:
    if grid.mode is GridMode.BOUNDED:
        return grid.lower
    step = grid.spacing_pct / HUNDRED
    if grid.spacing is Spacing.GEOMETRIC:
        raw = market.start_price / (1 + step) ** grid.levels
    else:
        raw = market.start_price * (1 - grid.levels * step)
    if raw <= 0:
        return None
    return round_price(raw, market.sz_decimals, Rounding.DOWN)


def _bounded_spacing_pct(grid: GridSettings) -> Decimal | None:
    """The spacing a bounded grid gets from its range (the calculator's formula)."""
    lower, upper, n = grid.lower, grid.upper, grid.levels
    if lower is None or upper is None or not 0 < lower < upper:
        return None
    if grid.spacing is Spacing.GEOMETRIC:
        ratio = (upper / lower) ** (Decimal(1) / (2 * n))
        return (ratio - 1) * HUNDRED
    center = (lower + upper) / 2
    return (upper - center) / center / n * HUNDRED


def _tick_at(price: Decimal, market: Market) -> Decimal:
    """One tick at ``price``: 5 significant figures, at most 6 - szDecimals decimals."""
    decimals = max(min(5 - (price.adjusted() + 1), PERP_MAX_DECIMALS - market.sz_decimals), 0)
    return Decimal(1).scaleb(-decimals)


def _tick_pct(price: Decimal, sz_decimals: int) -> Decimal:
    """One tick at ``price`` in percent, rounded up to 2 significant figures (as the calculator
    reports it)."""
    at = round_price(price, sz_decimals)
    tick = _tick_at(at, Market("", at, sz_decimals))
    pct = tick / at * HUNDRED
    return pct.quantize(Decimal(1).scaleb(pct.adjusted() - 1), rounding=ROUND_CEILING)


def _pct(value: Decimal) -> str:
    """A derived percentage to 2 significant figures."""
    return _plain(value.quantize(Decimal(1).scaleb(value.adjusted() - 1)))


def _plain(value: Decimal | None) -> str:
    """A Decimal as written by a person: 64000, 0.00015, never 6.4E+4 or 1.5E-4."""
    if value is None:
        return "none"
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")
