"""The backtest's quiet candles: a candle that reaches no resting order is walked by the venue
in one call instead of point by point. That is a faster path, so it is proven here against the
plain one: the same engine over the same candles gives the same fills, the same books at every
close and the same halts, under both fill models, with re-centring and risk halts in play."""

from __future__ import annotations

import random
from pathlib import Path

import attrs
import pytest

from gridtui.backtest.replay import Replay, ReplayOptions, replay
from gridtui.config.loader import load_config_text
from gridtui.exchanges.sim import SimExchange, load_candles
from gridtui.exchanges.sim.vocabulary import FillModel

CONFIG = """\
data_dir = "data"
[venue]
kind = "paper"
[venue.paper]
starting_balance = 100000
[[venue.paper.markets]]
coin = "BTC"
start_price = 64000
sz_decimals = 5
[grid]
levels = 6
spacing_pct = 0.15
size = 0.001
mode = "rolling"
recenter_threshold_pct = 0.3
[risk]
max_position = 1
max_notional = 1000000
max_drawdown = 1000000
daily_loss_limit = 60
[[bots]]
name = "diff"
coin = "BTC"
"""


def _candles(path: Path, count: int) -> None:
    """A seeded walk with a slow drift, so the grid re-centres and the daily loss limit halts
    the bot (and lifts the halt the next UTC day) within the run."""
    rng = random.Random(5)
    price = 64000.0
    start = 1_704_067_200_000 + 23 * 3_600_000  # an hour before a UTC midnight
    rows = ["time_ms,open,high,low,close,volume"]
    for i in range(count):
        close = price * (1 + rng.gauss(-0.00004, 0.0009))
        high = max(price, close) * (1 + abs(rng.gauss(0, 0.0003)))
        low = min(price, close) * (1 - abs(rng.gauss(0, 0.0003)))
        rows.append(f"{start + i * 60_000},{price:.1f},{high:.1f},{low:.1f},{close:.1f},10")
        price = float(f"{close:.1f}")
    path.write_text("\n".join(rows) + "\n")


def _run(tmp_path: Path, model: FillModel) -> Replay:
    candles_file = tmp_path / "btc.csv"
    if not candles_file.exists():
        _candles(candles_file, 2_400)
    config = load_config_text(CONFIG, base_dir=tmp_path, source="test")
    series = load_candles(candles_file)
    return replay(config, config.bots[0], candles_file, series, None, ReplayOptions(model))


@pytest.mark.parametrize("model", [FillModel.STRICT, FillModel.TOUCH])
def test_quiet_candles_give_the_fills_of_point_by_point_steps(tmp_path, monkeypatch, model):
    fast = _run(tmp_path, model)
    monkeypatch.setattr(SimExchange, "step_quietly", lambda self, times_ms: False)
    plain = _run(tmp_path, model)
    assert len(plain.fills) > 100 and plain.halts >= 1  # the run exercises what it should
    assert len({g.low for g in plain.grid}) > 3  # and the grid moved
    assert fast.fills == plain.fills
    assert fast.equity == plain.equity
    assert (fast.halts, fast.grid) == (plain.halts, plain.grid)
    assert attrs.evolve(fast, equity=()) == attrs.evolve(plain, equity=())
