"""The starter config: commented, loads cleanly, documents every knob, never overwrites a file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from gridtui.config.fields import (
    BREAKER_FIELDS,
    DEAD_MAN_FIELDS,
    ENGINE_FIELDS,
    GRID_FIELDS,
    PAPER_FIELDS,
    RISK_FIELDS,
)
from gridtui.config.loader import load_config, load_config_text
from gridtui.config.schema import VenueKind
from gridtui.config.starter import render_starter, write_starter
from gridtui.config.validator import validate

ADDRESS = "0x" + "1f" * 20


def test_starter_validates_and_loads() -> None:
    text = render_starter()
    assert validate(tomllib.loads(text), source="starter") == []
    config = load_config_text(text, base_dir=Path("/x"), source="starter")
    assert config.venue.kind is VenueKind.PAPER
    assert [bot.name for bot in config.bots] == ["btc", "eth"]


def test_starter_shows_every_shared_knob() -> None:
    raw = tomllib.loads(render_starter())
    assert set(raw["engine"]) == set(ENGINE_FIELDS)
    assert set(raw["circuit_breaker"]) == set(BREAKER_FIELDS)
    assert set(raw["dead_man_switch"]) == set(DEAD_MAN_FIELDS)
    assert set(raw["venue"]["paper"]) - {"markets"} == set(PAPER_FIELDS) - {"api_url"}
    # size is per coin; lower/upper only make sense in a bounded bot's own table.
    assert set(raw["grid"]) == set(GRID_FIELDS) - {"size", "lower", "upper"}
    # Position limits are per coin, everything else shared; the exits are the trader's choice:
    # shown commented out (the prices per coin, a stop-loss PnL for every bot).
    exits = {"stop_loss_price", "take_profit_price", "stop_loss_pnl", "leverage", "margin"}
    exits |= {"min_liquidation_distance_pct"}
    assert set(raw["risk"]) == set(RISK_FIELDS) - {"max_position", "max_notional"} - exits
    assert "\n# stop_loss_pnl = 150\n" in render_starter()


def test_every_table_and_most_keys_are_explained() -> None:
    lines = render_starter().splitlines()
    assert lines[0].startswith("# gridtui configuration")
    values = [i for i, line in enumerate(lines) if " = " in line and not line.startswith("#")]
    explained = [i for i in values if lines[i - 1].startswith("#")]
    assert len(explained) >= 0.8 * len(values)
    headers = [i for i, line in enumerate(lines) if line.startswith("[")]
    first_of_each = {lines[i]: i for i in reversed(headers)}
    for header, i in first_of_each.items():
        assert lines[i - 1].startswith("#"), f"{header} has no explanation"


def test_commented_hyperliquid_example_is_valid_once_uncommented() -> None:
    text = render_starter().replace('kind = "paper"', 'kind = "hyperliquid"')
    for key in ("network", "account_address", "key_file"):
        text = text.replace(f"# {key} = ", f"{key} = ")
    text = text.replace("0x" + "0" * 40, ADDRESS)
    config = load_config_text(text, base_dir=Path("/x"), source="starter")
    assert config.venue.kind is VenueKind.HYPERLIQUID
    assert (config.venue.network, config.venue.account_address) == ("testnet", ADDRESS)
    assert config.venue.key_file == Path("~/.config/gridtui/agent.key").expanduser()


def test_write_starter_writes_a_loadable_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    write_starter(path)
    assert path.read_text() == render_starter()
    assert load_config(path).data_dir == tmp_path / "new" / "data"


def test_write_starter_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# my own config\n")
    with pytest.raises(FileExistsError) as caught:
        write_starter(path)
    assert str(caught.value) == (
        f"{path} already exists; refusing to overwrite it (choose another path for the new "
        "config, or move the existing file away first)"
    )
    assert path.read_text() == "# my own config\n"
