"""The validator reports every problem at once, as `path: problem`, and lets no typo through."""

from __future__ import annotations

import tomllib

import attrs
import pytest

from gridtui.config.fields import (
    BOT_FIELDS,
    BREAKER_FIELDS,
    DEAD_MAN_FIELDS,
    ENGINE_FIELDS,
    GRID_FIELDS,
    MARKET_FIELDS,
    PAPER_FIELDS,
    RISK_FIELDS,
    VENUE_FIELDS,
)
from gridtui.config.schema import (
    BotSettings,
    BreakerSettings,
    DeadManSettings,
    EngineSettings,
    GridSettings,
    PaperMarket,
    PaperSettings,
    RiskLimits,
    VenueSettings,
)
from gridtui.config.validator import validate

MARKETS = """
[[venue.paper.markets]]
coin = "BTC"
start_price = 64000
sz_decimals = 5

[[venue.paper.markets]]
coin = "ETH"
start_price = 3200
sz_decimals = 4
"""
GOOD = (
    MARKETS
    + """
[[bots]]
coin = "BTC"
"""
)
HEX64 = "ab" * 32


def problems(text: str) -> list[str]:
    return validate(tomllib.loads(text), source="test.toml")


def test_minimal_paper_config_is_valid() -> None:
    assert problems(GOOD) == []


def test_out_of_range_levels_names_the_bot_and_the_value() -> None:
    text = MARKETS + '[[bots]]\ncoin = "BTC"\n[[bots]]\ncoin = "ETH"\n[bots.grid]\nlevels = 0\n'
    assert problems(text) == ["bots[1].grid.levels: must be an integer >= 2, got 0"]


def test_unknown_venue_lists_the_valid_ones() -> None:
    assert problems(GOOD + '[venue]\nkind = "binance"\n') == [
        "venue.kind: unknown venue 'binance' (expected paper or hyperliquid)"
    ]


def test_typo_in_a_key_is_an_error_with_a_suggestion() -> None:
    assert problems(GOOD + "[grid]\nspacng = 0.2\n") == [
        "grid.spacng: unknown key (expected one of: levels, spacing, spacing_pct, "
        "volatility_scaled, volatility_multiplier, size, size_scaling_pct, mode, lower, upper, "
        "recenter_threshold_pct, trend_bias, direction, initial_position; did you mean 'spacing'?)"
    ]


def test_unknown_top_level_table_is_reported() -> None:
    (problem,) = problems(GOOD + "[grids]\nlevels = 3\n")
    assert problem.startswith("grids: unknown key (expected one of: data_dir, log_level, theme")
    assert problem.endswith("did you mean 'grid'?)")


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("[grid]\nlevels = 201", "grid.levels: must be an integer <= 200, got 201"),
        ('[grid]\nlevels = "ten"', "grid.levels: must be an integer from 2 to 200, got 'ten'"),
        ("[grid]\nlevels = true", "grid.levels: must be an integer from 2 to 200, got true"),
        ("[grid]\nlevels = 2.5", "grid.levels: must be an integer from 2 to 200, got 2.5"),
        ("[grid]\nspacing_pct = 0", "grid.spacing_pct: must be a number > 0, got 0"),
        ("[grid]\nspacing_pct = 50", "grid.spacing_pct: must be a number < 50, got 50"),
        (
            '[grid]\nspacing_pct = "wide"',
            "grid.spacing_pct: must be a number > 0 and < 50, got 'wide'",
        ),
        ("[grid]\nsize = -0.001", "grid.size: must be a number > 0, got -0.001"),
        ("[grid]\nsize = nan", "grid.size: must be a number > 0, got nan"),
        ("[grid]\nsize_scaling_pct = -1", "grid.size_scaling_pct: must be a number >= 0, got -1"),
        ("[grid]\ntrend_bias = 1.5", "grid.trend_bias: must be a number <= 1, got 1.5"),
        (
            '[grid]\nspacing = "log"',
            "grid.spacing: unknown spacing 'log' (expected arithmetic or geometric)",
        ),
        (
            '[grid]\nvolatility_scaled = "yes"',
            "grid.volatility_scaled: must be true or false, got 'yes'",
        ),
        ("[risk]\nmax_position = 0", "risk.max_position: must be a number > 0, got 0"),
        ("[risk]\nmax_open_orders = 0", "risk.max_open_orders: must be an integer >= 1, got 0"),
        (
            "[venue.paper]\nmaker_fee = -0.0001",
            "venue.paper.maker_fee: must be a number >= -0.00003, got -0.0001 (fees are "
            "fractions: 0.00015 = 0.015%; Hyperliquid's largest maker rebate is -0.003%)",
        ),
        (
            "[dead_man_switch]\ntimeout_s = 4",
            "dead_man_switch.timeout_s: must be a number >= 5, got 4",
        ),
        ("[engine]\ncycle_interval_s = 0", "engine.cycle_interval_s: must be a number > 0, got 0"),
        (
            'log_level = "loud"',
            "log_level: unknown log level 'loud' (expected debug, info, warning or error)",
        ),
        ("grid = 5", "grid: must be a table ([grid]), got 5"),
        ("[venue]\nkind = 1", "venue.kind: must be paper or hyperliquid in quotes, got 1"),
        (
            '[venue]\nnetwork = "mainet"',
            "venue.network: unknown network 'mainet' (expected testnet or mainnet)",
        ),
    ],
)
def test_each_bad_value_gives_one_exact_message(snippet: str, expected: str) -> None:
    # The snippet goes first so its keys land in the root or its own table, not in [[bots]].
    assert problems(snippet + "\n" + GOOD) == [expected]


