"""The generated price path: determinism, exact resume from its state, and its model's parts."""

from __future__ import annotations

import json
import math
from decimal import Decimal as D

from gridtui.config.schema import PaperMarket
from gridtui.core.rounding import is_valid_price, is_valid_size
from gridtui.exchanges.sim.price_path import GeneratedPath, PathParams, SplitMix64

BTC = PaperMarket("BTC", D(64000), 5, volatility=0.8)
NOTIONAL = D(50_000)


def run(path: GeneratedPath, steps: int, dt: float = 15.0) -> list[D]:
    return [path.next_tick(dt).close for _ in range(steps)]


def test_same_seed_same_path_other_seed_other_path():
    assert run(GeneratedPath(BTC, 7, NOTIONAL), 300) == run(GeneratedPath(BTC, 7, NOTIONAL), 300)
    assert run(GeneratedPath(BTC, 7, NOTIONAL), 300) != run(GeneratedPath(BTC, 8, NOTIONAL), 300)


def test_resuming_from_a_json_round_tripped_state_continues_the_identical_path():
    uninterrupted = GeneratedPath(BTC, 3, NOTIONAL)
    run(uninterrupted, 500)
    saved = json.loads(json.dumps(uninterrupted.state()))
    resumed = GeneratedPath(BTC, 999, NOTIONAL, state=saved)  # the seed no longer matters
    assert resumed.mid == uninterrupted.mid
    assert run(resumed, 500) == run(uninterrupted, 500)
    assert resumed.state() == uninterrupted.state()


def test_ticks_are_on_the_price_and_size_grids_and_bracket_the_move():
    path = GeneratedPath(BTC, 1, NOTIONAL)
    for _ in range(500):
        before = path.mid
        t = path.next_tick(15.0)
        assert t.open == before and t.close == path.mid
        assert t.low == min(t.open, t.close) and t.high == max(t.open, t.close)
        assert is_valid_price(t.close, BTC.sz_decimals)
        assert is_valid_size(t.volume, BTC.sz_decimals)
        # notional 50k × U(0.25, 1.75) at ~64k per coin
        assert D("0.15") < t.volume < D("1.5")


def test_a_long_run_moves_realistically_and_switches_trend_regimes():
    path = GeneratedPath(BTC, 5, NOTIONAL)
    regimes = set()
    log_returns = []
    previous = path.mid
    for _ in range(2000):  # 2000 × 60 s ≈ 33 simulated hours
        close = path.next_tick(60.0).close
        regimes.add(path.regime)
        log_returns.append(math.log(close / previous))
        previous = close
    assert regimes == {-1, 0, 1}
    per_step = (sum(r * r for r in log_returns) / len(log_returns)) ** 0.5
    expected = 0.8 * math.sqrt(60 / (365 * 24 * 3600))  # annualised 0.8 at one-minute steps
    assert 0.5 * expected < per_step < 3 * expected


def test_mean_reversion_halves_the_gap_to_the_anchor_over_one_half_life():
    calm = PaperMarket("X", D(100), 2, volatility=0.0)  # no noise, no trend drift
    params = PathParams(jumps_per_day=0.0)
    anchor = math.log(100.0)
    state = {"x": anchor + math.log(1.2), "anchor": anchor, "regime": 0, "drift": 0.0}
    path = GeneratedPath(calm, 1, NOTIONAL, params, state={**state, "step": 0, "rng": 42})
    path.next_tick(params.reversion_half_life_s)
    assert path.mid == D(str(round(100 * math.sqrt(1.2), 2)))


def test_jumps_move_the_price_by_the_configured_size():
    calm = PaperMarket("X", D(100), 2, volatility=0.0)
    params = PathParams(jumps_per_day=1e9, jump_size=(0.05, 0.05))  # a jump every step
    path = GeneratedPath(calm, 1, NOTIONAL, params)
    moves = []
    for _ in range(20):
        t = path.next_tick(1.0)
        moves.append(math.log(t.close / t.open))
    assert all(abs(abs(m) - 0.05) < 1e-3 for m in moves)
    assert min(moves) < 0 < max(moves)  # either direction


def test_zero_elapsed_time_leaves_the_price_where_it_is():
    path = GeneratedPath(BTC, 2, NOTIONAL)
    assert {path.next_tick(0.0).close for _ in range(50)} == {D(64000)}


def test_rng_is_uniform_enough_and_normals_have_unit_variance():
    rng = SplitMix64(123)
    uniforms = [rng.uniform() for _ in range(20_000)]
    assert all(0.0 <= u < 1.0 for u in uniforms)
    assert abs(sum(uniforms) / len(uniforms) - 0.5) < 0.01
    normals = [rng.normal() for _ in range(20_000)]
    assert abs(sum(n * n for n in normals) / len(normals) - 1.0) < 0.05
