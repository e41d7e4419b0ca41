"""with_bot_settings / write_config and the bot-level edits (add, enable, disable, remove): a
bot's settings go into its own tables, and every other byte of the trader's file stays as it was."""

from __future__ import annotations

import difflib
import os
import stat
from decimal import Decimal
from pathlib import Path

import pytest

from gridtui.cli import main
from gridtui.config import edit as config_edit
from gridtui.config.edit import (
    ConfigEditError,
    with_bot_added,
    with_bot_enabled,
    with_bot_settings,
    without_bot,
    write_config,
)
from gridtui.config.loader import load_config_text
from gridtui.config.schema import AppConfig, BotSettings, Spacing

CONFIG = """\
# gridtui test config: two bots on the paper venue.
data_dir = "data"
log_level = "info"

[venue]
kind = "paper"

# The simulated exchange.
[venue.paper]
seed = 7
state_file = "data/paper.db"
starting_balance = 100000
maker_fee = 0.00015
taker_fee = 0.00045

[[venue.paper.markets]]
coin = "BTC"
start_price = 64000
sz_decimals = 5

[[venue.paper.markets]]
coin = "ETH"
start_price = 3200
sz_decimals = 4

# Grid defaults for every bot.
[grid]
# Orders per side (2 to 200).
levels = 8
# arithmetic = equal price steps; geometric = equal percentage steps.
spacing = 'arithmetic'
spacing_pct = 0.15   # keep it above the round-trip fee
trend_bias = 0

# Risk limits for every bot.
[risk]
max_open_orders = 40
order_burst = 40
max_drawdown = 200
daily_loss_limit = 100

# Settings for every bot trading BTC.
[coins.BTC.grid]
# Order size in BTC.
size = "0.0005"

[coins.BTC.risk]
max_position = 0.02
max_notional = 1500

[coins.ETH.grid]
size = 0.01

[coins.ETH.risk]
max_position = 0.3
max_notional = 1200

# One bot per coin.
[[bots]]
name = "btc"
coin = "BTC"

# This bot's own settings win over everything above.
[bots.grid]
levels = 10  # ten per side
spacing_pct = 0.12

# The second bot has no settings of its own.
[[bots]]
name = "eth"
coin = "ETH"
enabled = true
"""

VALUES = {
    ("grid", "levels"): 12,
    ("grid", "spacing_pct"): 0.25,
    ("grid", "spacing"): "geometric",
    ("grid", "volatility_scaled"): True,
    ("risk", "max_drawdown"): 150.5,
    ("risk", "order_burst"): 30,
}
NEW_RISK = ["\n", "[bots.risk]\n", "max_drawdown = 150.5\n", "order_burst = 30\n"]


def load(text: str) -> AppConfig:
    return load_config_text(text, base_dir=Path("/cfg"), source="test.toml")


