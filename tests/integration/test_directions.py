"""A long grid never holds a short position and a short grid never a long one: the engine
replay over a generated busy market (the bench's random walk), every close checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridtui.backtest.replay import ReplayOptions, replay
from gridtui.bench.backtest import CONFIG, write_candles
from gridtui.config.loader import load_config_text
from gridtui.config.schema import Direction
from gridtui.core.types import Side
from gridtui.exchanges.sim import load_candles
from gridtui.exchanges.sim.vocabulary import FillModel

CANDLES = 6_000
"""Four days of 1m candles, a fill every few candles; a generated year was checked by hand."""


@pytest.mark.parametrize("direction", [Direction.LONG, Direction.SHORT])
def test_inventory_never_crosses_zero(tmp_path: Path, direction: Direction) -> None:
    candles = tmp_path / "btc.csv"
    write_candles(candles, CANDLES)
    text = CONFIG.replace("[grid]\n", f'[grid]\ndirection = "{direction.value}"\n')
    config = load_config_text(text, base_dir=tmp_path, source="test")
    run = replay(
        config,
        config.bots[0],
        candles,
        load_candles(candles),
        None,
        ReplayOptions(FillModel.STRICT),
    )
    sign = 1 if direction is Direction.LONG else -1
    positions = [point.position * sign for point in run.equity]
    assert min(positions) >= 0
    assert max(positions) > 0  # it did hold inventory: the check is not vacuous
    opening = Side.BUY if direction is Direction.LONG else Side.SELL
    held = 0
    for fill in run.fills:  # fill by fill, not only at closes
        held += fill.size if fill.side is opening else -fill.size
        assert held >= 0, f"{fill.side} {fill.size} at {fill.price} without inventory"
    assert sum(1 for f in run.fills if f.side is not opening) > 10  # take-profits happened
