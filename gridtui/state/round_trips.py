"""Grid profit as a grid trader counts it: round trips.

Average-cost realized PnL is the books' figure, but a trader asks "how many times did the grid
buy low and sell one level higher, and what did that earn?". A round trip pairs a fill with an
open fill of the other side it closes at a profit: a sell closes the highest open buy below its
price (the level under it), a buy the lowest open sell above its price (shorts mirror it). A fill
with nothing to close at a profit still closes the nearest open leg of the other side, at a loss
(an exit, a trend through the grid): inventory shrinks, no round trip is counted. Only a fill
with nothing left to close opens a leg, so the open legs always add up to the position. Matching
is by price, not by level index, so it holds across re-centerings; partial fills match in part,
fees pro rata, and a leg closed in parts counts as one round trip once it is all closed. The
PnL the round trips do not explain is inventory PnL (``inventory_pnl``).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import attrs

from gridtui.core.types import ZERO, Fill, Side


@attrs.define
class _Leg:
    """An open fill, or what is left of it."""

    price: Decimal
    size: Decimal
    fee_per_unit: Decimal
    earned: bool = False
    """Some of it was closed at a profit: once all of it is closed, that is a round trip."""


@attrs.frozen(slots=True)
class RoundTripFigures:
    round_trips: int
    grid_profit: Decimal
    """Sum over round trips of (sell − buy) × size − both fees' share."""
    inventory: Decimal
    """The open legs' size, signed (+ long): the position the round trips have not closed."""

    @property
    def profit_per_round_trip(self) -> Decimal | None:
        return self.grid_profit / self.round_trips if self.round_trips else None


class RoundTrips:
    """Fed fill by fill (``add``), in the order they were journaled."""

    def __init__(self) -> None:
        self._buys: list[_Leg] = []
        self._sells: list[_Leg] = []
        self._count = 0
        self._profit = ZERO

    def add_all(self, fills: Iterable[Fill]) -> RoundTrips:
        for fill in fills:
            self.add(fill)
        return self

    def add(self, fill: Fill) -> Decimal:
        """Apply ``fill``; the grid profit of the round trips it completed (0 if none)."""
        size = fill.size
        fee_per_unit = fill.fee / size
        buy = fill.side is Side.BUY
        book = self._sells if buy else self._buys
        earned = ZERO
        while size > 0 and book:
            leg = self._closable(book, fill.price, buy)
            round_trip = leg is not None
            if leg is None:  # closes at a loss (or even): the nearest leg, no round trip
                leg = max(book, key=lambda g: g.price) if buy else min(book, key=lambda g: g.price)
            matched = min(size, leg.size)
            if round_trip:
                spread = (leg.price - fill.price) if buy else (fill.price - leg.price)
                earned += spread * matched - (leg.fee_per_unit + fee_per_unit) * matched
                leg.earned = True
            leg.size -= matched
            size -= matched
            if leg.size == 0:
                book.remove(leg)
                self._count += leg.earned  # a leg closed in parts is one round trip
        if size > 0:
            (self._buys if buy else self._sells).append(_Leg(fill.price, size, fee_per_unit))
        self._profit += earned
        return earned

    @staticmethod
    def _closable(book: list[_Leg], price: Decimal, buy: bool) -> _Leg | None:
        """A buy closes the lowest open sell above it; a sell the highest open buy below it."""
        if buy:
            above = [leg for leg in book if leg.price > price]
            return min(above, key=lambda leg: leg.price) if above else None
        below = [leg for leg in book if leg.price < price]
        return max(below, key=lambda leg: leg.price) if below else None

    def figures(self) -> RoundTripFigures:
        long = sum((leg.size for leg in self._buys), ZERO)
        short = sum((leg.size for leg in self._sells), ZERO)
        return RoundTripFigures(self._count, self._profit, long - short)


def inventory_pnl(realized: Decimal, unrealized: Decimal, grid_profit: Decimal) -> Decimal:
    """The part of the total (realized net of fees + unrealized) that round trips do not explain:
    what holding the unmatched inventory earned or lost."""
    return realized + unrealized - grid_profit
