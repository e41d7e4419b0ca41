"""Strategy: realized volatility, EMA trend, and the grid they produce."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal as D

import pytest

from gridtui.config.schema import GridSettings
from gridtui.core.types import AssetMeta
from gridtui.strategy.strategy import Strategy

ETH = AssetMeta("ETH", 1, 4)


def feed(strategy: Strategy, values: list[float], start_ms: int = 0) -> None:
    for i, value in enumerate(values):
        strategy.observe(D(repr(value)), start_ms + i * 1000)


def zigzag(n: int, low: float = 100.0, high: float = 101.0) -> list[float]:
    return [low if i % 2 == 0 else high for i in range(n)]


def test_volatility_is_none_until_enough_returns_then_matches_the_definition() -> None:
    strategy = Strategy("ETH", GridSettings(), ETH, min_samples=10, horizon_samples=16)
    feed(strategy, zigzag(10))  # 10 prices = 9 returns
    assert strategy.volatility_pct() is None
    feed(strategy, [100.0], start_ms=10_000)
    assert strategy.sample_count == 11
    vol = strategy.volatility_pct()
    assert vol is not None
    returns = [math.log(b / a) for a, b in zip(zigzag(11), zigzag(11)[1:], strict=False)]
    expected = statistics.stdev(returns) * math.sqrt(16) * 100
    assert float(vol) == pytest.approx(expected, abs=1e-6)
    assert isinstance(vol, D)


def test_volatility_scales_with_the_square_root_of_the_horizon() -> None:
    short = Strategy("ETH", GridSettings(), ETH, min_samples=5, horizon_samples=4)
    long = Strategy("ETH", GridSettings(), ETH, min_samples=5, horizon_samples=16)
    for strategy in (short, long):
        feed(strategy, zigzag(30))
    assert float(long.volatility_pct()) == pytest.approx(
        2 * float(short.volatility_pct()), rel=1e-5
    )


def test_window_forgets_old_returns() -> None:
    strategy = Strategy("ETH", GridSettings(), ETH, window=10, min_samples=5)
    feed(strategy, zigzag(20, 100.0, 110.0))
    wild = strategy.volatility_pct()
    feed(strategy, [110.0 + 0.01 * i for i in range(11)], start_ms=20_000)
    calm = strategy.volatility_pct()
    assert calm is not None and wild is not None
    assert calm < wild / 100


def test_repeated_and_older_timestamps_are_ignored() -> None:
    strategy = Strategy("ETH", GridSettings(), ETH, min_samples=2)
    strategy.observe(D(100), 1000)
    strategy.observe(D(200), 1000)
    strategy.observe(D(300), 500)
    strategy.observe(D(101), 2000)
    strategy.observe(D(100), 3000)
    assert strategy.sample_count == 3
    # Had 200 or 300 been taken, the returns would be far larger than ±1 %.
    assert strategy.volatility_pct() < D(20)


def test_non_positive_price_is_refused() -> None:
    strategy = Strategy("ETH", GridSettings(), ETH)
    with pytest.raises(ValueError, match="non-positive"):
        strategy.observe(D(0), 1)


def test_trend_is_zero_until_the_slow_ema_is_warm() -> None:
    strategy = Strategy("ETH", GridSettings(), ETH, ema_fast=3, ema_slow=10)
    feed(strategy, [100.0 + i for i in range(9)])
    assert strategy.trend() == 0
    feed(strategy, [109.0], start_ms=9000)
    assert strategy.trend() > 0


def test_trend_sign_follows_the_series_and_is_clipped() -> None:
    settings = GridSettings(spacing_pct=D("0.2"))
    rising = Strategy("ETH", settings, ETH, ema_fast=3, ema_slow=10)
    feed(rising, [100.0 * 1.0001**i for i in range(40)])
    falling = Strategy("ETH", settings, ETH, ema_fast=3, ema_slow=10)
    feed(falling, [100.0 * 0.9999**i for i in range(40)])
    flat = Strategy("ETH", settings, ETH, ema_fast=3, ema_slow=10)
    feed(flat, [100.0] * 40)
    assert D(0) < rising.trend() < D(1)
    assert D(-1) < falling.trend() < D(0)
    assert flat.trend() == 0
    steep = Strategy("ETH", settings, ETH, ema_fast=3, ema_slow=10)
    feed(steep, [100.0 * 1.01**i for i in range(40)])
    assert steep.trend() == D(1)


def test_desired_grid_uses_volatility_and_trend() -> None:
    settings = GridSettings(
        levels=2,
        spacing_pct=D("0.1"),
        size=D("0.01"),
        volatility_scaled=True,
        trend_bias=D(1),
    )
    strategy = Strategy("ETH", settings, ETH, min_samples=5, ema_fast=3, ema_slow=10)
    cold = strategy.desired_grid(D(2000), now_ms=5)
    assert cold.spacing_pct == D("0.1")
    assert cold.center == D(2000)
    assert cold.created_ms == 5
    rising_noisy = [2000.0]
    for i in range(30):
        rising_noisy.append(rising_noisy[-1] * (1.006 if i % 2 == 0 else 0.998))
    feed(strategy, rising_noisy)
    warm = strategy.desired_grid(D(2000), now_ms=6)
    vol = strategy.volatility_pct()
    assert warm.spacing_pct == vol > D("0.1")
    assert warm.center > D(2000)


def test_constructor_rejects_inconsistent_windows() -> None:
    with pytest.raises(ValueError):
        Strategy("ETH", GridSettings(), ETH, window=5, min_samples=10)
    with pytest.raises(ValueError):
        Strategy("ETH", GridSettings(), ETH, ema_fast=10, ema_slow=10)
