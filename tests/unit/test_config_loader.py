"""load_config: exact Decimals, merge order, path resolution, one-line errors, the starter."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gridtui.config.loader import ConfigError, load_config, load_config_text, summary
from gridtui.config.schema import AppConfig, GridMode, Spacing, VenueKind
from gridtui.config.starter import render_starter

ADDRESS = "0x" + "1f" * 20

MARKETS = """
[[venue.paper.markets]]
coin = "BTC"
start_price = 64000
sz_decimals = 5

[[venue.paper.markets]]
coin = "ETH"
start_price = "3200.5"
sz_decimals = 4
volatility = 0.5
candles_file = "candles/eth.csv"
"""


def load(text: str, base_dir: Path = Path("/cfg")) -> AppConfig:
    return load_config_text(text, base_dir=base_dir, source="test.toml")


def test_decimals_are_exact_whether_written_as_numbers_or_strings() -> None:
    text = '[grid]\nsize = 0.1\nspacing_pct = "0.1"\n' + MARKETS + '[[bots]]\ncoin = "BTC"\n'
    grid = load(text).bots[0].grid
    # Decimal(0.1) would be 0.1000000000000000055511151231257827...: compare the exact text.
    assert str(grid.size) == "0.1"
    assert str(grid.spacing_pct) == "0.1"
    assert isinstance(grid.size, Decimal)


def test_merge_precedence_defaults_then_coin_then_bot() -> None:
    text = (
        "[grid]\nlevels = 5\nspacing_pct = 0.3\nsize = 0.004\n"
        "[risk]\nmax_position = 2\nmax_drawdown = 50\n"
        "[coins.BTC.grid]\nlevels = 7\nsize = 0.003\n"
        "[coins.BTC.risk]\nmax_position = 0.5\n"
        + MARKETS
        + '[[bots]]\ncoin = "BTC"\n[bots.grid]\nlevels = 9\n[bots.risk]\nmax_drawdown = 25\n'
        + '[[bots]]\ncoin = "ETH"\n'
    )
    btc, eth = load(text).bots
    assert (btc.grid.levels, btc.grid.size, btc.grid.spacing_pct) == (
        9,
        Decimal("0.003"),
        Decimal("0.3"),
    )
    assert (btc.risk.max_position, btc.risk.max_drawdown) == (Decimal("0.5"), Decimal(25))
    assert (eth.grid.levels, eth.grid.size, eth.risk.max_position) == (
        5,
        Decimal("0.004"),
        Decimal(2),
    )
    # Keys nobody set keep the schema defaults.
    assert eth.risk.max_open_orders == 40
    assert eth.grid.mode is GridMode.ROLLING


def test_enums_names_and_bounded_range_are_built() -> None:
    text = (
        MARKETS
        + '[[bots]]\nname = "swing-1"\ncoin = "BTC"\nenabled = false\n[bots.grid]\n'
        + 'spacing = "geometric"\nmode = "bounded"\nlower = 60000\nupper = "70000.5"\n'
        + '[[bots]]\ncoin = "ETH"\n[bots.grid]\nsize = 0.01\n'
    )
    swing, eth = load(text).bots
    assert (swing.name, swing.enabled, eth.name, eth.enabled) == ("swing-1", False, "eth", True)
    assert swing.grid.spacing is Spacing.GEOMETRIC
    assert swing.grid.mode is GridMode.BOUNDED
    assert (swing.grid.lower, swing.grid.upper) == (Decimal(60000), Decimal("70000.5"))


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text('data_dir = "journals"\n' + MARKETS + '[[bots]]\ncoin = "BTC"\n')
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("configs/config.toml"))
    assert config.data_dir == folder / "journals"
    assert config.venue.paper.state_file == folder / "data" / "paper.db"  # the default, resolved
    btc, eth = config.venue.paper.markets
    assert btc.candles_file is None
    assert eth.candles_file == folder / "candles" / "eth.csv"
    assert (eth.start_price, eth.volatility) == (Decimal("3200.5"), 0.5)
    assert config.source == Path("configs/config.toml")


def test_absolute_and_home_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    text = (
        f'data_dir = "{tmp_path / "abs"}"\n[venue]\nkind = "hyperliquid"\n'
        f'network = "mainnet"\naccount_address = "{ADDRESS}"\nkey_file = "~/agent.key"\n'
        '[[bots]]\ncoin = "SOL"\n'
    )
    config = load(text)
    assert config.data_dir == tmp_path / "abs"
    assert config.venue.key_file == tmp_path / "home" / "agent.key"
    assert config.venue.kind is VenueKind.HYPERLIQUID
    assert (config.venue.network, config.venue.account_address) == ("mainnet", ADDRESS)


def test_engine_breaker_dead_man_and_top_level_values() -> None:
    text = (
        'log_level = "debug"\ntheme = "light"\n[engine]\ncycle_interval_s = 2\n'
        "[circuit_breaker]\nerror_threshold = 3\n[dead_man_switch]\nenabled = false\n"
        'timeout_s = 30\n[venue.paper]\nmaker_fee = "0.0001"\nspeed = 1\n'
        + MARKETS
        + '[[bots]]\ncoin = "BTC"\n'
    )
    config = load(text)
    assert (config.log_level, config.theme) == ("debug", "light")
    assert config.engine.cycle_interval_s == 2.0
    assert isinstance(config.engine.cycle_interval_s, float)
    assert config.breaker.error_threshold == 3
    assert (config.dead_man.enabled, config.dead_man.timeout_s) == (False, 30.0)
    assert config.venue.paper.maker_fee == Decimal("0.0001")
    assert config.venue.paper.speed == 1.0


def test_validation_problems_become_one_line_each_prefixed_by_the_file() -> None:
    with pytest.raises(ConfigError) as caught:
        load('[grid]\nlevels = 0\n[venue]\nkind = "binance"\n[[bots]]\ncoin = "BTC"\n')
    assert str(caught.value).splitlines() == [
        "test.toml: grid.levels: must be an integer >= 2, got 0",
        "test.toml: venue.kind: unknown venue 'binance' (expected paper or hyperliquid)",
    ]
    assert caught.value.source == "test.toml"
    assert len(caught.value.problems) == 2


def test_toml_syntax_error_names_line_and_column() -> None:
    with pytest.raises(ConfigError) as caught:
        load('data_dir = "data"\n[grid]\nlevels = \n')
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("test.toml: line 3, column 10: invalid TOML: ")
    assert message.endswith('(strings need "quotes", tables [brackets], one key = value per line)')


def test_toml_error_at_end_of_file_still_has_a_position() -> None:
    with pytest.raises(ConfigError) as caught:
        load('a = 1\ntheme = "dark')
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("test.toml: line 2, column 14: invalid TOML: ")
    assert "close every string" in message


def test_missing_unreadable_and_binary_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert str(caught.value) == (
        f"{missing}: file not found (run `gridtui init` to write a starter config, "
        "or give the path of one)"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}: is a folder, not a file")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b'theme = "\xff"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(binary)
    assert str(caught.value) == (
        f"{binary}: not UTF-8 text (bad byte at offset 9; save the file as UTF-8)"
    )


def test_summary_line() -> None:
    text = (
        MARKETS
        + '[[bots]]\ncoin = "BTC"\n[bots.grid]\nlevels = 10\n'
        + '[[bots]]\ncoin = "ETH"\n[bots.grid]\nlevels = 8\nsize = 0.01\n'
        + '[[bots]]\nname = "btc2"\ncoin = "BTC"\nenabled = false\n'
    )
    assert summary(load(text)) == (
        "test.toml: OK — paper venue, 3 bots (btc: BTC 10×2 levels, eth: ETH 8×2 levels, "
        "btc2: BTC 5×2 levels (disabled))"
    )
    live = f'[venue]\nkind = "hyperliquid"\nnetwork = "mainnet"\naccount_address = "{ADDRESS}"\n'
    assert summary(load(live + '[[bots]]\ncoin = "SOL"\n')) == (
        "test.toml: OK — hyperliquid mainnet venue (real funds), 1 bot (sol: SOL 5×2 levels)"
    )


def test_starter_config_loads_and_is_sized_for_a_new_user() -> None:
    """What `gridtui init` writes (and config.toml shipped as); the repository's config.toml
    itself is the trader's to edit, so no test reads it."""
    config = load_config_text(render_starter(), base_dir=Path("/x"), source="starter")
    assert config.venue.kind is VenueKind.PAPER
    markets = {market.coin: market for market in config.venue.paper.markets}
    assert (markets["BTC"].start_price, markets["BTC"].sz_decimals) == (Decimal(64000), 5)
    assert (markets["ETH"].start_price, markets["ETH"].sz_decimals) == (Decimal(3200), 4)
    assert [(bot.coin, bot.enabled) for bot in config.bots] == [("BTC", True), ("ETH", True)]
    for bot in config.bots:
        price, grid, risk = markets[bot.coin].start_price, bot.grid, bot.risk
        assert grid.size * price >= 10, "every order must clear Hyperliquid's $10 minimum"
        assert grid.size == grid.size.quantize(Decimal(1).scaleb(-markets[bot.coin].sz_decimals))
        assert 8 <= grid.levels <= 10
        assert Decimal("0.1") <= grid.spacing_pct <= Decimal("0.15")
        one_side = grid.levels * grid.size
        assert risk.max_position >= 3 * one_side
        assert risk.max_notional >= risk.max_position * price
        assert risk.max_open_orders >= 2 * grid.levels
        assert risk.order_burst >= 2 * grid.levels
    assert (config.dead_man.enabled, config.dead_man.timeout_s) == (True, 60.0)
    paper = config.venue.paper
    assert (paper.speed, paper.tick_interval_s) == (60.0, 0.25)
    assert {market.volatility for market in paper.markets} == {0.8}
