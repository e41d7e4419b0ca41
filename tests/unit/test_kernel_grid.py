"""The sweep kernel builds rolling arithmetic grids itself (``grid_kernel.arithmetic_grid``), a
faster path to ``calculate_grid``: on random marks, spacings, level counts, sizes and coins it
must give the calculator's prices and sizes exactly, or decline (the calculator then answers).
A grid the calculator refuses the kernel must decline too."""

from __future__ import annotations

import random
from decimal import Decimal

import numpy as np
import pytest

from gridtui.backtest.replay import ReplayOptions
from gridtui.config.schema import BotSettings, GridMode, GridSettings, RiskLimits, Spacing
from gridtui.core.rounding import round_price
from gridtui.core.types import AssetMeta
from gridtui.optimize import grid_kernel as kernel
from gridtui.optimize.fast_replay import kernel_rules, level_lots
from gridtui.strategy.grid_calculator import GridError, calculate_grid

CASES = 3000


def _case(rng: random.Random) -> tuple[GridSettings, int, Decimal]:
    szd = rng.randint(0, 5)
    magnitude = rng.choice([0.01, 0.3, 2, 17, 150, 2_500, 64_000, 240_000])
    mark = round_price(Decimal(repr(magnitude * rng.uniform(0.5, 2))), szd)
    spacing = Decimal(rng.randint(1, 300)).scaleb(-rng.randint(1, 3))
    grid = GridSettings(
        levels=rng.randint(1, 40),
        spacing_pct=spacing,
        spacing=Spacing.ARITHMETIC,
        mode=GridMode.ROLLING,
        size=Decimal(rng.randint(1, 5000)).scaleb(-rng.randint(0, 6)),
        size_scaling_pct=Decimal(rng.choice([0, 0, 5, 12.5, 40])),
    )
    return grid, szd, mark


def test_the_kernels_arithmetic_grids_are_the_calculators() -> None:
    rng = random.Random(7)
    answered = refused = 0
    for _ in range(CASES):
        grid, szd, mark = _case(rng)
        rules = kernel_rules(
            BotSettings(name="b", coin="X", grid=grid, risk=RiskLimits()),
            szd,
            60_000,
            ReplayOptions(),
        )
        assert rules[kernel.R_OWN_GRIDS] == 1
        n = grid.levels
        prices = np.zeros(2 * n + 1, dtype=np.int64)
        sizes = np.zeros(2 * n + 1, dtype=np.int64)
        built = kernel.arithmetic_grid(
            int(mark.scaleb(6)), rules, level_lots(grid, szd), prices, sizes
        )
        try:
            snapshot = calculate_grid(
                coin="X", mid=mark, settings=grid, meta=AssetMeta("X", 0, szd), now_ms=0
            )
        except GridError:
            assert not built, (grid, szd, mark)
            refused += 1
            continue
        if built:
            answered += 1
            case = (grid.levels, grid.spacing_pct, grid.size, szd, mark)
            assert [int(p.scaleb(6)) for p in snapshot.prices] == prices.tolist(), case
            assert [int(s.scaleb(szd)) for s in snapshot.sizes] == sizes.tolist(), case
    # The sample reaches both answers, and the kernel declines only rarely.
    assert refused > 50
    assert answered > 0.9 * (CASES - refused)


@pytest.mark.parametrize(
    ("spacing", "mode", "own"),
    [
        (Spacing.ARITHMETIC, GridMode.ROLLING, 1),
        (Spacing.GEOMETRIC, GridMode.ROLLING, 0),
        (Spacing.ARITHMETIC, GridMode.BOUNDED, 0),
    ],
)
def test_the_kernel_builds_only_rolling_arithmetic_grids(
    spacing: Spacing, mode: GridMode, own: int
) -> None:
    grid = GridSettings(spacing=spacing, mode=mode, lower=Decimal(90), upper=Decimal(110))
    rules = kernel_rules(
        BotSettings(name="b", coin="X", grid=grid, risk=RiskLimits()), 2, 60_000, ReplayOptions()
    )
    assert rules[kernel.R_OWN_GRIDS] == own