def test_decimal_fields_accept_numeric_strings() -> None:
    assert problems('[grid]\nsize = "0.001"\nspacing_pct = "0.25"\n' + GOOD) == []


def test_mainnet_is_a_valid_network() -> None:
    assert problems('[venue]\nnetwork = "mainnet"\n' + GOOD) == []


def test_no_bots() -> None:
    expected = ["bots: no bots configured (expected at least one [[bots]] entry)"]
    assert problems(MARKETS) == expected
    assert problems("bots = []\n" + MARKETS) == expected


def test_bots_written_as_a_single_table() -> None:
    assert problems(MARKETS + '[bots]\ncoin = "BTC"\n') == [
        "bots: must be an array of tables ([[bots]]), got a table"
    ]


def test_bot_table_of_the_wrong_type_names_the_toml_header() -> None:
    assert problems(GOOD + "grid = [1]\n") == [
        "bots[0].grid: must be a table ([bots.grid]), got an array"
    ]


def test_bot_without_coin() -> None:
    assert problems(MARKETS + '[[bots]]\nname = "x"\n') == [
        "bots[0].coin: required key missing (expected an upper-case coin symbol such as 'BTC')"
    ]


def test_lower_case_coin_is_rejected() -> None:
    assert problems(MARKETS + '[[bots]]\ncoin = "btc"\n') == [
        "bots[0].coin: must be an upper-case coin symbol such as 'BTC', got 'btc'"
    ]


def test_duplicate_bot_names_including_the_coin_default() -> None:
    text = GOOD + '[[bots]]\ncoin = "ETH"\nname = "btc"\n[bots.grid]\nsize = 0.01\n'
    assert problems(text) == [
        "bots[1].name: duplicate bot name 'btc' (expected unique names; also bots[0])"
    ]


def test_two_enabled_bots_on_one_coin() -> None:
    text = MARKETS + '[[bots]]\nname = "a"\ncoin = "BTC"\n[[bots]]\nname = "b"\ncoin = "BTC"\n'
    assert problems(text) == [
        "bots[1].coin: 'BTC' is already traded by enabled bot 'a' "
        "(expected one enabled bot per coin)"
    ]


def test_a_disabled_second_bot_on_the_same_coin_is_fine() -> None:
    text = GOOD + '[[bots]]\nname = "spare"\ncoin = "BTC"\nenabled = false\n'
    assert problems(text) == []


def test_paper_coin_without_market() -> None:
    assert problems(MARKETS + '[[bots]]\ncoin = "SOL"\n') == [
        "bots[0].coin: the paper venue has no market for 'SOL' "
        '(expected a [[venue.paper.markets]] entry with coin = "SOL")'
    ]


def test_market_entries_need_their_fields_and_unique_coins() -> None:
    text = '[[venue.paper.markets]]\ncoin = "BTC"\n' + GOOD
    assert problems(text) == [
        "venue.paper.markets[0].start_price: required key missing "
        "(expected a number > 0 and <= 1000000000)",
        "venue.paper.markets[0].sz_decimals: required key missing "
        "(expected an integer from 0 to 6)",
        "venue.paper.markets[1].coin: duplicate market 'BTC' "
        "(expected one entry per coin; also venue.paper.markets[0])",
    ]


