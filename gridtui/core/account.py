"""The account as a whole: its value, the margin its positions hold, and how far each position
is from liquidation. What a trader reads on any exchange's account page, and what
``min_liquidation_distance_pct`` guards.

Liquidation follows Hyperliquid's rule: a position is liquidated when the margin behind it falls
to the maintenance margin, which is half the initial margin at the coin's maximum leverage
(``maintenance_margin``). The estimate of where that happens is the venue's own formula
(``liquidation_price``); the live venue reports its figure, the paper venue computes it so.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import attrs

ZERO = Decimal(0)


@attrs.frozen(slots=True)
class PositionRisk:
    """One open position as the account sees it."""

    coin: str
    size: Decimal
    """Signed: short < 0."""
    entry_price: Decimal
    mark: Decimal
    """The price it is valued at."""
    leverage: int
    cross: bool
    margin_used: Decimal
    """The initial margin it holds: its value at the mark / leverage."""
    liquidation_price: Decimal | None
    """None: no price liquidates it (the account's margin covers any move)."""
    funding_since_open: Decimal | None
    """USD the position paid in funding since it was opened (negative: received); None: not
    known (the paper venue charges none; a venue answer without it), never a silent zero."""


@attrs.frozen(slots=True)
class AccountSummary:
    """The whole account at one instant."""

    account_value: Decimal
    """Cash plus every position's unrealized PnL."""
    margin_used: Decimal
    withdrawable: Decimal
    maintenance_margin: Decimal
    """What cross positions must keep: below it, they are liquidated."""
    positions: tuple[PositionRisk, ...]
    read_at_ms: int
    cross_value: Decimal | None = None
    """What backs the cross positions: the account value less isolated margin (the venue's
    crossMarginSummary); None: all of it (the paper venue margins everything as cross)."""

    @property
    def cross_backing(self) -> Decimal:
        return self.account_value if self.cross_value is None else self.cross_value

    def position(self, coin: str) -> PositionRisk | None:
        return next((p for p in self.positions if p.coin == coin), None)


def maintenance_margin(size: Decimal, price: Decimal, max_leverage: int) -> Decimal:
    """Half the initial margin at the coin's maximum leverage."""
    return abs(size) * price / (2 * max_leverage)


def liquidation_price(
    price: Decimal, size: Decimal, margin_available: Decimal, max_leverage: int
) -> Decimal | None:
    """Where a position of ``size`` at ``price`` is liquidated, given the margin it has beyond
    its maintenance (cross: the account value less every cross maintenance margin; isolated:
    the position's own margin less its maintenance):
    price − side × margin_available / |size| / (1 − side / maintenance leverage). None for no
    position, or when no positive price liquidates it (a long whose margin covers a fall to 0);
    ``price`` itself when no margin is left above the maintenance (it is being liquidated).
    """
    if size == 0:
        return None
    if margin_available <= 0:
        return price
    side = 1 if size > 0 else -1
    maintenance_leverage = 2 * max_leverage
    liquidation = price - side * margin_available / abs(size) / (
        1 - Decimal(side) / maintenance_leverage
    )
    return liquidation if liquidation > 0 else None


def distance_pct(price: Decimal, liquidation: Decimal | None) -> Decimal | None:
    """How far ``liquidation`` is from ``price``, in percent of it; None when nothing
    liquidates."""
    if liquidation is None or price <= 0:
        return None
    return abs(price - liquidation) / price * 100


@attrs.frozen(slots=True)
class Exposure:
    """A position as it would stand once some orders filled: where the price is then (the
    farthest of their prices) and where that position is liquidated."""

    size: Decimal
    price: Decimal
    liquidation_price: Decimal | None

    @property
    def distance_pct(self) -> Decimal | None:
        return distance_pct(self.price, self.liquidation_price)


def exposure_after(
    account: AccountSummary,
    *,
    coin: str,
    position: Decimal,
    avg_entry: Decimal,
    mark: Decimal,
    fills: Sequence[tuple[Decimal, Decimal]],
    max_leverage: int,
    leverage: int | None,
    cross: bool,
) -> Exposure:
    """The coin's position once ``fills`` (signed size, price; all one side) are done, the
    price having moved to the farthest of them, and its liquidation price then.

    Cross: what backs cross positions in ``account`` (a reading up to a few seconds old), moved
    to that price by the coin's position as the reading saw it, by the fills journaled since
    (``position`` now, taken at ``mark``) and by ``fills``; less the other coins' maintenance
    (the reading's, without this coin's) and this coin's at its new size and price. Isolated:
    the position's own margin at its leverage plus its PnL there, less its maintenance."""
    size = position + sum((q for q, _ in fills), ZERO)
    buying = sum((q for q, _ in fills), ZERO) > 0
    prices = [p for _, p in fills] or [mark]
    price = min(prices) if buying else max(prices)
    maintenance = maintenance_margin(size, price, max_leverage)
    held = account.position(coin)
    if cross:
        seen, seen_at = (held.size, held.mark) if held is not None else (ZERO, mark)
        value = account.cross_backing + seen * (price - seen_at)
        value += (position - seen) * (price - mark)
        value += sum((q * (price - p) for q, p in fills), ZERO)
        others = account.maintenance_margin - maintenance_margin(seen, seen_at, max_leverage)
        available = value - max(others, ZERO) - maintenance
    else:
        cost = position * avg_entry + sum((q * p for q, p in fills), ZERO)
        entry = cost / size if size else price
        chosen = leverage or (held.leverage if held is not None else max_leverage)
        margin = abs(size) * entry / chosen
        available = margin + size * (price - entry) - maintenance
    return Exposure(size, price, liquidation_price(price, size, available, max_leverage))
