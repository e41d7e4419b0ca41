"""The ``--param`` search space: parsing, its errors, the defaults, and Optuna suggestions."""

from __future__ import annotations

from decimal import Decimal

import optuna
import pytest

from gridtui.config.fields import GRID_FIELDS, RISK_FIELDS
from gridtui.optimize import OptimizeError
from gridtui.optimize.space import (
    ALLOWED,
    DEFAULT_PARAMS,
    Param,
    describe,
    describe_allowed,
    parse_params,
    suggest,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

NAMES = (
    "levels, spacing, spacing_pct, volatility_scaled, volatility_multiplier, size, "
    "size_scaling_pct, mode, recenter_threshold_pct, trend_bias, direction, max_position, "
    "max_notional, max_drawdown, daily_loss_limit"
)


def _one(spec: str) -> Param:
    (param,) = parse_params([spec])
    return param


def _error(specs: list[str]) -> str:
    with pytest.raises(OptimizeError) as caught:
        parse_params(specs)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- what may be searched -------------------------------------------------------------------


def test_allowed_is_every_grid_and_risk_key_but_prices_and_rate_limits() -> None:
    assert not GRID_FIELDS.keys() & RISK_FIELDS.keys(), "a bare name must name one setting"
    excluded = {"lower", "upper", "max_orders_per_second", "order_burst", "max_open_orders"}
    excluded |= {"stop_loss_price", "take_profit_price", "stop_loss_pnl", "max_slippage_pct"}
    excluded |= {"leverage", "margin", "min_liquidation_distance_pct", "initial_position"}
    expected = {name: ("grid", name) for name in GRID_FIELDS if name not in excluded}
    expected |= {name: ("risk", name) for name in RISK_FIELDS if name not in excluded}
    assert ALLOWED == expected
    assert ", ".join(ALLOWED) == NAMES


def test_describe_allowed_quotes_the_config_rules() -> None:
    lines = describe_allowed().splitlines()
    assert len(lines) == len(ALLOWED)
    assert "levels: an integer from 2 to 200" in lines
    assert "spacing_pct: a number > 0 and < 50" in lines
    assert "trend_bias: a number >= 0 and <= 1" in lines
    assert "spacing: arithmetic|geometric" in lines
    assert "mode: rolling|bounded" in lines
    assert "volatility_scaled: true|false" in lines


# --- good specs -----------------------------------------------------------------------------


def test_numeric_range_without_step() -> None:
    assert _one("trend_bias=0:1") == Param(
        name="trend_bias", path=("grid", "trend_bias"), low=Decimal(0), high=Decimal(1)
    )


def test_numeric_range_with_step_keeps_the_typed_decimals() -> None:
    param = _one(" spacing_pct = 0.05 : 2 : 0.01 ")
    assert param.path == ("grid", "spacing_pct")
    assert (param.low, param.high, param.step) == (Decimal("0.05"), Decimal(2), Decimal("0.01"))
    assert not param.integer and param.choices == ()


def test_risk_setting() -> None:
    param = _one("max_drawdown=100:1000:50")
    assert param.path == ("risk", "max_drawdown")
    assert (param.low, param.high, param.step) == (Decimal(100), Decimal(1000), Decimal(50))


def test_integer_setting() -> None:
    param = _one("levels=3:20")
    assert (param.path, param.integer, param.low, param.high, param.step) == (
        ("grid", "levels"),
        True,
        3,
        20,
        None,
    )
    assert _one("levels=2:200:2").step == 2
    assert _one("levels=3.0:5").low == 3  # an integral decimal is an integer


def test_categorical_settings() -> None:
    assert _one("spacing=arithmetic,geometric").choices == ("arithmetic", "geometric")
    assert _one("mode=bounded, rolling").choices == ("bounded", "rolling")
    assert _one("volatility_scaled=true,false").choices == (True, False)
    assert _one("volatility_scaled=false,true").choices == (False, True)
    param = _one("spacing=geometric,arithmetic")
    assert (param.path, param.low, param.high) == (("grid", "spacing"), None, None)


def test_several_specs_keep_their_order() -> None:
    params = parse_params(["spacing=arithmetic,geometric", "levels=3:9", "size=0.001:0.01"])
    assert [param.name for param in params] == ["spacing", "levels", "size"]


def test_no_specs_give_the_defaults_and_specs_replace_them() -> None:
    assert parse_params([]) is DEFAULT_PARAMS
    assert describe(DEFAULT_PARAMS) == "levels 3..20\nspacing_pct 0.05..2 step 0.01"
    assert [param.name for param in parse_params(["size=0.001:0.01"])] == ["size"]


def test_describe() -> None:
    params = parse_params(
        [
            "spacing_pct=0.050:2.0:0.010",
            "levels=4:12:2",
            "trend_bias=0:1",
            "spacing=arithmetic,geometric",
            "volatility_scaled=true,false",
            "max_notional=1e3:5e3:500",
        ]
    )
    assert describe(params).splitlines() == [
        "spacing_pct 0.05..2 step 0.01",
        "levels 4..12 step 2",
        "trend_bias 0..1",
        "spacing arithmetic|geometric",
        "volatility_scaled true|false",
        "max_notional 1000..5000 step 500",
    ]


def test_param_needs_a_range_or_choices() -> None:
    with pytest.raises(ValueError, match="either low and high, or choices"):
        Param(name="levels", path=("grid", "levels"))
    with pytest.raises(ValueError, match="either low and high, or choices"):
        Param(
            name="spacing",
            path=("grid", "spacing"),
            low=Decimal(1),
            high=Decimal(2),
            choices=("arithmetic",),
        )


# --- bad specs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("foo=1:2", f"unknown name 'foo' (allowed: {NAMES})"),
        ("lower=1:2", f"unknown name 'lower' (allowed: {NAMES})"),
        ("order_burst=1:5", f"unknown name 'order_burst' (allowed: {NAMES})"),
        ("levels", f"expected NAME=LOW:HIGH[:STEP] or NAME=A,B (allowed: {NAMES})"),
        ("", f"expected NAME=LOW:HIGH[:STEP] or NAME=A,B (allowed: {NAMES})"),
        ("spacing_pct=a:b", "expected spacing_pct=LOW:HIGH[:STEP] with numbers, such as "
         "spacing_pct=0.1:1:0.05"),
        ("spacing_pct=1", "expected spacing_pct=LOW:HIGH[:STEP] with numbers, such as "
         "spacing_pct=0.1:1:0.05"),
        ("spacing_pct=0.1:1:0.1:2", "expected spacing_pct=LOW:HIGH[:STEP] with numbers, such as "
         "spacing_pct=0.1:1:0.05"),
        ("spacing_pct=0.1:nan", "expected spacing_pct=LOW:HIGH[:STEP] with numbers, such as "
         "spacing_pct=0.1:1:0.05"),
        ("levels=3:inf", "expected levels=LOW:HIGH[:STEP] with numbers, such as levels=3:20"),
        ("size=1e-400:1", "LOW 1e-400 has more digits or range than a float holds"),
        ("size=0.1:0.10000000000000000001", "HIGH 0.10000000000000000001 has more digits or "
         "range than a float holds"),
        ("spacing_pct=1:1", "LOW 1 must be below HIGH 1"),
        ("spacing_pct=2:1", "LOW 2 must be below HIGH 1"),
        ("spacing_pct=1:2:0", "STEP 0 must be above 0"),
        ("spacing_pct=1:2:-0.5", "STEP -0.5 must be above 0"),
        ("spacing_pct=1:2:1.5", "STEP 1.5 is larger than the range 1"),
        ("levels=3.5:6", "levels is an integer setting: LOW must be an integer"),
        ("levels=3:6.5", "levels is an integer setting: HIGH must be an integer"),
        ("levels=3:7:1.5", "levels is an integer setting: STEP must be an integer"),
        ("levels=0:5", "LOW 0 is outside what the config accepts: levels must be an integer "
         "from 2 to 200"),
        ("levels=10:500", "HIGH 500 is outside what the config accepts: levels must be an "
         "integer from 2 to 200"),
        ("spacing_pct=0:1", "LOW 0 is outside what the config accepts: spacing_pct must be a "
         "number > 0 and < 50"),
        ("spacing_pct=1:50", "HIGH 50 is outside what the config accepts: spacing_pct must be a "
         "number > 0 and < 50"),
        ("trend_bias=0:1.5", "HIGH 1.5 is outside what the config accepts: trend_bias must be a "
         "number >= 0 and <= 1"),
        ("size_scaling_pct=-1:5", "LOW -1 is outside what the config accepts: size_scaling_pct "
         "must be a number >= 0"),
        ("max_position=0:1", "LOW 0 is outside what the config accepts: max_position must be a "
         "number > 0"),
        ("spacing_pct=0.05:2:0.1", "HIGH - LOW (1.95) must be a whole number of STEPs "
         "(expected e.g. spacing_pct=0.05:1.95:0.1)"),
        ("levels=3:20:2", "HIGH - LOW (17) must be a whole number of STEPs (expected e.g. "
         "levels=3:19:2)"),
        ("spacing=arith,geometric", "unknown spacing choice 'arith' (expected arithmetic, "
         "geometric)"),
        ("mode=rolling,fixed", "unknown mode choice 'fixed' (expected rolling, bounded)"),
        ("volatility_scaled=yes,no", "unknown volatility_scaled choice 'yes' (expected true, "
         "false)"),
        ("volatility_scaled=True,False", "unknown volatility_scaled choice 'True' (expected "
         "true, false)"),
        ("spacing=geometric", "spacing takes at least two choices separated by commas, such as "
         "spacing=arithmetic,geometric (to fix a setting, set it in the config)"),
        ("mode=rolling:bounded", "mode takes at least two choices separated by commas, such as "
         "mode=rolling,bounded (to fix a setting, set it in the config)"),
        ("volatility_scaled=true,true", "a volatility_scaled choice is given twice (expected "
         "each once, like volatility_scaled=true,false)"),
    ],
)  # fmt: skip
def test_bad_spec_is_a_one_line_error_naming_the_fix(spec: str, message: str) -> None:
    assert _error([spec]) == f"--param {spec}: {message}"


