"""The sweep kernel's candle arrays are built in numpy, a faster path to what the paper venue's
candle replay does per candle: each candle's path (``Candle.path``), its points rounded by
``round_price``, the lots at each point by ``round_size``. Held to that, value for value."""

from __future__ import annotations

import random
from decimal import Decimal

import numpy as np

from gridtui.backtest.replay import ReplayOptions
from gridtui.config.schema import CandlePath
from gridtui.core.rounding import round_price, round_size
from gridtui.exchanges.sim import CandleSeries
from gridtui.exchanges.sim.candle_series import Candle
from gridtui.exchanges.sim.exchange import DEFAULT_NOTIONAL_PER_TICK
from gridtui.optimize.fast_replay import candle_arrays, round_millionths


def _price(rng: random.Random) -> Decimal:
    magnitude = rng.choice([0.00002, 0.013, 0.7, 3, 42, 999.99, 12_345, 99_999.5, 640_000])
    places = rng.choice([0, 1, 2, 4, 6, 6, 8])  # 8: more than a perp price has
    value = Decimal(repr(magnitude * rng.uniform(0.9, 1.1))).quantize(Decimal(1).scaleb(-places))
    return max(value, Decimal("0.000001"))


def test_round_millionths_is_round_price() -> None:
    rng = random.Random(3)
    ties = [Decimal("99999.5"), Decimal("9.99995"), Decimal("0.1234565"), Decimal("1.000005")]
    for szd in range(6):
        prices = [p for p in ([_price(rng) for _ in range(3000)] + ties) if p == p.quantize(
            Decimal("0.000001"))]  # fmt: skip
        units = np.array([int(p.scaleb(6)) for p in prices], dtype=np.int64)
        got = round_millionths(units, szd).tolist()
        for price, value in zip(prices, got, strict=True):
            if value != 0:  # 0: left to round_price
                assert value == int(round_price(price, szd).scaleb(6)), (price, szd)


def _candle(rng: random.Random, at: int) -> Candle:
    prices = sorted(_price(rng) for _ in range(4))
    low, high = prices[0], prices[-1]
    open_, close = rng.sample(prices, 2)
    if rng.random() < 0.2:  # ties: the adaptive path takes the low first
        open_ = (low + high) / 2
    volume = rng.choice([Decimal(0), Decimal("0.000000001"), Decimal(rng.randint(1, 10**6)).scaleb(
        -rng.randint(0, 12)), Decimal("1e10")])  # fmt: skip
    return Candle(at * 60_000, open_, high, low, close, volume)


def test_candle_arrays_are_the_venues_path_rounding_and_lots() -> None:
    rng = random.Random(5)
    series = CandleSeries.of(_candle(rng, k) for k in range(2000))
    for path in CandlePath:
        for szd in (0, 2, 5):
            arrays = candle_arrays(series, szd, ReplayOptions(path=path))
            lots = Decimal(1).scaleb(szd)
            for k, candle in enumerate(series):
                points = [round_price(p, szd) for p in candle.path(path)]
                assert arrays.points[k].tolist() == [int(p.scaleb(6)) for p in points]
                if candle.volume > 0:
                    quarter = int(round_size(candle.volume / 4, szd) * lots)
                    assert arrays.budgets[k].tolist() == [quarter] * 4, (candle, szd)
                else:
                    wanted = [int(round_size(DEFAULT_NOTIONAL_PER_TICK / p, szd) * lots)
                              for p in points]  # fmt: skip
                    assert arrays.budgets[k].tolist() == wanted, (candle, szd)
            assert arrays.lows.tolist() == arrays.points.min(axis=1).tolist()
            assert arrays.highs.tolist() == arrays.points.max(axis=1).tolist()
