"""The compiled sweep evaluator is a faster path to the engine replay's fills, so it is held to
them: random settings over random markets (gridtui.bench.agreement draws them) must give the
same fills, time, side, price and size, and the same money to the cent; settings it does not
model are declined and scored by the engine replay instead. CI runs a sample; ``gridtui bench
sweep --cases 200`` runs the full set."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridtui.bench.agreement import draw_case, run_agreement
from gridtui.optimize.evaluator import Evaluator, Inputs

CASES = 24


def test_random_settings_give_the_engine_replays_fills_and_money(tmp_path: Path) -> None:
    agreement = run_agreement(CASES, seed=16, workdir=tmp_path)
    compared = agreement.compared
    assert len(compared) == CASES
    assert not agreement.differing, [o.difference for o in agreement.differing]
    # The sample exercises what it should: fills, risk halts, and settings left to the engine.
    assert sum(o.fills for o in compared) > 2_000
    assert any(o.halted for o in compared)
    assert sum(agreement.declined.values()) >= 1


def test_a_case_is_the_same_case_every_time() -> None:
    assert draw_case(5, 3) == draw_case(5, 3)
    assert draw_case(5, 3) != draw_case(6, 3)


CONFIG = """\
data_dir = "data"
[venue]
kind = "paper"
[venue.paper]
starting_balance = 10000
[[venue.paper.markets]]
coin = "BTC"
start_price = 100
sz_decimals = 2
[grid]
levels = 3
spacing_pct = 0.5
size = 0.2
{extra}
[[bots]]
name = "b1"
coin = "BTC"
"""


@pytest.mark.parametrize(
    ("extra", "fast", "reason"),
    [
        ("", True, None),
        ("volatility_scaled = true", False, "volatility_scaled grids read every mid"),
    ],
)
def test_the_optimizer_scores_with_the_fast_evaluator_where_it_models_the_settings(
    tmp_path: Path, extra: str, fast: bool, reason: str | None
) -> None:
    candles = tmp_path / "btc.csv"
    rows = ["time_ms,open,high,low,close,volume"]
    for i in range(200):
        price = 100 + (i % 20 - 10) * 0.1
        rows.append(f"{1_704_067_200_000 + i * 60_000},{price},{price + 0.3},{price - 0.3},"
                    f"{price},50")  # fmt: skip
    candles.write_text("\n".join(rows) + "\n")
    inputs = Inputs(
        config_text=CONFIG.format(extra=extra), config_dir=str(tmp_path), bot="b1",
        candles_file=str(candles), funding_file=None, params=(), objective="net_pnl",
        walk_forward=None, fill_model="strict", trials=1, seed=None,
    )  # fmt: skip
    evaluator = Evaluator(inputs)
    scored = evaluator.in_sample({})
    confirmed = Evaluator(inputs, fast=False).in_sample({})
    assert scored.reports[0].fills > 10
    assert scored.reports == confirmed.reports
    assert (evaluator.fast_runs, evaluator.engine_runs) == ((1, 0) if fast else (0, 1))
    if reason is not None:
        assert any(key.startswith(reason) for key in evaluator.fallbacks)