def test_trend_bias_and_spacing_pct_edges_the_config_accepts() -> None:
    assert _one("trend_bias=0:1").high == 1  # le 1: 1 itself is fine
    assert _one("spacing_pct=0.01:49.99").high == Decimal("49.99")
    assert _one("levels=2:200").low == 2


def test_the_same_name_twice() -> None:
    message = _error(["levels=3:20", "spacing_pct=0.1:1", "levels=5:9"])
    assert message == "--param levels=5:9: levels is given twice (one --param per name)"


def test_an_unprintable_spec_is_quoted_so_the_message_stays_one_line() -> None:
    assert _error(["foo\n=1:2"]).startswith("--param 'foo\\n=1:2': unknown name 'foo'")


# --- suggestions on a real study ------------------------------------------------------------

SEARCH = [
    "levels=3:20",
    "spacing_pct=0.05:2:0.01",
    "size=0.001:0.01:0.0005",
    "max_drawdown=100:1000:50",
    "trend_bias=0:1",
    "recenter_threshold_pct=0.1:0.9:0.1",
    "spacing=arithmetic,geometric",
    "mode=rolling,bounded",
    "volatility_scaled=true,false",
]


def _trials(sampler: optuna.samplers.BaseSampler, count: int) -> list[dict]:
    params = parse_params(SEARCH)
    study = optuna.create_study(sampler=sampler)
    seen = []
    for _ in range(count):
        trial = study.ask()
        values = suggest(trial, params)
        # Score something that depends on every value, so TPE has a landscape to model.
        study.tell(trial, values[("grid", "spacing_pct")] * values[("grid", "levels")])
        seen.append(values)
    return seen


