"""Walk-forward folds and the objectives a trial is scored by."""

from __future__ import annotations

from decimal import Decimal as D

import attrs
import pytest

from gridtui.backtest.report import BacktestReport
from gridtui.exchanges.sim import Candle, CandleSeries, Gaps
from gridtui.optimize import OptimizeError
from gridtui.optimize.folds import walk_forward
from gridtui.optimize.objective import Objective, mean_score, score


def series(count: int) -> CandleSeries:
    return CandleSeries.of(
        Candle(i * 60_000, D(100), D(101), D(99), D(100), D(1)) for i in range(count)
    )


def test_folds_are_consecutive_and_each_ends_with_its_out_of_sample_quarter() -> None:
    candles = series(1003)
    folds = walk_forward(candles, 4)
    parts = [p for f in folds for p in (f.in_sample, f.out_of_sample)]
    times = [c.time_ms for part in parts if part is not None for c in part]
    assert times == [c.time_ms for c in candles]  # every candle once, in order
    for fold in folds:
        assert fold.out_of_sample is not None
        total = len(fold.in_sample) + len(fold.out_of_sample)
        assert len(fold.in_sample) == int(total * D("0.75"))
    assert [f.number for f in folds] == [1, 2, 3, 4]


def test_without_walk_forward_one_fold_holds_every_candle_in_sample() -> None:
    [fold] = walk_forward(series(10), None)
    assert len(fold.in_sample) == 10 and fold.out_of_sample is None


@pytest.mark.parametrize(
    ("count", "k", "message"),
    [
        (1000, 0, "--walk-forward 0: give a number of folds, 1 or more"),
        (1000, 6, "--walk-forward 6: 1000 candles make folds of 166, too short"),
    ],
)
def test_folds_too_short_to_test_on_are_one_line(count: int, k: int, message: str) -> None:
    with pytest.raises(OptimizeError) as caught:
        walk_forward(series(count), k)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


REPORT = BacktestReport(
    bot="b", coin="BTC", start="2024-01-01T00:00:00Z", end="2024-01-11T00:00:00Z",
    candles=14_400, gaps=Gaps(0, 0), fill_model="strict", path="adaptive",
    net_pnl=D("12.50"), return_pct=D("1.25"), realized_pnl=D("10"), unrealized_pnl=D("2.5"),
    fees=D("1"), funding=None, fills=40, round_trips=20, grid_profit_per_round_trip=D("0.5"),
    max_drawdown=D("5"), max_drawdown_pct=D("0.5"), sharpe=1.5, sortino=2.0, halts=0,
    time_halted_pct=D("0"), final_position=D("0"), buy_and_hold_pnl=D("0"),
)  # fmt: skip


def test_objectives_read_the_report() -> None:
    assert score(REPORT, Objective.NET_PNL) == 12.5
    assert score(REPORT, Objective.SHARPE) == 1.5
    # 1.25 % in 10 days is 45.625 % a year, over a 0.5 % drawdown
    assert score(REPORT, Objective.CALMAR) == pytest.approx(91.25)


def test_an_undefined_objective_is_none_never_a_number() -> None:
    flat = attrs.evolve(REPORT, max_drawdown=D(0), max_drawdown_pct=D(0), sharpe=None)
    assert score(flat, Objective.CALMAR) is None
    assert score(flat, Objective.SHARPE) is None
    assert mean_score([REPORT, flat], Objective.SHARPE) is None
    assert mean_score([REPORT, attrs.evolve(REPORT, sharpe=0.5)], Objective.SHARPE) == 1.0
