"""Seeded synthetic price paths for the paper venue.

The generated path is a mean-reverting log price around a slowly moving anchor, plus trend regimes
(the anchor drifts up, down or not at all, switching at random) and rare jumps: enough structure to
exercise a grid bot (ranges, trends, gaps) without any market data. Everything random comes from a
64-bit SplitMix generator whose whole state is one integer, so a path's complete state fits in a
small JSON object: the venue persists it after every step and a restarted process continues the
exact same path. Floats are used only inside the path model (as in an indicator); what leaves this
module -- mids and traded volume -- is ``Decimal`` on the venue's price and size grids.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

import attrs

from gridtui.config.schema import PaperMarket
from gridtui.core.rounding import round_price, round_size

_MASK64 = (1 << 64) - 1
YEAR_S = 365.0 * 24 * 3600
_DAY_S = 86_400.0
_MAX_MOVE = math.log(1000.0)
"""The log price stays within a factor 1000 of the start price, so a mid can never round to zero."""


class SplitMix64:
    """A tiny, well-mixed PRNG (Steele, Lea & Flood) whose state is a single 64-bit integer."""

    __slots__ = ("state",)

    def __init__(self, state: int) -> None:
        self.state = state & _MASK64

    def next_u64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def uniform(self) -> float:
        """Uniform in [0, 1), 53 random bits."""
        return (self.next_u64() >> 11) * 2.0**-53

    def normal(self) -> float:
        """Standard normal by Box-Muller; no cached spare, so the state stays one integer."""
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def derive_seed(seed: int, coin: str) -> int:
    """One independent stream per (seed, coin), stable across processes and Python versions."""
    digest = hashlib.blake2b(f"{seed}:{coin}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@attrs.frozen(slots=True)
class Tick:
    """One step of a market: the mids it went through and the volume traded on each side."""

    open: Decimal
    low: Decimal
    high: Decimal
    close: Decimal
    volume: Decimal
    """Coin units that traded against each side of the book during the tick."""
    prints: bool = False
    """``low`` and ``high`` are prices that traded (a real market's trades), matched as they
    are; else they are mids, and the engine derives the traded prices with its half spread."""
    depth: Decimal | None = None
    """Size a taker can trade at the touch until the next tick; None: ``volume``."""
    heard_ms: int | None = None
    """When a real trade became known: an order placed from then on was not resting when it
    printed, so it cannot have filled against it. None: the tick is the market's own."""


@attrs.frozen(slots=True)
class MarketState:
    """Where a synthetic market stands between ticks: its mid and the touch depth left."""

    coin: str
    mid: Decimal
    bid_depth: Decimal
    """Size a taker can still sell at the synthetic best bid until the next tick."""
    ask_depth: Decimal
    """Size a taker can still buy at the synthetic best ask until the next tick."""


class PricePath(Protocol):
    """What the venue needs from a market's price source (generated or replayed)."""

    @property
    def mid(self) -> Decimal: ...

    @property
    def finished(self) -> bool: ...

    def next_tick(self, dt_sim_s: float) -> Tick: ...

    def state(self) -> dict[str, Any]: ...


@attrs.frozen(slots=True)
class PathParams:
    """Shape of the generated market. Times are simulated seconds."""

    reversion_half_life_s: float = 6 * 3600.0
    anchor_vol_ratio: float = 0.5
    """The anchor's own volatility, as a fraction of the market's."""
    regime_mean_s: float = 2 * 3600.0
    trend_strength: tuple[float, float] = (0.5, 2.0)
    """Drift over one mean regime, in units of the volatility over that time."""
    jumps_per_day: float = 0.5
    jump_size: tuple[float, float] = (0.005, 0.02)
    """Absolute log move of a jump."""
    volume_spread: float = 0.75
    """Traded notional per tick is the configured notional × U(1 − spread, 1 + spread)."""


def tick_volume(notional: Decimal, mid: Decimal, sz_decimals: int) -> Decimal:
    """Coin units worth ``notional`` at ``mid``, on the size grid."""
    return round_size(notional / mid, sz_decimals)


class GeneratedPath:
    """Mean reversion to a drifting anchor + trend regimes + jumps, deterministic for a seed."""

    def __init__(
        self,
        market: PaperMarket,
        seed: int,
        notional_per_tick: Decimal,
        params: PathParams | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        self._market = market
        self._notional = notional_per_tick
        self._params = params if params is not None else PathParams()
        self._origin = math.log(float(market.start_price))
        if state is None:
            self._x = self._origin
            self._anchor = self._origin
            self._regime = 0
            self._drift = 0.0
            self._step = 0
            self._rng = SplitMix64(derive_seed(seed, market.coin))
        else:
            self._x = float(state["x"])
            self._anchor = float(state["anchor"])
            self._regime = int(state["regime"])
            self._drift = float(state["drift"])
            self._step = int(state["step"])
            self._rng = SplitMix64(int(state["rng"]))
        self._mid = self._price_of(self._x)

    @property
    def mid(self) -> Decimal:
        return self._mid

    @property
    def finished(self) -> bool:
        """A generated market never runs out."""
        return False

    @property
    def regime(self) -> int:
        """-1 down-trend, 0 range, +1 up-trend."""
        return self._regime

    def state(self) -> dict[str, Any]:
        """JSON-ready and complete: restoring it continues the identical path."""
        return {
            "kind": "generated",
            "x": self._x,
            "anchor": self._anchor,
            "regime": self._regime,
            "drift": self._drift,
            "step": self._step,
            "rng": self._rng.state,
        }

    def next_tick(self, dt_sim_s: float) -> Tick:
        p = self._params
        rng = self._rng
        dt = max(dt_sim_s, 0.0)
        years = dt / YEAR_S
        sigma = self._market.volatility
        if rng.uniform() < -math.expm1(-dt / p.regime_mean_s):
            self._regime = int(rng.uniform() * 3) - 1
            low, high = p.trend_strength
            strength = low + (high - low) * rng.uniform()
            self._drift = self._regime * strength * sigma / math.sqrt(p.regime_mean_s / YEAR_S)
        self._anchor += self._drift * years
        self._anchor += p.anchor_vol_ratio * sigma * math.sqrt(years) * rng.normal()
        theta = math.log(2.0) / (p.reversion_half_life_s / YEAR_S)
        decay = math.exp(-theta * years)
        spread = sigma * math.sqrt((1.0 - decay * decay) / (2.0 * theta))
        x = self._anchor + (self._x - self._anchor) * decay + spread * rng.normal()
        if rng.uniform() < -math.expm1(-p.jumps_per_day * dt / _DAY_S):
            low, high = p.jump_size
            size = low + (high - low) * rng.uniform()
            x += size if rng.uniform() < 0.5 else -size
        self._x = min(max(x, self._origin - _MAX_MOVE), self._origin + _MAX_MOVE)
        self._anchor = min(max(self._anchor, self._origin - _MAX_MOVE), self._origin + _MAX_MOVE)
        self._step += 1
        factor = 1.0 - p.volume_spread + 2.0 * p.volume_spread * rng.uniform()
        previous, self._mid = self._mid, self._price_of(self._x)
        notional = self._notional * Decimal(repr(factor))
        return Tick(
            open=previous,
            low=min(previous, self._mid),
            high=max(previous, self._mid),
            close=self._mid,
            volume=tick_volume(notional, self._mid, self._market.sz_decimals),
        )

    def move_to(self, price: Decimal) -> None:
        """Put the market at ``price`` from the next tick on, as a jump would: the anchor moves
        by the same amount, so the market stays near there. The next tick travels from the old
        mid to the new one, filling what rests in between. Setting a price rather than a move
        makes asking twice (a retried request) land in the same place."""
        if not price.is_finite() or price <= 0:
            raise ValueError(f"a market price must be positive, got {price}")
        x = math.log(float(price))
        if abs(x - self._origin) > _MAX_MOVE:
            low, high = (self._price_of(self._origin + k * _MAX_MOVE) for k in (-1, 1))
            raise ValueError(f"{price} is beyond this market's range ({low} to {high})")
        self._anchor += x - self._x
        self._x = x

    def _price_of(self, x: float) -> Decimal:
        return round_price(Decimal(repr(math.exp(x))), self._market.sz_decimals)
