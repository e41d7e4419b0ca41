"""Walk-forward folds: the candles cut into K consecutive folds, each an in-sample part the study
tunes on, followed by an out-of-sample part only the best trials are scored on afterwards. A
setting that held up on the out-of-sample parts was not just fitted to the past it saw."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import attrs

from gridtui.exchanges.sim import CandleSeries
from gridtui.optimize import OptimizeError

IN_SAMPLE_SHARE = Decimal("0.75")
"""Of each fold, the first three quarters are tuned on and the last quarter tests."""
MIN_PART_CANDLES = 50
"""A part shorter than this says little about a grid (and a backtest needs two candles)."""


@attrs.frozen(slots=True)
class Fold:
    number: int
    in_sample: CandleSeries
    out_of_sample: CandleSeries | None
    """None without walk-forward: the one fold is all the candles, scored in sample only."""


def walk_forward(series: CandleSeries, k: int | None) -> tuple[Fold, ...]:
    """``k`` consecutive folds of (almost) equal length; without ``k``, one fold of every
    candle and no out-of-sample part."""
    if k is None:
        return (Fold(1, series, None),)
    if k < 1:
        raise OptimizeError(f"--walk-forward {k}: give a number of folds, 1 or more")
    bounds = [len(series) * number // k for number in range(k + 1)]
    shortest = min(b - a for a, b in pairwise(bounds))
    if shortest - _split(shortest) < MIN_PART_CANDLES or _split(shortest) < MIN_PART_CANDLES:
        raise OptimizeError(
            f"--walk-forward {k}: {len(series)} candles make folds of {shortest}, too short: "
            f"each fold's in-sample and out-of-sample parts need {MIN_PART_CANDLES} candles or "
            f"more; use fewer folds or more candles"
        )
    candles = series.candles
    return tuple(
        Fold(
            number + 1,
            CandleSeries.of(candles[start : start + _split(end - start)]),
            CandleSeries.of(candles[start + _split(end - start) : end]),
        )
        for number, (start, end) in enumerate(pairwise(bounds))
    )


def _split(length: int) -> int:
    """How many of a fold's ``length`` candles are in sample."""
    return int(length * IN_SAMPLE_SHARE)