def changes(before: str, after: str) -> list[tuple[list[str], list[str]]]:
    """Each run of lines that differs: (the old lines, the new lines), in file order."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    return [
        (old[i1:i2], new[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    ]


def assert_has(bot: BotSettings) -> None:
    assert bot.grid.levels == 12
    assert bot.grid.spacing_pct == Decimal("0.25")
    assert bot.grid.spacing is Spacing.GEOMETRIC
    assert bot.grid.volatility_scaled is True
    assert bot.risk.max_drawdown == Decimal("150.5")
    assert bot.risk.order_burst == 30


def test_a_bot_with_a_grid_table_is_changed_in_place_and_gets_a_risk_table() -> None:
    out = with_bot_settings(CONFIG, "btc", VALUES)

    # Changed in place (the comment kept), then added at the end of [bots.grid], then the new
    # [bots.risk] above the blank line and the comment that open the next bot.
    assert changes(CONFIG, out) == [
        (
            ["levels = 10  # ten per side\n", "spacing_pct = 0.12\n"],
            [
                "levels = 12  # ten per side\n",
                "spacing_pct = 0.25\n",
                'spacing = "geometric"\n',
                "volatility_scaled = true\n",
                *NEW_RISK,
            ],
        )
    ]
    before, after = load(CONFIG).bots, load(out).bots
    assert_has(after[0])
    assert after[1] == before[1]
    assert after[0].grid.size == before[0].grid.size  # the coin's settings still reach it


def test_a_bot_without_tables_gets_both_after_its_entry() -> None:
    out = with_bot_settings(CONFIG, "eth", VALUES)

    new_grid = ["\n", "[bots.grid]\n", "levels = 12\n", "spacing_pct = 0.25\n"]
    new_grid += ['spacing = "geometric"\n', "volatility_scaled = true\n"]
    assert changes(CONFIG, out) == [([], [*new_grid, *NEW_RISK])]
    assert out.startswith(CONFIG)
    before, after = load(CONFIG).bots, load(out).bots
    assert after[0] == before[0]
    assert_has(after[1])


def test_comments_closing_a_bot_stay_on_the_header_they_describe() -> None:
    text = CONFIG.replace(
        "spacing_pct = 0.12\n", "spacing_pct = 0.12\n# trend_bias = 0.5  (tried, too slow)\n"
    )
    grid, risk = {("grid", "trend_bias"): 1}, {("risk", "order_burst"): 30}

    # The new key goes right after the last one, the commented-out setting stays in the table,
    # the blank line and the comment of the next bot stay above the next bot: in either order.
    for values in ({**grid, **risk}, {**risk, **grid}):
        out = with_bot_settings(text, "btc", values)
        assert changes(text, out) == [
            ([], ["trend_bias = 1\n"]),
            ([], ["\n", "[bots.risk]\n", "order_burst = 30\n"]),
        ]
        assert (
            "spacing_pct = 0.12\ntrend_bias = 1\n# trend_bias = 0.5  (tried, too slow)\n"
            "\n[bots.risk]\norder_burst = 30\n"
            "\n# The second bot has no settings of its own.\n[[bots]]\n"
        ) in out


def test_values_are_written_as_toml_types() -> None:
    values = {
        ("grid", "levels"): 9,
        ("grid", "spacing_pct"): 0.00001,
        ("grid", "volatility_multiplier"): 2.0,
        ("grid", "mode"): "rolling",
        ("grid", "volatility_scaled"): False,
    }
    out = with_bot_settings(CONFIG, "eth", values)

    added = out.removeprefix(CONFIG)
    assert added == (
        "\n[bots.grid]\nlevels = 9\nspacing_pct = 0.00001\nvolatility_multiplier = 2.0\n"
        'mode = "rolling"\nvolatility_scaled = false\n'
    )


def test_a_windows_file_keeps_its_line_endings() -> None:
    text = CONFIG.replace("\n", "\r\n")
    for name in ("btc", "eth"):
        out = with_bot_settings(text, name, VALUES)

        assert "\n" not in out.replace("\r\n", "")
        assert_has(load(out).bots[0 if name == "btc" else 1])


def test_other_layouts_still_set_the_bots_own_settings() -> None:
    """Dotted keys, inline tables and a file without a final newline: tomlkit's layout, but the
    values land in the bot's own tables (each edit is re-read and checked)."""
    tail = CONFIG[: CONFIG.index("# One bot per coin.")]
    bots = (
        '[[bots]]\nname = "btc"\ncoin = "BTC"\ngrid.levels = 10\nrisk = { order_burst = 20 }\n\n'
        '[[bots]]\nname = "eth"\ncoin = "ETH"'
    )
    for name in ("btc", "eth"):
        out = with_bot_settings(tail + bots, name, VALUES)
        after = load(out).bots
        assert_has(after[0 if name == "btc" else 1])
        assert out.startswith(tail)


