"""The edit screen (`e`): settings checked as check-config checks them, a preview, and apply
changing the exchange's orders and config.toml (its comments kept); add, disable and remove."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal as D
from pathlib import Path

import attrs
from cockpit import COCKPIT_CONFIG, FIXED_MS, FrozenClock, settle, wait_for
from textual.pilot import Pilot
from textual.widgets import Button, Input, Label, Static

from gridtui.config.loader import load_config
from gridtui.control.engine import LocalEngine
from gridtui.core.types import Side
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.supervisor import Supervisor
from gridtui.tui.app import GridApp
from gridtui.tui.screens.confirm import ConfirmScreen
from gridtui.tui.screens.edit_bot import AddBotScreen, EditBotScreen

NOTE = "# the trader's own note on btc's grid\n"
CONFIG = COCKPIT_CONFIG.replace("[bots.grid]\nlevels = 10", f"{NOTE}[bots.grid]\nlevels = 10")


@asynccontextmanager
async def cockpit(
    tmp_path: Path, *, api_url: str | None = None
) -> AsyncIterator[tuple[GridApp, Pilot[int], Path]]:
    """The cockpit over a config *file* the screen edits (the bots as the file says;
    ``api_url`` as if given on the command line)."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(path)
    if api_url is not None:
        paper = attrs.evolve(config.venue.paper, api_url=api_url)
        config = attrs.evolve(config, venue=attrs.evolve(config.venue, paper=paper))
    clock = FrozenClock(FIXED_MS)
    exchange = SimExchange.in_memory(config.venue.paper, clock)
    supervisor = Supervisor(config, clock=clock, exchange=exchange)
    app = GridApp(LocalEngine(supervisor), refresh_hz=0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app)
        yield app, pilot, path
        await app.engine.supervisor.stop()


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
        assert not app.engine.supervisor.slots["btc"].bot.c.state.get_snapshot().halted  # type: ignore[union-attr]
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
        slot = app.engine.supervisor.slots["btc"]
        await wait_for(
            lambda: slot.bot is not None and slot.bot.c.builder.snapshot is not None,
            "the rebuilt grid",
        )
        assert slot.bot is not None and slot.bot.c.settings.grid.levels == 3
        mid = slot.bot.c.feed.mark()
        assert mid is not None
        book = await app.engine.supervisor.exchange.open_orders("BTC")
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
        assert len(await app.engine.supervisor.exchange.open_orders("BTC")) == 20


async def test_disable_add_and_remove_bots(tmp_path: Path) -> None:
    async with cockpit(tmp_path) as (app, pilot, path):
        await pilot.press("tab")  # select eth
        screen = await edit_screen(app, pilot)
        assert screen.context.bot.name == "eth"
        await pilot.click("#edit-toggle")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        await pilot.press("y")
        await edits_done(app)
        assert await app.engine.supervisor.exchange.open_orders("ETH") == []
        assert list(app.engine.supervisor.slots) == ["btc"]
        assert "enabled = false" in path.read_text(encoding="utf-8")
        # ETH is free: add a bot on it from the venue's markets. It comes disabled, and the
        # edit screen reopens on it: its settings and ladder reviewed before it trades.
        screen = await edit_screen(app, pilot)
        await pilot.click("#edit-add")
        await wait_for(lambda: isinstance(app.screen, AddBotScreen), "the add dialog")
        await pilot.pause()
        assert app.screen.query_one("#add-name", Input).value == "eth-2"
        await pilot.click("#add-ok")
        await wait_for(
            lambda: (
                isinstance(app.screen, EditBotScreen) and app.screen.context.bot.name == "eth-2"
            ),
            "the edit screen on the new bot",
        )
        assert "eth-2" not in app.engine.supervisor.slots  # nothing trades yet
        assert [(b.name, b.enabled) for b in load_config(path).bots][-1] == ("eth-2", False)
        await pilot.pause()
        preview = app.screen.query_one("#edit-preview", Static).content
        assert "Not running" in str(preview.columns[0].header)  # type: ignore[union-attr]
        await pilot.click("#edit-toggle")  # Enable, after asking
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        await pilot.press("y")
        await edits_done(app)
        await wait_for(lambda: "eth-2" in app.engine.supervisor.slots, "the new bot")
        await wait_for(
            lambda: (b := app.engine.supervisor.running("eth-2")) is not None and b.cycles >= 1,
            "the new bot's first cycle",
        )
        assert await app.engine.supervisor.exchange.open_orders("ETH")
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
        assert list(app.engine.supervisor.slots) == ["btc", "eth-2"]
        assert attrs.evolve(app.engine.supervisor.config, bots=()) == attrs.evolve(
            load_config(path), bots=()
        )


async def test_a_file_changed_by_hand_since_the_start_is_not_edited_over(tmp_path: Path) -> None:
    async with cockpit(tmp_path) as (app, pilot, path):
        by_hand = CONFIG.replace('name = "eth"\ncoin = "ETH"\nenabled = true',
                                 'name = "eth"\ncoin = "ETH"\nenabled = false')  # fmt: skip
        path.write_text(by_hand, encoding="utf-8")
        await pilot.press("e")
        await edits_done(app)
        assert not isinstance(app.screen, EditBotScreen)
        assert any("says otherwise than the running bots (eth)" in n.message
                   for n in app._notifications)  # fmt: skip
        assert await app.engine.supervisor.exchange.open_orders("ETH")  # eth untouched
        assert path.read_text(encoding="utf-8") == by_hand