def test_hyperliquid_needs_an_account_address_but_no_paper_market() -> None:
    text = '[venue]\nkind = "hyperliquid"\n[[bots]]\ncoin = "SOL"\n'
    assert problems(text) == [
        "venue.account_address: required for the hyperliquid venue "
        "(expected your public account address: 0x and 40 hex digits)"
    ]
    address = "0x" + "1f" * 20
    assert problems(text.replace("[[bots]]", f'account_address = "{address}"\n[[bots]]')) == []


def test_real_price_paper_needs_no_market_and_a_known_source() -> None:
    text = '[venue.paper]\nprices = "hyperliquid"\n[[bots]]\ncoin = "SOL"\n'
    assert problems(text) == []  # the venue lists SOL; its price rules wait for the venue
    assert problems(text.replace('"hyperliquid"', '"binance"')) == [
        "venue.paper.prices: unknown price source 'binance' (expected generated or hyperliquid)"
    ]
    assert problems(text.replace("[[bots]]", 'network = "devnet"\n[[bots]]')) == [
        "venue.paper.network: unknown network 'devnet' (expected testnet or mainnet)"
    ]


def test_bad_account_address() -> None:
    text = '[venue]\nkind = "hyperliquid"\naccount_address = "0x12"\n[[bots]]\ncoin = "SOL"\n'
    assert problems(text) == [
        "venue.account_address: must be your public account address: 0x and 40 hex digits, "
        "got '0x12'"
    ]


@pytest.mark.parametrize(
    ("snippet", "path"),
    [
        ('[venue]\nprivate_key = "0xabc"', "venue.private_key"),
        ('secret = "hunter2"', "secret"),
        ('[venue.hyperliquid]\napiKey = "abc"', "venue.hyperliquid.apiKey"),
    ],
)
def test_secret_keys_are_refused_without_echoing_the_value(snippet: str, path: str) -> None:
    found = problems(snippet + "\n" + GOOD)
    secret_messages = [p for p in found if p.startswith(f"{path}:")]
    assert secret_messages == [
        f"{path}: secrets are not allowed in the config file (expected the API wallet key in an "
        "environment variable or in a 0600 file named by venue.key_file)"
    ]
    value = snippet.split('"')[1]
    assert all(value not in p for p in found)


def test_secret_inside_a_bot_entry() -> None:
    found = problems(GOOD + 'wallet_key = "abc"\n')
    assert [p.split(":")[0] for p in found] == ["bots[0].wallet_key"]


def test_key_file_is_not_a_secret() -> None:
    address = "0x" + "1f" * 20
    text = f'[venue]\nkind = "hyperliquid"\naccount_address = "{address}"\nkey_file = "k"\n'
    assert problems(text + '[[bots]]\ncoin = "SOL"\n') == []


def test_a_private_key_pasted_as_a_value_is_refused_and_redacted() -> None:
    text = f'[venue]\nkind = "hyperliquid"\naccount_address = "0x{HEX64}"\n[[bots]]\ncoin = "X"\n'
    found = problems(text)
    assert found == [
        "venue.account_address: looks like a private key; secrets are not allowed in the config "
        "file (expected the API wallet key in an environment variable or in a 0600 file named by "
        "venue.key_file)"
    ]
    assert HEX64 not in "".join(found)


def test_bounded_grid_needs_an_ordered_range() -> None:
    bounded = GOOD + '[bots.grid]\nmode = "bounded"\n'
    assert problems(bounded + "lower = 70000\nupper = 60000\n") == [
        "bots[0].grid: bounded mode needs lower < upper, got lower=70000, upper=60000"
    ]
    assert problems(bounded + "lower = 60000\n") == [
        "bots[0].grid: bounded mode needs lower and upper (expected lower < upper prices)"
    ]
    assert problems(bounded + "lower = 60000\nupper = 70000\n") == []


def test_rolling_grid_forbids_a_range_even_when_inherited() -> None:
    text = GOOD.replace("[[bots]]", "[coins.BTC.grid]\nlower = 60000\n\n[[bots]]")
    assert problems(text) == [
        "bots[0].grid: rolling mode forbids lower/upper, got lower=60000 "
        '(expected mode = "bounded" for a fixed range, or remove them)'
    ]


def test_bounded_mode_from_defaults_with_range_from_the_bot() -> None:
    text = '[grid]\nmode = "bounded"\n' + GOOD + "[bots.grid]\nlower = 60000\nupper = 70000\n"
    assert problems(text) == []


