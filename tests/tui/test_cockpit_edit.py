"""The edit screen (`e`): settings checked as check-config checks them, a preview, and apply
changing the exchange's orders and config.toml (its comments kept); add, disable and remove."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
from cockpit import FIXED_MS, FrozenClock, settle, wait_for
from config_kit import PAPER_CONFIG
from textual.pilot import Pilot
from textual.widgets import Button, Input, Label, Static

from gridtui.config.loader import load_config
from gridtui.core.types import Side
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.supervisor import Supervisor
from gridtui.tui.app import GridApp
from gridtui.tui.screens.confirm import ConfirmScreen
from gridtui.tui.screens.edit_bot import AddBotScreen, EditBotScreen

NOTE = "# the trader's own note on btc's grid\n"
CONFIG = (
    PAPER_CONFIG.replace("cycle_interval_s = 1.0", "cycle_interval_s = 300.0")
    .replace("timeout_s = 60.0", "timeout_s = 3600.0")
    .replace("reconcile_interval_s = 30.0", "reconcile_interval_s = 86400.0")
    .replace("[bots.grid]\nlevels = 10", f"{NOTE}[bots.grid]\nlevels = 10")
)


@asynccontextmanager
async def cockpit(tmp_path: Path) -> AsyncIterator[tuple[GridApp, Pilot[int], Path]]:
    """The cockpit over a config *file* the screen edits (the bots as the file says)."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(path)
    clock = FrozenClock(FIXED_MS)
    exchange = SimExchange.in_memory(config.venue.paper, clock)
    supervisor = Supervisor(config, clock=clock, exchange=exchange)
    app = GridApp(config, supervisor=supervisor, refresh_hz=0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app)
        yield app, pilot, path
        await app.supervisor.stop()


async def edit_screen(app: GridApp, pilot: Pilot[int]) -> EditBotScreen:
    await pilot.press("e")
    await wait_for(lambda: isinstance(app.screen, EditBotScreen), "the edit screen")
    await pilot.pause()
    assert isinstance(app.screen, EditBotScreen)
    return app.screen


async def edits_done(app: GridApp) -> None:
    for worker in [w for w in app.workers if w.name == "edit_bots"]:
        await worker.wait()


def problem(screen: EditBotScreen, field: str) -> str:
    return str(screen.query_one(f"#{field}-problem", Label).render())


async def test_apply_rebuilds_the_grid_and_writes_the_file_keeping_its_comments(
    tmp_path: Path,
) -> None:
    async with cockpit(tmp_path) as (app, pilot, path):
        screen = await edit_screen(app, pilot)
        assert screen.query_one("#grid-levels", Input).value == "10"
        focused = app.focused
        await pilot.press("tab", "h")  # the next field; no bot switched, nothing halted
        assert app.focused is not focused and app.selected == "btc"
        assert not app.supervisor.slots["btc"].bot.c.state.get_snapshot().halted  # type: ignore[union-attr]
        assert screen.query_one("#edit-apply", Button).disabled  # nothing changed yet
        screen.query_one("#grid-levels", Input).value = "3"
        screen.query_one("#grid-spacing-pct", Input).value = "0.5"
        await pilot.pause()
        preview = screen.query_one("#edit-preview", Static).content
        assert "After apply" in str(preview.columns[4].header)  # type: ignore[union-attr]
        assert "round trip next to the mid" in str(preview.caption)  # type: ignore[union-attr]
        assert not screen.query_one("#edit-apply", Button).disabled
        await pilot.press("ctrl+s")
        await edits_done(app)
        text = path.read_text(encoding="utf-8")
        before, after = CONFIG.splitlines(), text.splitlines()
        assert [line for line in after if line not in before] == ["levels = 3", "spacing_pct = 0.5"]
        assert [line for line in before if line not in after] == [
            "levels = 10",
            "spacing_pct = 0.12",
        ]
        assert NOTE.strip() in after
        slot = app.supervisor.slots["btc"]
        await wait_for(
            lambda: slot.bot is not None and slot.bot.c.builder.snapshot is not None,
            "the rebuilt grid",
        )
        assert slot.bot is not None and slot.bot.c.settings.grid.levels == 3
        mid = slot.bot.c.feed.mark()
        assert mid is not None
        book = await app.supervisor.exchange.open_orders("BTC")
        assert len(book) == 6  # 3 a side around the mid, the old 20 canceled
        assert {o.side for o in book if o.price < mid} == {Side.BUY}
        assert app.config.bots[0].grid.levels == 3


async def test_an_invalid_value_shows_the_validators_message_and_blocks_apply(
    tmp_path: Path,
) -> None:
    async with cockpit(tmp_path) as (app, pilot, path):
        screen = await edit_screen(app, pilot)
        screen.query_one("#grid-levels", Input).value = "1"
        await pilot.pause()
        assert problem(screen, "grid-levels") == "must be an integer >= 2, got 1"
        assert screen.query_one("#edit-apply", Button).disabled
        screen.query_one("#grid-levels", Input).value = "10"
        screen.query_one("#grid-spacing-pct", Input).value = "0.01"
        await pilot.pause()
        assert problem(screen, "grid-levels") == ""
        assert "at or below the round-trip fee of 0.03%" in problem(screen, "grid-spacing-pct")
        assert screen.query_one("#edit-apply", Button).disabled
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen  # still editing, nothing applied
        assert path.read_text(encoding="utf-8") == CONFIG
        await pilot.press("escape")
        await edits_done(app)
        assert len(await app.supervisor.exchange.open_orders("BTC")) == 20


async def test_disable_add_and_remove_bots(tmp_path: Path) -> None:
    async with cockpit(tmp_path) as (app, pilot, path):
        await pilot.press("tab")  # select eth
        screen = await edit_screen(app, pilot)
        assert screen.context.bot.name == "eth"
        await pilot.click("#edit-toggle")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        await pilot.press("y")
        await edits_done(app)
        assert await app.supervisor.exchange.open_orders("ETH") == []
        assert list(app.supervisor.slots) == ["btc"]
        assert "enabled = false" in path.read_text(encoding="utf-8")
        # ETH is free: add a bot on it from the venue's markets.
        screen = await edit_screen(app, pilot)
        await pilot.click("#edit-add")
        await wait_for(lambda: isinstance(app.screen, AddBotScreen), "the add dialog")
        await pilot.pause()
        assert app.screen.query_one("#add-name", Input).value == "eth-2"
        await pilot.click("#add-ok")
        await edits_done(app)
        await wait_for(lambda: "eth-2" in app.supervisor.slots, "the new bot")
        await wait_for(
            lambda: (b := app.supervisor.running("eth-2")) is not None and b.cycles >= 1,
            "the new bot's first cycle",
        )
        assert await app.supervisor.exchange.open_orders("ETH")
        config = load_config(path)
        assert [(b.name, b.enabled) for b in config.bots] == [
            ("btc", True),
            ("eth", False),
            ("eth-2", True),
        ]
        # Remove the disabled eth (it runs nothing: only the file changes).
        screen = await edit_screen(app, pilot)
        from textual.widgets import Select

        screen.query_one("#edit-bot", Select).value = "eth"
        await pilot.pause()
        assert str(screen.query_one("#edit-toggle", Button).label) == "Enable"
        await pilot.click("#edit-remove")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        await pilot.press("y")
        await edits_done(app)
        assert [b.name for b in load_config(path).bots] == ["btc", "eth-2"]
        assert list(app.supervisor.slots) == ["btc", "eth-2"]
        assert attrs.evolve(app.supervisor.config, bots=()) == attrs.evolve(
            load_config(path), bots=()
        )