async def test_one_edit_at_a_time_and_no_bot_key_reaches_the_engine_from_it(
    tmp_path: Path,
) -> None:
    async with cockpit(tmp_path) as (app, pilot, _path):
        markets = app.engine.supervisor.exchange.all_mids

        async def slow_markets() -> dict[str, D]:
            await asyncio.sleep(0.2)  # the screen opens after the venue answers
            return await markets()

        app.engine.supervisor.exchange.all_mids = slow_markets  # type: ignore[method-assign]
        await pilot.press("e", "e")
        await wait_for(lambda: isinstance(app.screen, EditBotScreen), "the edit screen")
        await pilot.pause()
        assert sum(isinstance(s, EditBotScreen) for s in app.screen_stack) == 1
        halt = next(
            c for c in app.get_system_commands(app.screen) if c.title.startswith("Halt the")
        )
        await halt.callback()  # the palette, over the edit screen: refused as the key is
        btc = app.engine.supervisor.running("btc")
        assert btc is not None and not btc.c.state.get_snapshot().halted
        await pilot.press("escape")
        await edits_done(app)
        await halt.callback()  # on the main screen it acts
        await wait_for(lambda: btc.c.state.get_snapshot().halted, "the halt")


async def test_a_venue_set_on_the_command_line_does_not_block_an_edit(tmp_path: Path) -> None:
    async with cockpit(tmp_path, api_url="http://127.0.0.1:9") as (app, pilot, path):
        screen = await edit_screen(app, pilot)
        screen.query_one("#grid-levels", Input).value = "4"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await edits_done(app)
        assert "levels = 4" in path.read_text(encoding="utf-8")
        assert app.engine.supervisor.config.venue.paper.api_url == "http://127.0.0.1:9"


async def test_a_hand_edit_made_while_the_screen_is_open_is_never_written_over(
    tmp_path: Path,
) -> None:
    async with cockpit(tmp_path) as (app, pilot, path):
        screen = await edit_screen(app, pilot)
        screen.query_one("#grid-levels", Input).value = "4"
        await pilot.pause()
        by_hand = CONFIG + "\n# a note typed in another window\n"
        path.write_text(by_hand, encoding="utf-8")
        await pilot.press("ctrl+s")
        await edits_done(app)
        assert path.read_text(encoding="utf-8") == by_hand
        btc = app.engine.supervisor.slots["btc"].bot
        assert btc is not None and btc.c.settings.grid.levels == 10  # nothing applied


async def test_backtest_the_edited_settings_then_apply_them(tmp_path: Path) -> None:
    from gridtui.bench.backtest import write_candles
    from gridtui.tui.screens.backtest import BacktestScreen

    write_candles(tmp_path / "btc-1m.csv", 400)
    async with cockpit(tmp_path) as (app, pilot, path):
        screen = await edit_screen(app, pilot)
        screen.query_one("#grid-levels", Input).value = "4"
        await pilot.pause()
        await pilot.click("#edit-backtest")
        await wait_for(lambda: isinstance(app.screen, BacktestScreen), "the backtest screen")
        backtest = app.screen
        assert isinstance(backtest, BacktestScreen)
        backtest.query_one("#backtest-candles", Input).value = "no-such.csv"
        await pilot.click("#backtest-run")
        await wait_for(lambda: "no-such.csv" in str(backtest.query_one("#backtest-status",
                                                                       Label).render()),
                       "the error", 30)  # fmt: skip
        assert backtest.report is None  # one line, no report
        field = backtest.query_one("#backtest-candles", Input)
        field.value = "btc-1m.csv"  # beside the config
        field.focus()
        await pilot.press("enter")
        await wait_for(lambda: backtest.report is not None, "the report", 60)
        report = backtest.report
        assert report is not None and report["candles"] == 400 and report["bot"] == "btc"
        assert backtest.query_one("#backtest-chart").display
        bar = backtest.query_one("#backtest-progress")
        assert (bar.total, bar.progress) == (400, 400)  # type: ignore[attr-defined]
        assert [p for p in tmp_path.iterdir() if p.name.startswith(".gridtui-backtest")] == []
        await pilot.click("#backtest-apply")
        await edits_done(app)
        assert "levels = 4" in path.read_text(encoding="utf-8")


async def test_a_backtest_closed_mid_run_stops_its_child_and_a_bad_path_is_one_line(
    tmp_path: Path,
) -> None:
    from gridtui.bench.backtest import write_candles
    from gridtui.tui.screens.backtest import BacktestScreen

    write_candles(tmp_path / "long.csv", 30_000)  # long enough to be running when closed
    async with cockpit(tmp_path) as (app, pilot, _path):
        await edit_screen(app, pilot)
        await pilot.click("#edit-backtest")
        await wait_for(lambda: isinstance(app.screen, BacktestScreen), "the backtest screen")
        backtest = app.screen
        assert isinstance(backtest, BacktestScreen)
        field = backtest.query_one("#backtest-candles", Input)
        field.value = "~no-such-user-here/x.csv"  # an unknown ~user: a path like any other
        field.focus()
        await pilot.press("enter")
        status = backtest.query_one("#backtest-status", Label)
        await wait_for(lambda: "cannot read the candle file" in str(status.render()), "error", 30)
        field.value = "long.csv"
        await pilot.press("enter")
        await wait_for(lambda: backtest.process is not None and
                       backtest.process.returncode is None, "the child", 30)  # fmt: skip
        child = backtest.process
        assert child is not None
        await pilot.press("escape")  # closed mid-run
        await wait_for(lambda: child.returncode is not None, "the child to stop", 10)
        assert not isinstance(app.screen, BacktestScreen)
        # The worker removes its scratch config once the child's end reaches it: the child's
        # return code can be seen a moment before that.
        await wait_for(
            lambda: not [p for p in tmp_path.iterdir() if p.name.startswith(".gridtui-backtest")],
            "the scratch config removed",
        )
