"""settings_draft: what the edit screen checks and previews, without the screen."""

from __future__ import annotations

from decimal import Decimal as D
from itertools import pairwise
from pathlib import Path

import attrs
from config_kit import PAPER_CONFIG

from gridtui.config.loader import load_config_text
from gridtui.config.schema import BotSettings, Direction, GridSettings, RiskLimits
from gridtui.core.types import AssetMeta, Side
from gridtui.orchestrator.settings_draft import (
    EDITABLE,
    draft_settings,
    preview_ladder,
    shown,
    typed_value,
)

SOURCE = Path("/cfg/config.toml")


def btc() -> BotSettings:
    config = load_config_text(PAPER_CONFIG, base_dir=SOURCE.parent, source=str(SOURCE))
    return config.bots[0]


def typed(bot: BotSettings, **changes: str) -> dict[tuple[str, str], str]:
    fields = {path: shown(bot, path) for path, _ in EDITABLE}
    for name, value in changes.items():
        section = "risk" if name in {"stop_loss_price", "max_drawdown"} else "grid"
        fields[(section, name)] = value  # type: ignore[index]
    return fields  # type: ignore[return-value]


def test_typed_text_becomes_toml_values() -> None:
    assert typed_value(" 12 ") == 12
    assert typed_value("0.25") == 0.25
    assert typed_value("1e3") == 1000.0
    assert typed_value("abc") == "abc"
    assert typed_value("nan") == "nan"


def test_only_changed_fields_are_written_and_the_result_loads() -> None:
    bot = btc()
    draft = draft_settings(PAPER_CONFIG, SOURCE, "btc", bot, typed(bot, levels="4"))
    assert draft.ok and draft.changed == (("grid", "levels"),)
    assert draft.settings("btc").grid.levels == 4  # type: ignore[union-attr]
    assert draft.text.count("\n") == PAPER_CONFIG.count("\n")  # one line changed in place
    untouched = draft_settings(PAPER_CONFIG, SOURCE, "btc", bot, typed(bot))
    assert untouched.ok and untouched.changed == () and untouched.text == PAPER_CONFIG


def test_problems_are_filed_under_their_field() -> None:
    bot = btc()
    draft = draft_settings(
        PAPER_CONFIG, SOURCE, "btc", bot, typed(bot, levels="1", stop_loss_price="-5")
    )
    assert not draft.ok
    assert draft.problems[("grid", "levels")] == "must be an integer >= 2, got 1"
    assert draft.problems[("risk", "stop_loss_price")].startswith("must be a number > 0")
    assert draft.general == ()


def test_clearing_a_value_every_bot_shares_says_where_it_is_set() -> None:
    bot = btc()
    draft = draft_settings(PAPER_CONFIG, SOURCE, "btc", bot, typed(bot, max_drawdown=""))
    assert not draft.ok
    assert draft.problems[("risk", "max_drawdown")].startswith("cleared here, but 200 still")


def test_the_preview_is_the_grid_a_fresh_bot_builds_with_its_round_trip_after_fees() -> None:
    bot = BotSettings("b", "BTC", GridSettings(levels=2, spacing_pct=D(1), size=D("0.2")),
                      RiskLimits())  # fmt: skip
    preview = preview_ladder(bot, AssetMeta("BTC", 0, 2), D(100), D(0), D("0.0002"), 0)
    assert not isinstance(preview, str)
    assert [(lvl.side, lvl.price) for lvl in preview.levels] == [
        (Side.SELL, D(102)),
        (Side.SELL, D(101)),
        (None, D(100)),
        (Side.BUY, D(99)),
        (Side.BUY, D(98)),
    ]
    # Buy 0.2 at 99, sell at 100: 0.2 earned, fees 0.0002 × 0.2 × (99 + 100) = 0.00796.
    assert preview.round_trip_usd == D("0.2") - D("0.00796")
    assert preview.fee_pct == D("0.04")
    # A long grid holding 0.2 sells only that: the sell at 102 is not placed.
    long = attrs.evolve(bot, grid=attrs.evolve(bot.grid, direction=Direction.LONG))
    held = preview_ladder(long, AssetMeta("BTC", 0, 2), D(100), D("0.2"), D("0.0002"), 0)
    assert not isinstance(held, str)
    assert [(lvl.side, lvl.price) for lvl in held.levels] == [
        (Side.SELL, D(101)),
        (None, D(100)),
        (Side.BUY, D(99)),
        (Side.BUY, D(98)),
    ]


def test_thinned_keeps_the_first_and_the_last_and_at_most_the_count() -> None:
    from gridtui.orchestrator.view import thinned

    points = [(i, float(i)) for i in range(799)]
    kept = thinned(points, 400)
    assert len(kept) <= 400 and kept[0] == points[0] and kept[-1] == points[-1]
    gaps = {b[0] - a[0] for a, b in pairwise(kept[:-1])}
    assert gaps == {3}  # evenly spaced, over the whole series (not its last 400)
    assert thinned(points[:10], 400) == points[:10]


def test_the_cockpits_child_commands_get_the_venue_it_runs_on() -> None:
    from gridtui.config.schema import PaperSettings, VenueKind, VenueSettings
    from gridtui.venues import venue_flags

    assert venue_flags(VenueSettings()) == ["--venue", "paper"]
    live = VenueSettings(kind=VenueKind.HYPERLIQUID, network="mainnet", api_url="http://x:1")
    assert venue_flags(live) == ["--venue", "hyperliquid", "--api-url", "http://x:1", "--mainnet"]
    paper = VenueSettings(paper=PaperSettings(api_url="http://mock:2"))
    assert venue_flags(paper) == ["--venue", "paper", "--api-url", "http://mock:2"]