def test_an_edit_that_does_not_land_in_the_bots_tables_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The re-read check: were tomlkit to drop or misplace a value, the trial must not run on
    a config without it."""
    monkeypatch.setattr(config_edit, "_set_key", lambda table, key, item: None)

    with pytest.raises(ConfigEditError, match=r"^could not set grid\.levels in bot btc's own"):
        with_bot_settings(CONFIG, "btc", {("grid", "levels"): 12})


def test_an_unknown_bot_names_the_bots() -> None:
    with pytest.raises(ConfigEditError) as info:
        with_bot_settings(CONFIG, "sol", VALUES)

    assert str(info.value) == "bot sol: no such bot in the config (its bots: btc, eth)"


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ConfigEditError, match=r"^grid\.spacing_percent: not a grid setting"):
        with_bot_settings(CONFIG, "btc", {("grid", "spacing_percent"): 0.2})


def test_a_written_config_passes_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    text = with_bot_settings(CONFIG, "eth", VALUES)

    write_config(path, text)

    assert path.read_bytes() == text.encode("utf-8")
    assert main(["--config", str(path), "check-config"]) == 0
    assert "OK" in capsys.readouterr().out
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_rewriting_a_config_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    path.chmod(0o600)

    write_config(path, with_bot_settings(CONFIG, "btc", VALUES))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert_has(load(path.read_text()).bots[0])


def test_an_unwritable_path_is_one_line_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "config.toml"
    with pytest.raises(ConfigEditError) as info:
        write_config(missing, CONFIG)
    assert str(info.value) == f"{missing}: cannot write (No such file or directory)"

    folder = tmp_path / "taken"
    folder.mkdir()
    with pytest.raises(ConfigEditError, match=r"^.*taken: cannot write \(Is a dir"):
        write_config(folder, CONFIG)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # the temp file is gone


def test_a_bot_is_added_after_the_last_one_and_inherits_the_coin_defaults() -> None:
    before = with_bot_enabled(CONFIG, "btc", False)  # one enabled bot per coin
    after = with_bot_added(before, "btc-2", "BTC")
    assert changes(before, after) == [
        ([], ["\n", "[[bots]]\n", 'name = "btc-2"\n', 'coin = "BTC"\n'])
    ]
    added = load(after).bots[-1]
    assert (added.name, added.coin, added.enabled) == ("btc-2", "BTC", True)
    assert added.grid.size == Decimal("0.0005")  # from [coins.BTC.grid]


def test_disabling_a_bot_adds_the_key_before_its_tables_and_enabling_changes_it_in_place() -> None:
    off = with_bot_enabled(CONFIG, "btc", False)
    assert changes(CONFIG, off) == [([], ["enabled = false\n"])]
    assert off.index("enabled = false") < off.index("[bots.grid]")
    assert [b.enabled for b in load(off).bots] == [False, True]
    on = with_bot_enabled(off, "btc", True)
    assert changes(off, on) == [(["enabled = false\n"], ["enabled = true\n"])]
    eth_off = with_bot_enabled(CONFIG, "eth", False)
    assert changes(CONFIG, eth_off) == [(["enabled = true\n"], ["enabled = false\n"])]


def test_a_removed_bot_takes_its_own_tables_and_leaves_the_others_alone() -> None:
    before = with_bot_added(with_bot_enabled(CONFIG, "btc", False), "btc-2", "BTC")
    after = without_bot(before, "btc")
    assert [b.name for b in load(after).bots] == ["eth", "btc-2"]
    assert "[bots.grid]" not in after and "levels = 10" not in after
    assert after.startswith(CONFIG[: CONFIG.index("[[bots]]")])  # everything above kept


def test_bot_level_edits_in_an_inline_bots_list() -> None:
    text = (
        'bots = [{ name = "btc", coin = "BTC" }, { name = "eth", coin = "ETH" }]\n'
        + CONFIG[: CONFIG.index("# One bot per coin.")]
    )
    off = with_bot_enabled(text, "btc", False)
    assert [b.enabled for b in load(off).bots] == [False, True]
    assert [b.name for b in load(with_bot_added(off, "btc-2", "BTC")).bots] == [
        "btc",
        "eth",
        "btc-2",
    ]
    assert [b.name for b in load(without_bot(with_bot_added(off, "b2", "BTC"), "btc")).bots] == [
        "eth",
        "b2",
    ]


def test_bot_level_edits_name_an_unknown_bot() -> None:
    for edit in (
        lambda: with_bot_enabled(CONFIG, "sol", False),
        lambda: without_bot(CONFIG, "sol"),
    ):
        with pytest.raises(ConfigEditError, match=r"^bot sol: no such bot in the config"):
            edit()


def test_a_removed_bot_takes_the_comment_above_it_and_leaves_the_next_ones() -> None:
    second = "# The second bot has no settings of its own.\n"
    after = without_bot(CONFIG, "btc")
    assert second + '[[bots]]\nname = "eth"' in after  # still above eth
    assert "# This bot's own settings" not in after
    assert second not in without_bot(CONFIG, "eth")  # it described eth
    assert without_bot(CONFIG, "eth").endswith("spacing_pct = 0.12\n")


def test_an_added_bot_goes_above_the_comments_opening_the_next_section() -> None:
    text = CONFIG + "\n# How fast the engine runs.\n[engine]\ncycle_interval_s = 2.0\n"
    after = with_bot_added(text, "sol", "BTC")
    assert '[[bots]]\nname = "sol"\ncoin = "BTC"\n\n# How fast the engine runs.\n[engine]' in after


def test_an_added_bot_keeps_line_endings_and_a_missing_final_newline_is_mended() -> None:
    windows = CONFIG.replace("\n", "\r\n")
    added = with_bot_added(windows, "sol", "BTC")
    assert "\n" not in added.replace("\r\n", "")
    bare = with_bot_added(CONFIG.rstrip("\n"), "sol", "BTC")
    assert bare.endswith('enabled = true\n\n[[bots]]\nname = "sol"\ncoin = "BTC"\n')
