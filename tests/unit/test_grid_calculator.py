"""GridCalculator: prices, rounding, sizes and modes, checked against hand arithmetic."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from gridtui.config.schema import GridMode, GridSettings, Spacing
from gridtui.core.rounding import is_valid_price
from gridtui.core.types import AssetMeta
from gridtui.strategy.grid_calculator import GridError, calculate_grid

ETH = AssetMeta("ETH", 1, 4)  # prices: ≤ 5 significant figures, ≤ 2 decimals


def grid(settings: GridSettings, mid: str = "2000", meta: AssetMeta = ETH, **kwargs):
    return calculate_grid(
        coin=meta.coin, mid=D(mid), settings=settings, meta=meta, now_ms=7, **kwargs
    )


def prices(*values: str) -> tuple[D, ...]:
    return tuple(D(v) for v in values)


def test_arithmetic_levels_are_equal_steps_of_the_center() -> None:
    snap = grid(GridSettings(levels=3, spacing_pct=D("0.5"), size=D("0.01")))
    # 2000 × (1 + i × 0.005): steps of exactly 10.
    assert snap.prices == prices("1970", "1980", "1990", "2000", "2010", "2020", "2030")
    assert snap.center == D(2000)
    assert snap.spacing_pct == D("0.5")
    assert snap.created_ms == 7
    assert snap.levels_per_side == 3


def test_geometric_levels_are_powers_of_the_ratio() -> None:
    snap = grid(
        GridSettings(levels=3, spacing=Spacing.GEOMETRIC, spacing_pct=D("0.5"), size=D("0.01"))
    )
    # 2000/1.005 = 1990.0497… ↓ 1990.0; 2000/1.005² = 1980.1440… ↓ 1980.1;
    # 2000/1.005³ = 1970.2925… ↓ 1970.2; 2000 × 1.005² = 2020.05 ↑ 2020.1;
    # 2000 × 1.005³ = 2030.15025 ↑ 2030.2 (five significant figures).
    assert snap.prices == prices("1970.2", "1980.1", "1990", "2000", "2010", "2020.1", "2030.2")


def test_rounding_moves_buys_down_sells_up_and_center_to_nearest() -> None:
    snap = grid(GridSettings(levels=1, spacing_pct=D("0.1"), size=D("0.01")), mid="1234.567")
    # raw: 1233.332433, 1234.567, 1235.801567; one decimal allowed at this magnitude.
    assert snap.prices == prices("1233.3", "1234.6", "1235.9")


def test_every_rounded_price_is_valid_and_strictly_increasing() -> None:
    settings = GridSettings(levels=10, spacing=Spacing.GEOMETRIC, spacing_pct=D("0.07"), size=D(1))
    snap = grid(settings, mid="0.123456", meta=AssetMeta("DOGE", 3, 0))
    raw_center = D("0.123456")
    for index in snap.indexes:
        price = snap.price_of(index)
        assert is_valid_price(price, 0)
        raw = raw_center * (1 + D("0.0007")) ** index
        if index < 0:
            assert price <= raw
        elif index > 0:
            assert price >= raw
    assert all(a < b for a, b in zip(snap.prices, snap.prices[1:], strict=False))


def test_spacing_below_one_tick_raises_grid_error_naming_coin_and_minimum() -> None:
    btc = AssetMeta("BTC", 0, 5)
    settings = GridSettings(levels=3, spacing_pct=D("0.0005"), size=D("0.001"))
    with pytest.raises(GridError) as caught:
        grid(settings, mid="64000", meta=btc)
    message = str(caught.value)
    assert "BTC" in message
    # One tick at 64000 is $1 = 0.0015625 %, rounded up to two figures.
    assert "minimum spacing is 0.0016%" in message
    # The suggested minimum really works.
    ok = grid(
        GridSettings(levels=3, spacing_pct=D("0.0016"), size=D("0.001")), mid="64000", meta=btc
    )
    assert len(set(ok.prices)) == 7


def test_arithmetic_grid_reaching_zero_is_an_error() -> None:
    with pytest.raises(GridError, match="reach zero"):
        grid(GridSettings(levels=5, spacing_pct=D(20), size=D("0.01")))


def test_sizes_scale_with_distance_and_round_down() -> None:
    settings = GridSettings(levels=3, spacing_pct=D("0.5"), size=D("0.01"), size_scaling_pct=D(33))
    snap = grid(settings, meta=AssetMeta("ETH", 1, 3))
    # |i| = 0, 1 → 0.01; |i| = 2 → 0.0133 ↓ 0.013; |i| = 3 → 0.0166 ↓ 0.016.
    assert snap.sizes == prices("0.016", "0.013", "0.01", "0.01", "0.01", "0.013", "0.016")


def test_sizes_below_ten_dollars_are_raised_to_the_smallest_valid_size() -> None:
    snap = grid(GridSettings(levels=1, spacing_pct=D("0.5"), size=D("0.001")))
    # 10/1990 = 0.0050251… ↑ 0.0051; 10/2000 = 0.005 exactly; 10/2010 = 0.004975… ↑ 0.0050.
    assert snap.sizes == prices("0.0051", "0.005", "0.005")
    for index in snap.indexes:
        price, size = snap.price_of(index), snap.size_of(index)
        assert price * size >= 10
        assert price * (size - D("0.0001")) < 10


def test_bounded_arithmetic_spans_the_range_whatever_the_mid() -> None:
    settings = GridSettings(
        levels=4, mode=GridMode.BOUNDED, lower=D(1800), upper=D(2200), size=D("0.01")
    )
    snap = grid(settings, mid="1900", trend=D(1), volatility_pct=D(5))
    assert snap.prices == prices(
        "1800", "1850", "1900", "1950", "2000", "2050", "2100", "2150", "2200"
    )
    assert snap.spacing_pct == D("2.5")  # 50 / 2000
    assert snap.mid == D(1900)
    assert grid(settings, mid="2150").prices == snap.prices


def test_bounded_geometric_centers_on_the_geometric_middle() -> None:
    settings = GridSettings(
        levels=2,
        mode=GridMode.BOUNDED,
        spacing=Spacing.GEOMETRIC,
        lower=D(1000),
        upper=D(4000),
        size=D("0.01"),
    )
    snap = grid(settings)
    # center sqrt(1000 × 4000) = 2000; ratio 4^(1/4) = √2: 1414.2135… ↓, 2828.4271… ↑.
    assert snap.prices == prices("1000", "1414.2", "2000", "2828.5", "4000")


@pytest.mark.parametrize(("lower", "upper"), [(None, D(2200)), (D(2200), D(1800))])
def test_bounded_mode_without_a_valid_range_is_an_error(lower, upper) -> None:
    settings = GridSettings(mode=GridMode.BOUNDED, lower=lower, upper=upper)
    with pytest.raises(GridError, match="lower < upper"):
        grid(settings)


def test_trend_shifts_the_center_by_bias_spacings() -> None:
    settings = GridSettings(levels=2, spacing_pct=D("0.2"), size=D("0.01"), trend_bias=D("0.5"))
    # 2000 × (1 ± 1 × 0.5 × 0.002) = 2002 / 1998
    assert grid(settings, trend=D(1)).center == D(2002)
    assert grid(settings, trend=D(-1)).center == D(1998)
    assert grid(settings, trend=D("0.5")).center == D(2001)
    assert grid(settings, trend=D(3)).center == D(2002)  # clipped to 1
    assert grid(settings).center == D(2000)


def test_volatility_scaling_widens_spacing_with_configured_floor() -> None:
    scaled = GridSettings(
        levels=1,
        spacing_pct=D("0.2"),
        size=D("0.01"),
        volatility_scaled=True,
        volatility_multiplier=D(2),
    )
    wide = grid(scaled, volatility_pct=D("0.5"))
    assert wide.spacing_pct == D("1.0")
    assert wide.prices == prices("1980", "2000", "2020")
    assert grid(scaled, volatility_pct=D("0.05")).spacing_pct == D("0.2")
    assert grid(scaled).spacing_pct == D("0.2")
    fixed = GridSettings(levels=1, spacing_pct=D("0.2"), size=D("0.01"))
    assert grid(fixed, volatility_pct=D("0.5")).spacing_pct == D("0.2")


def test_same_inputs_give_the_same_grid() -> None:
    settings = GridSettings(levels=5, spacing=Spacing.GEOMETRIC, size_scaling_pct=D(10))
    assert grid(settings, mid="1999.37", trend=D("0.3")) == grid(
        settings, mid="1999.37", trend=D("0.3")
    )