@pytest.mark.parametrize(
    "sampler",
    [optuna.samplers.TPESampler(seed=1, n_startup_trials=5), optuna.samplers.RandomSampler(seed=1)],
    ids=["tpe", "random"],
)
def test_suggest_stays_in_range_on_the_step_with_short_decimals(
    sampler: optuna.samplers.BaseSampler,
) -> None:
    trials = _trials(sampler, 40)
    paths = {param.path for param in parse_params(SEARCH)}
    for values in trials:
        assert set(values) == paths
        levels = values[("grid", "levels")]
        assert type(levels) is int and 3 <= levels <= 20
        for name, low, high, step in (
            ("spacing_pct", "0.05", "2", "0.01"),
            ("size", "0.001", "0.01", "0.0005"),
            ("recenter_threshold_pct", "0.1", "0.9", "0.1"),
        ):
            value = values[("grid", name)]
            assert type(value) is float
            exact = Decimal(repr(value))  # the short repr is the exact stepped decimal
            assert Decimal(low) <= exact <= Decimal(high)
            assert (exact - Decimal(low)) % Decimal(step) == 0, (name, value)
            decimals = -exact.as_tuple().exponent
            assert decimals <= max(-Decimal(step).as_tuple().exponent, 1), (name, value)
        drawdown = values[("risk", "max_drawdown")]
        assert type(drawdown) is float and 100 <= drawdown <= 1000 and drawdown % 50 == 0
        bias = values[("grid", "trend_bias")]
        assert type(bias) is float and 0 <= bias <= 1
        assert values[("grid", "spacing")] in ("arithmetic", "geometric")
        assert values[("grid", "mode")] in ("rolling", "bounded")
        assert type(values[("grid", "volatility_scaled")]) is bool
    # The search moves: more than one value of each setting is tried.
    for path in paths:
        assert len({values[path] for values in trials}) > 1, path


def test_suggest_uses_the_param_names_and_integer_steps() -> None:
    params = parse_params(["levels=4:12:2", "spacing=arithmetic,geometric"])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        trial = study.ask()
        values = suggest(trial, params)
        assert values[("grid", "levels")] in (4, 6, 8, 10, 12)
        assert set(trial.params) == {"levels", "spacing"}
        study.tell(trial, 0.0)


def test_suggest_on_the_defaults() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    values = suggest(trial, parse_params([]))
    assert set(values) == {("grid", "levels"), ("grid", "spacing_pct")}
    assert len(repr(values[("grid", "spacing_pct")])) <= 4
