"""check-config refuses what cannot work: each value may be well-formed and still be unusable
(a price the rounding rules cannot hold, a grid that loses on every round trip, an order below
the venue's minimum, a folder where a file must be). Issue 8, failure 10."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from gridtui.cli import main
from gridtui.config.loader import ConfigError, load_config
from gridtui.config.validator import validate

ADDRESS = "0x" + "1f" * 20
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
BTC_BOT = '[[bots]]\ncoin = "BTC"\n'
LIVE = f'[venue]\nkind = "hyperliquid"\naccount_address = "{ADDRESS}"\n'


def problems(text: str) -> list[str]:
    return validate(tomllib.loads(text), source="test.toml")


def test_a_sane_paper_config_has_no_problem() -> None:
    assert problems(MARKETS + BTC_BOT + '[[bots]]\ncoin = "ETH"\n[bots.grid]\nsize = 0.01\n') == []


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (
            "start_price = 1e30",
            "venue.paper.markets[0].start_price: must be a number <= 1000000000, got 1e+30 "
            "(prices beyond that do not fit the venue's rounding rules)",
        ),
        (
            "start_price = 0.000001",
            "venue.paper.markets[0].start_price: 0.000001 is below one price tick (0.1 with "
            "sz_decimals = 5: prices carry at most 6 - sz_decimals decimals; expected a start "
            "price of at least 0.1)",
        ),
    ],
)
def test_start_price_must_fit_the_rounding_rules(snippet: str, expected: str) -> None:
    text = MARKETS.replace("start_price = 64000", snippet) + BTC_BOT
    assert problems(text) == [expected]


def test_bounded_range_is_bounded_too() -> None:
    text = MARKETS + BTC_BOT + '[bots.grid]\nmode = "bounded"\nlower = 1\nupper = 1e30\n'
    assert problems(text) == [
        "bots[0].grid.upper: must be a number <= 1000000000, got 1e+30 "
        "(prices beyond that do not fit the venue's rounding rules)"
    ]


def test_spacing_below_the_round_trip_fee_loses_on_every_trip() -> None:
    text = MARKETS + BTC_BOT + "[bots.grid]\nspacing_pct = 0.02\n"
    assert problems(text) == [
        "bots[0].grid.spacing_pct: 0.02% is at or below the round-trip fee of 0.03% "
        "(2 × venue.paper.maker_fee 0.00015), so every round trip loses money "
        "(expected a spacing well above 0.03%)"
    ]
    cheaper = text.replace("[[bots]]", '[venue.paper]\nmaker_fee = "0.00005"\n\n[[bots]]', 1)
    assert problems(cheaper) == []


def test_spacing_on_the_live_venue_uses_hyperliquids_base_maker_fee() -> None:
    text = LIVE + '[[bots]]\ncoin = "SOL"\n[bots.grid]\nspacing_pct = 0.03\n'
    assert problems(text) == [
        "bots[0].grid.spacing_pct: 0.03% is at or below the round-trip fee of 0.03% "
        "(2 × Hyperliquid's base maker fee 0.015%), so every round trip loses money "
        "(expected a spacing well above 0.03%)"
    ]


def test_bounded_grid_spacing_is_derived_from_the_range() -> None:
    text = MARKETS + BTC_BOT + '[bots.grid]\nmode = "bounded"\nlower = 63990\nupper = 64010\n'
    (problem,) = problems(text)
    assert problem.startswith("bots[0].grid: the bounded range 63990..64010 over 5 levels per")
    assert "round-trip fee of 0.03%" in problem


def test_spacing_below_one_price_tick_collapses_the_levels() -> None:
    text = MARKETS + BTC_BOT + "[bots.grid]\nspacing_pct = 0.001\n[venue.paper]\nmaker_fee = 0\n"
    assert problems(text) == [
        "bots[0].grid.spacing_pct: 0.001% is below one price tick at the start price 64000 "
        "(1 = 0.0016%), so the levels collapse to one price (expected at least 0.0016%)"
    ]


def test_arithmetic_grid_cannot_reach_zero() -> None:
    text = MARKETS + BTC_BOT + "[bots.grid]\nlevels = 50\nspacing_pct = 2\n"
    assert problems(text) == [
        "bots[0].grid: 50 levels × 2% reach 100% below the center, so the lowest buy would have "
        "a price of zero or less (expected levels × spacing_pct below 100, or spacing = "
        '"geometric")'
    ]


def test_order_below_the_ten_dollar_minimum() -> None:
    text = MARKETS + '[[bots]]\ncoin = "ETH"\n'
    assert problems(text) == [
        "bots[0].grid.size (default): 0.001 ETH at the lowest buy level 3168 (start price 3200 "
        "on the paper venue) is worth $3.17, below Hyperliquid's $10 minimum order value, so the "
        "bot would silently place a larger size (expected size >= 0.0032)"
    ]


def test_order_value_is_not_checked_where_the_price_is_unknown() -> None:
    assert problems(LIVE + '[[bots]]\ncoin = "SOL"\n[bots.grid]\nsize = 0.000001\n') == []


def test_size_above_max_position_can_never_be_placed() -> None:
    text = MARKETS + BTC_BOT + "[bots.grid]\nsize = 0.5\n[bots.risk]\nmax_position = 0.1\n"
    assert problems(text) == [
        "bots[0].grid.size: 0.5 is above the position limit 0.1 (bots[0].risk.max_position), "
        "so no order could ever be placed (expected size <= max_position)"
    ]


def test_a_message_names_the_line_that_set_the_value() -> None:
    """Sizes live in [coins.X.grid], spacing in [grid]: the message points there, and says
    which bot the shared line fails for."""
    text = (
        "[grid]\nspacing_pct = 0.02\n[coins.ETH.grid]\nsize = 0.001\n[coins.ETH.risk]\n"
        "max_position = 0.0005\n" + MARKETS + '[[bots]]\ncoin = "ETH"\n'
    )
    assert [p.split(": ")[0] for p in problems(text)] == [
        "grid.spacing_pct for bots[0]",
        "coins.ETH.grid.size for bots[0]",
        "coins.ETH.grid.size for bots[0]",
    ]
    assert (
        "above the position limit 0.0005 (coins.ETH.risk.max_position for bots[0])"
        in (problems(text)[2])
    )


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("maker_fee = 0.05", "venue.paper.maker_fee: must be a number < 0.01, got 0.05 (fees are"),
        ("maker_fee = -0.01", "venue.paper.maker_fee: must be a number >= -0.00003, got -0.01"),
        ("taker_fee = 0.01", "venue.paper.taker_fee: must be a number < 0.01, got 0.01"),
        ("taker_fee = -0.0001", "venue.paper.taker_fee: must be a number >= 0, got -0.0001"),
        ("speed = 1e9", "venue.paper.speed: must be a number <= 100000, got 1000000000.0"),
        ("speed = 0", "venue.paper.speed: must be a number > 0, got 0"),
    ],
)
def test_absurd_fees_and_speed(snippet: str, expected: str) -> None:
    (problem,) = problems(f"[venue.paper]\n{snippet}\n" + MARKETS + BTC_BOT)
    assert problem.startswith(expected), problem


def test_a_small_maker_rebate_is_fine() -> None:
    assert problems('[venue.paper]\nmaker_fee = "-0.00002"\n' + MARKETS + BTC_BOT) == []


def test_unknown_key_is_unknown_not_a_secret() -> None:
    found = problems("bogus_key = 1\n" + MARKETS + BTC_BOT)
    assert len(found) == 1
    assert found[0].startswith("bogus_key: unknown key (expected one of: data_dir, ")
    assert "secret" not in found[0]
    typo = problems('[venue]\napi_ur = "http://x"\n' + MARKETS + BTC_BOT)
    assert typo == [
        "venue.api_ur: unknown key (expected one of: kind, network, api_url, account_address, "
        "key_file, paper; did you mean 'api_url'?)"
    ]


@pytest.mark.parametrize("name", ["private_key", "secret", "api_key", "wallet_key", "apiKey"])
def test_key_like_names_are_still_secrets(name: str) -> None:
    found = problems(f'{name} = "x"\n' + MARKETS + BTC_BOT)
    assert found == [
        f"{name}: secrets are not allowed in the config file (expected the API wallet key in an "
        "environment variable or in a 0600 file named by venue.key_file)"
    ]


# -- files and folders: checked by check-config (and before a run), relative to the config ----


def write(tmp_path: Path, extra_top: str = "", extra_paper: str = "", market: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        extra_top
        + "\n[venue.paper]\n"
        + extra_paper
        + MARKETS.replace("sz_decimals = 5\n", f"sz_decimals = 5\n{market}", 1)
        + BTC_BOT
    )
    return path


def file_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, check_files=True)
    return caught.value.problems


def test_files_are_only_checked_when_asked(tmp_path: Path) -> None:
    load_config(write(tmp_path, market='candles_file = "nope.csv"\n'))


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("")
    assert file_problems(write(tmp_path)) == [
        f"data_dir: {tmp_path / 'data'} is a file, not a folder (expected a folder for the "
        "journals: move the file away or choose another data_dir)",
        f"venue.paper.state_file: cannot create {tmp_path / 'data' / 'paper.db'}: "
        f"{tmp_path / 'data'} is a file, not a folder (expected a path in a writable folder)",
    ]


def test_data_dir_that_cannot_be_created(tmp_path: Path) -> None:
    path = write(tmp_path, 'data_dir = "/proc/gridtui-data"\n', 'state_file = "paper.db"\n')
    (problem,) = file_problems(path)
    assert problem.startswith("data_dir: cannot create /proc/gridtui-data: ")
    assert problem.endswith("(expected a folder this user can write, or one it can create)")
    assert not Path("/proc/gridtui-data").exists()


def test_a_missing_data_dir_is_fine_and_not_left_behind(tmp_path: Path) -> None:
    path = write(tmp_path, 'data_dir = "a/b/c"\n')
    config = load_config(path, check_files=True)
    assert config.data_dir == tmp_path / "a/b/c"
    assert not (tmp_path / "a").exists()


def test_state_file_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "data" / "paper.db").mkdir(parents=True)
    assert file_problems(write(tmp_path)) == [
        f"venue.paper.state_file: {tmp_path / 'data' / 'paper.db'} is a folder (expected the "
        "path of the paper venue's database file; it is created when missing)"
    ]


def test_state_file_in_a_folder_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    path = write(tmp_path, extra_paper='state_file = "plain/sub/paper.db"\n')
    assert file_problems(path) == [
        f"venue.paper.state_file: cannot create {tmp_path / 'plain/sub/paper.db'}: "
        f"{tmp_path / 'plain'} is a file, not a folder (expected a path in a writable folder)"
    ]


def test_candles_file_missing_or_a_folder(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    path = write(tmp_path, market='candles_file = "nope.csv"\n')
    assert file_problems(path) == [
        f"venue.paper.markets[0].candles_file: {tmp_path / 'nope.csv'} not found (expected a "
        "CSV of time_ms,open,high,low,close,volume; relative paths start at the config's folder)"
    ]
    path = write(tmp_path, market='candles_file = "dir.csv"\n')
    assert file_problems(path) == [
        f"venue.paper.markets[0].candles_file: {tmp_path / 'dir.csv'} is a folder (expected a "
        "CSV of time_ms,open,high,low,close,volume; relative paths start at the config's folder)"
    ]


def test_paper_files_are_ignored_on_the_live_venue(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        LIVE + '[venue.paper]\nstate_file = "dir"\n[[bots]]\ncoin = "SOL"\n[bots.grid]\nsize = 1\n'
    )
    (tmp_path / "dir").mkdir()
    load_config(path, check_files=True)


def test_check_config_lists_every_problem_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").write_text("")
    path = write(
        tmp_path,
        "bogus_key = 1\n",
        "speed = 1e9\n",
        'candles_file = "nope.csv"\n',
    )
    path.write_text(path.read_text().replace("start_price = 64000", "start_price = 1e30"))
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert [line.split(": ")[1] for line in lines] == [
        "bogus_key",
        "venue.paper.speed",
        "venue.paper.markets[0].start_price",
        "data_dir",
        "venue.paper.state_file",
        "venue.paper.markets[0].candles_file",
    ]
    assert all(line.startswith(f"{path}: ") for line in lines)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "http:///v1",
            "venue.api_url: must be an http:// or https:// URL with a host, such as "
            "http://127.0.0.1:3001, got 'http:///v1'",
        ),
        (
            "http://h:99999",
            "venue.api_url: must be an http:// or https:// URL with a host, such as "
            "http://127.0.0.1:3001, got 'http://h:99999'",
        ),
    ],
)
def test_api_url_needs_a_host_and_a_port_that_exists(value: str, expected: str) -> None:
    assert problems(f'[venue]\napi_url = "{value}"\n' + MARKETS + BTC_BOT) == [expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a\\u0000b", "data_dir: must be a file path in quotes without control characters, got"),
        (
            "~nobody9/data",
            "data_dir: cannot expand '~nobody9': no such user (expected a full path, or ~/... "
            "for your own home folder)",
        ),
    ],
)
def test_paths_the_os_cannot_take_are_refused(value: str, expected: str) -> None:
    (problem,) = problems(f'data_dir = "{value}"\n' + MARKETS + BTC_BOT)
    assert problem.startswith(expected), problem


def test_a_path_too_long_for_the_os_is_one_problem(tmp_path: Path) -> None:
    path = write(tmp_path, f'data_dir = "{"a" * 300}"\n')
    (problem,) = file_problems(path)
    assert problem.startswith(f"data_dir: cannot use {tmp_path / ('a' * 300)}: File name too long")
