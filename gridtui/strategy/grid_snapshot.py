"""The desired grid at one moment, as a frozen value.

The calculator produces it and everybody else only reads it: the GridBuilder diffs it against what
rests on the exchange, the TUI draws it as a ladder. Keeping prices and sizes as two tuples indexed
from ``-levels_per_side`` to ``+levels_per_side`` lets a level be addressed by its distance from the
center, which is what fill replacement ("one level away") needs.
"""

from __future__ import annotations

from bisect import bisect_left
from decimal import Decimal
from itertools import pairwise

import attrs

from gridtui.config.schema import Direction
from gridtui.core.types import Level, Side


@attrs.frozen(slots=True)
class GridSnapshot:
    """Prices and sizes for indexes ``-n..+n`` (ascending); index 0 is the center price."""

    coin: str
    mid: Decimal
    center: Decimal
    spacing_pct: Decimal
    prices: tuple[Decimal, ...]
    sizes: tuple[Decimal, ...]
    created_ms: int
    levels_per_side: int

    def __attrs_post_init__(self) -> None:
        # A malformed snapshot would place orders at the wrong prices, so refuse to build one.
        expected = 2 * self.levels_per_side + 1
        if self.levels_per_side < 1:
            raise ValueError(
                f"{self.coin}: levels_per_side must be ≥ 1, got {self.levels_per_side}"
            )
        if len(self.prices) != expected or len(self.sizes) != expected:
            raise ValueError(
                f"{self.coin}: a grid of {self.levels_per_side} levels per side needs {expected} "
                f"prices and sizes, got {len(self.prices)} and {len(self.sizes)}"
            )
        for lower, upper in pairwise(self.prices):
            if not lower < upper:
                raise ValueError(f"{self.coin}: grid prices must be strictly increasing")

    @property
    def indexes(self) -> range:
        return range(-self.levels_per_side, self.levels_per_side + 1)

    @property
    def lowest(self) -> Decimal:
        return self.prices[0]

    @property
    def highest(self) -> Decimal:
        return self.prices[-1]

    def _position(self, index: int) -> int:
        if index not in self.indexes:
            raise IndexError(
                f"{self.coin}: level {index} is outside the grid "
                f"(-{self.levels_per_side}..{self.levels_per_side})"
            )
        return index + self.levels_per_side

    def price_of(self, index: int) -> Decimal:
        return self.prices[self._position(index)]

    def size_of(self, index: int) -> Decimal:
        return self.sizes[self._position(index)]

    def initial_levels(
        self,
        gap_index: int = 0,
        *,
        direction: Direction = Direction.NEUTRAL,
        inventory: Decimal = Decimal(0),
    ) -> tuple[Level, ...]:
        """The grid with one empty slot at ``gap_index``: buys below it, sells above it.

        The gap is where the price currently is; leaving it empty means no order is placed
        through the market and each fill has a free slot next to it for its replacement. A long
        grid sells only what it holds: the sells nearest the gap whose sizes ``inventory``
        covers, each the take-profit of a buy it made; a short grid mirrors it.
        """
        self._position(gap_index)
        levels: list[Level] = []
        for index in self.indexes:
            if index == gap_index:
                continue
            side = Side.BUY if index < gap_index else Side.SELL
            levels.append(Level(index, self.price_of(index), side, self.size_of(index)))
        if direction is Direction.NEUTRAL:
            return tuple(levels)
        limited = Side.SELL if direction is Direction.LONG else Side.BUY
        cover = max(inventory if direction is Direction.LONG else -inventory, Decimal(0))
        kept = [lvl for lvl in levels if lvl.side is not limited]
        # Outward from the gap: the sells (buys) nearest the price first.
        for level in sorted(
            (lvl for lvl in levels if lvl.side is limited),
            key=lambda lvl: abs(lvl.index - gap_index),
        ):
            if level.size > cover:
                break
            cover -= level.size
            kept.append(level)
        return tuple(sorted(kept, key=lambda lvl: lvl.index))

    def nearest_index(self, price: Decimal) -> int:
        """The index whose price is closest to ``price``; on an exact tie, the lower index."""
        above = bisect_left(self.prices, price)
        if above == 0:
            return -self.levels_per_side
        if above == len(self.prices):
            return self.levels_per_side
        below = above - 1
        if price - self.prices[below] <= self.prices[above] - price:
            return below - self.levels_per_side
        return above - self.levels_per_side

    def is_outside(self, price: Decimal, threshold_pct: Decimal) -> bool:
        """True when ``price`` lies beyond the outermost level by more than ``threshold_pct``
        percent of ``price`` — the trigger for re-centering a rolling grid. The threshold keeps a
        price that merely touches the edge from rebuilding the grid back and forth."""
        margin = price * threshold_pct / 100
        return price - self.highest > margin or self.lowest - price > margin
