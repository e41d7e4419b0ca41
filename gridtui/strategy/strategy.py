"""The per-coin strategy: indicators from observed mids, and the grid they ask for.

Indicators are the one place floats are allowed (DESIGN §5): they are estimates, not money. What
leaves this module is Decimal, and the grid itself comes from the pure calculator.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from decimal import Decimal

from gridtui.config.schema import GridSettings
from gridtui.core.types import AssetMeta
from gridtui.strategy.grid_calculator import calculate_grid, effective_spacing_pct
from gridtui.strategy.grid_snapshot import GridSnapshot

log = logging.getLogger(__name__)

_QUANTUM = Decimal("0.000001")


class Strategy:
    """Keeps a bounded history of mids and turns it into volatility, trend and a desired grid.

    Volatility is the sample standard deviation of the log returns in the window, scaled by
    sqrt(``horizon_samples``): the percent move expected over ``horizon_samples`` observations
    (at one observation per engine cycle of 1 s, the default 60 is about a minute — roughly how
    long a grid level should survive noise). It is None until ``min_samples`` returns exist.

    Trend is the gap between a fast and a slow EMA of the price, in units of the current grid
    spacing, clipped to [-1, 1]: +1 means the fast EMA is at least one spacing above the slow one.
    """

    def __init__(
        self,
        coin: str,
        settings: GridSettings,
        meta: AssetMeta,
        *,
        window: int = 300,
        min_samples: int = 20,
        horizon_samples: int = 60,
        ema_fast: int = 12,
        ema_slow: int = 48,
    ) -> None:
        if not 2 <= min_samples <= window:
            raise ValueError(f"need 2 ≤ min_samples ≤ window, got {min_samples} and {window}")
        if not 1 <= ema_fast < ema_slow:
            raise ValueError(f"need 1 ≤ ema_fast < ema_slow, got {ema_fast} and {ema_slow}")
        if horizon_samples < 1:
            raise ValueError(f"horizon_samples must be ≥ 1, got {horizon_samples}")
        self.coin = coin
        self.settings = settings
        self.meta = meta
        self._min_samples = min_samples
        self._horizon = horizon_samples
        self._returns: deque[float] = deque(maxlen=window)
        self._last_price: float | None = None
        self._last_ts_ms: int | None = None
        self._count = 0
        self._fast_alpha = 2.0 / (ema_fast + 1)
        self._slow_alpha = 2.0 / (ema_slow + 1)
        self._slow_period = ema_slow
        self._ema_fast = 0.0
        self._ema_slow = 0.0

    @property
    def sample_count(self) -> int:
        """Prices observed so far (not bounded by the window)."""
        return self._count

    def observe(self, price: Decimal, ts_ms: int) -> None:
        """Record one mid. A timestamp not newer than the last one is ignored: the engine may offer
        the same tick on several cycles, and counting it twice would add zero returns that drag the
        volatility estimate down."""
        if price <= 0:
            raise ValueError(f"{self.coin}: cannot observe a non-positive price {price}")
        if self._last_ts_ms is not None and ts_ms <= self._last_ts_ms:
            if ts_ms < self._last_ts_ms:
                log.warning(
                    "%s: ignoring price at %d, older than the last one at %d",
                    self.coin,
                    ts_ms,
                    self._last_ts_ms,
                )
            return
        value = float(price)
        if self._last_price is None:
            self._ema_fast = self._ema_slow = value
        else:
            self._returns.append(math.log(value / self._last_price))
            self._ema_fast += self._fast_alpha * (value - self._ema_fast)
            self._ema_slow += self._slow_alpha * (value - self._ema_slow)
        self._last_price = value
        self._last_ts_ms = ts_ms
        self._count += 1

    def volatility_pct(self) -> Decimal | None:
        if len(self._returns) < self._min_samples:
            return None
        returns = list(self._returns)
        mean = sum(returns) / len(returns)
        variance = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
        pct = math.sqrt(variance) * math.sqrt(self._horizon) * 100.0
        return Decimal(repr(pct)).quantize(_QUANTUM)

    def trend(self) -> Decimal:
        """0 until the slow EMA has seen ``ema_slow`` prices, so a fresh start does not lean; also 0
        when no spacing is configured (a bounded grid derives it from its range and never leans)."""
        spacing = float(effective_spacing_pct(self.settings, self.volatility_pct()))
        if self._count < self._slow_period or spacing <= 0:
            return Decimal(0)
        gap_pct = (self._ema_fast - self._ema_slow) / self._ema_slow * 100.0
        lean = max(-1.0, min(1.0, gap_pct / spacing))
        return Decimal(repr(lean)).quantize(_QUANTUM)

    def desired_grid(self, mid: Decimal, now_ms: int) -> GridSnapshot:
        return calculate_grid(
            coin=self.coin,
            mid=mid,
            settings=self.settings,
            meta=self.meta,
            now_ms=now_ms,
            volatility_pct=self.volatility_pct(),
            trend=self.trend(),
        )