def test_coin_override_sections() -> None:
    text = GOOD + "[coins.btc.grid]\nsize = 1\n[coins.SOL.risk]\nmax_position = 1\n"
    assert problems(text) == [
        "coins.btc: coin symbols are upper-case, got 'btc' (expected 'BTC')",
        "coins.SOL: no [[bots]] entry trades 'SOL' (expected one of: BTC)",
    ]
    assert problems(GOOD + "[coins.BTC.grids]\nsize = 1\n") == [
        "coins.BTC.grids: unknown key (expected one of: grid, risk; did you mean 'grid'?)"
    ]
    assert problems(GOOD + "[coins.BTC.grid]\nsize = 0\n") == [
        "coins.BTC.grid.size: must be a number > 0, got 0"
    ]


def test_contradicting_pairs() -> None:
    text = "[circuit_breaker]\ncooldown_s = 10\nmax_cooldown_s = 5\n"
    text += "[engine]\ncycle_interval_s = 90\n" + GOOD
    assert problems(text) == [
        "circuit_breaker.max_cooldown_s: must be >= circuit_breaker.cooldown_s (10.0), got 5.0",
        "dead_man_switch.timeout_s: must be > engine.cycle_interval_s (90.0), got 60.0 "
        "(expected several cycles, or the exchange cancels between refreshes)",
    ]


def test_five_distinct_mistakes_give_five_messages() -> None:
    text = (
        """
theme = 7
[venue]
kind = "paper"
api_key = "abc"
[grid]
levels = 1
spacng = 0.2
"""
        + MARKETS
        + """
[[bots]]
coin = "SOL"
"""
    )
    found = problems(text)
    assert len(found) == 5, found
    assert [p.split(":")[0] for p in found] == [
        "venue.api_key",
        "theme",
        "grid.levels",
        "grid.spacng",
        "bots[0].coin",
    ]


@pytest.mark.parametrize(
    ("fields", "cls", "tables"),
    [
        (ENGINE_FIELDS, EngineSettings, set()),
        (BREAKER_FIELDS, BreakerSettings, set()),
        (DEAD_MAN_FIELDS, DeadManSettings, set()),
        (VENUE_FIELDS, VenueSettings, {"paper"}),
        (PAPER_FIELDS, PaperSettings, {"markets"}),
        (MARKET_FIELDS, PaperMarket, set()),
        (GRID_FIELDS, GridSettings, set()),
        (RISK_FIELDS, RiskLimits, set()),
        (BOT_FIELDS, BotSettings, {"grid", "risk"}),
    ],
)
def test_every_schema_field_has_a_rule(fields: dict, cls: type, tables: set[str]) -> None:
    """A field added to schema.py without a rule here would be impossible to configure."""
    assert set(fields) | tables == set(attrs.fields_dict(cls))


def test_an_initial_position_must_suit_the_direction_and_the_position_limit() -> None:
    def with_grid(grid: str) -> list[str]:
        return problems("[grid]\n" + grid + "\n[risk]\nmax_position = 1\n" + GOOD)

    assert with_grid('direction = "long"\ninitial_position = 0.5') == []
    assert with_grid("initial_position = -0.5") == []  # a neutral grid may start short
    assert with_grid('direction = "long"\ninitial_position = -0.5') == [
        "grid.initial_position for bots[0]: -0.5 is against the long direction "
        "(grid.direction for bots[0]), whose inventory never crosses zero (expected "
        "initial_position > 0, or 0)"
    ]
    assert with_grid('direction = "short"\ninitial_position = 2') == [
        "grid.initial_position for bots[0]: 2 is against the short direction "
        "(grid.direction for bots[0]), whose inventory never crosses zero (expected "
        "initial_position < 0, or 0)"
    ]
    assert with_grid("initial_position = -1.5") == [
        "grid.initial_position for bots[0]: -1.5 is beyond the position limit 1 "
        "(risk.max_position for bots[0]; expected |initial_position| <= max_position)"
    ]


def test_an_initial_position_below_the_minimum_order_value_is_refused() -> None:
    text = "[grid]\ninitial_position = 0.0001\n[risk]\nmax_position = 1\n" + GOOD
    assert problems(text) == [
        "grid.initial_position for bots[0]: 0.0001 BTC is worth 6.4 at the start price 64000, "
        "below the venue's minimum order value 10 (expected 0, or a position worth at least "
        "that)"
    ]
