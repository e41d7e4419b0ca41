"""Every key's effect on the engine and the exchange, not only on the screen."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal as D
from pathlib import Path

import attrs
import pytest
from cockpit import MakeApp, cockpit_config, settle, wait_for
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Label

from gridtui.core.clock import utc_day
from gridtui.core.events import GridBuilt, Reconciled
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.state.accounting import HaltKind
from gridtui.tui.app import GridApp
from gridtui.tui.screens.account import AccountScreen
from gridtui.tui.screens.confirm import ConfirmScreen
from gridtui.tui.screens.help import HelpScreen
from gridtui.tui.widgets.bots_table import BotsTable
from gridtui.tui.widgets.event_log import MAX_LINES, EventLog
from gridtui.tui.widgets.grid_ladder import GridLadder


@asynccontextmanager
async def cockpit(make_app: MakeApp, **kw: object) -> AsyncIterator[tuple[GridApp, Pilot]]:
    app = make_app(**kw)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app)
        yield app, pilot
        await app.engine.supervisor.stop()  # idempotent: after q it returns q's report


async def commands_done(app: GridApp) -> None:
    for worker in [w for w in app.workers if w.group == "commands"]:
        await worker.wait()


async def orders(app: GridApp, coin: str) -> list:
    return await app.engine.supervisor.exchange.open_orders(coin)


async def test_h_halts_the_selected_bot_it_cancels_and_places_nothing(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        assert await orders(app, "BTC") and await orders(app, "ETH")
        await pilot.press("h")
        await commands_done(app)
        btc = app.engine.supervisor.running("btc")
        assert btc is not None and btc.c.state.get_snapshot().halted
        assert await orders(app, "BTC") == []
        for _ in range(3):
            await btc.cycle()
        assert await orders(app, "BTC") == []
        assert await orders(app, "ETH")  # the other bot trades on


async def test_capital_h_halts_every_bot(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        await pilot.press("H")
        await commands_done(app)
        assert await app.engine.supervisor.exchange.open_orders() == []
        assert all(b.c.state.get_snapshot().halted for b in app.engine.supervisor.bots_running())


async def test_u_resumes_and_the_grid_comes_back(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        quoted = len(await orders(app, "BTC"))
        await pilot.press("h")
        await commands_done(app)
        app.engine.supervisor.clock.advance(10)  # a human pause: the order-rate bucket refills
        await pilot.press("u")
        await commands_done(app)
        btc = app.engine.supervisor.running("btc")
        assert btc is not None and not btc.c.state.get_snapshot().halted
        await btc.cycle()
        assert len(await orders(app, "BTC")) == quoted


async def test_c_asks_first_and_yes_cancels_every_order_of_the_bot(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        eth_before = await orders(app, "ETH")
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmScreen)
        assert await orders(app, "BTC")  # "no" changed nothing
        await pilot.press("c")
        await pilot.press("y")
        await commands_done(app)
        assert await orders(app, "BTC") == []
        assert [o.exchange_id for o in await orders(app, "ETH")] == [
            o.exchange_id for o in eth_before
        ]


async def test_f_asks_first_then_halts_and_closes_the_position(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        btc = app.engine.supervisor.running("btc")
        assert btc is not None
        await pilot.press("f")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert not btc.c.state.get_snapshot().halted  # "no" changed nothing
        await pilot.press("f")
        await pilot.press("y")
        await commands_done(app)
        state = btc.c.state.get_snapshot()
        assert (state.halted, state.halt_kind, state.position) == (True, HaltKind.FLATTEN, 0)
        assert await orders(app, "BTC") == []
        assert await orders(app, "ETH")  # the other bot trades on


async def test_u_on_a_daily_loss_halt_asks_before_lifting_the_limit_for_the_day(
    make_app: MakeApp,
) -> None:
    async with cockpit(make_app) as (app, pilot):
        btc = app.engine.supervisor.running("btc")
        assert btc is not None
        await btc.halt("daily_loss: today's result -120.00", kind=HaltKind.DAILY_LOSS)
        app.refresh_views()
        await settle(app)
        await pilot.press("u")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await commands_done(app)
        assert not btc.c.state.get_snapshot().halted
        loser = attrs.evolve(
            btc.c.state.get_snapshot(),
            daily_realized=-btc.c.risk.limits.daily_loss_limit * 2,
            daily_day=utc_day(btc.c.clock.now_ms()),
        )
        assert btc.c.risk.check_equity(loser, D(64000)).allowed  # lifted for the rest of today


async def test_capital_c_cancels_every_bot_after_confirming(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        await pilot.press("C")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await commands_done(app)
        assert await app.engine.supervisor.exchange.open_orders() == []


async def test_r_runs_a_reconciliation(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        seen: list[Reconciled] = []
        app.engine.supervisor.bus.subscribe(
            lambda e: seen.append(e) if isinstance(e, Reconciled) else None
        )
        await pilot.press("r")
        await commands_done(app)
        assert [e.bot for e in seen] == ["btc"]


async def test_tab_and_shift_tab_select_the_next_and_previous_bot(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        assert app.selected == "btc"
        await pilot.press("tab")
        assert app.selected == "eth"
        await pilot.press("tab")
        assert app.selected == "btc"
        await pilot.press("shift+tab")
        assert app.selected == "eth"
        await pilot.press("h")  # acts on the selected bot
        await commands_done(app)
        assert await orders(app, "ETH") == [] and await orders(app, "BTC")


async def test_t_cycles_through_the_shipped_themes(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        assert app.theme == "gridtui-dark"
        seen = {app.theme}
        for _ in range(3):
            await pilot.press("t")
            seen.add(app.theme)
        assert {"gridtui-dark", "gridtui-light", "gridtui-high-contrast"} <= seen


async def test_a_shows_the_account_the_engine_read(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        await app.engine.supervisor.account.current()  # the engine's reading (its task renews it)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AccountScreen)
        summary = str(app.screen.query_one("#account-summary", Label).render())
        assert summary.startswith("value ") and "withdrawable" in summary
        assert "Account · PAPER" in str(app.screen.query_one("#account-title", Label).render())
        await pilot.press("a")
        assert not isinstance(app.screen, AccountScreen)


async def test_question_mark_lists_every_key(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_q_shuts_down_cleanly_and_leaves_no_order(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app)
        assert await app.engine.supervisor.exchange.open_orders()
        await pilot.press("q")
        await wait_for(lambda: app.shutdown_report is not None, "the shutdown report", 10)
    report = app.shutdown_report
    assert report is not None
    assert (report.open_orders, report.dead_man_disarmed) == (0, True)
    assert app.return_code == 0


async def test_command_palette_offers_every_key_action(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, _pilot):
        titles = {command.title for command in app.get_system_commands(app.screen)}
        for binding in app.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action not in ("help", "quit"):
                assert binding.tooltip in titles, binding.action
        assert "Stop all bots and quit" in titles


async def test_the_palette_lists_each_command_once_and_only_our_themes(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, _pilot):
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles))
        assert not {"Quit", "Keys", "Theme", "Maximize"} & set(titles)
        themes = [t for t in titles if t.startswith("Theme: ")]
        assert themes == [f"Theme: {name}" for name in ("gridtui-dark", "gridtui-high-contrast",
                                                          "gridtui-light")]  # fmt: skip


async def test_a_screenshot_lands_in_the_data_folder(make_app: MakeApp, tmp_path: Path) -> None:
    async with cockpit(make_app) as (app, pilot):
        app.action_save_screenshot()
        await pilot.pause()
        shots = list(Path(app.config.data_dir).glob("*.svg"))
        assert len(shots) == 1 and shots[0].read_text().startswith("<svg")


async def test_a_crashed_bot_shows_its_error_and_comes_back(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = cockpit_config(tmp_path)
    engine = attrs.evolve(config.engine, restart_backoff_s=2.0, restart_backoff_max_s=4.0)
    config = attrs.evolve(config, engine=engine)
    cycle = BotOrchestrator.cycle
    failures = {"eth": 1}

    async def flaky(self: BotOrchestrator) -> None:
        if failures.get(self.name):
            failures[self.name] -= 1
            raise RuntimeError("exchange answered nonsense")
        await cycle(self)

    monkeypatch.setattr(BotOrchestrator, "cycle", flaky)
    app = make_app(config=config)
    async with app.run_test(size=(120, 40)):
        slot = app.engine.supervisor.slots["eth"]
        await wait_for(lambda: slot.last_error is not None, "the crash")
        app.refresh_views()
        table = app.query_one(BotsTable)
        assert "crashed" in str(table.get_cell("eth", "state"))
        (view,) = [v for v in app.engine.supervisor.views() if v.name == "eth"]
        assert view.status == "crashed" and "exchange answered nonsense" in (view.error or "")
        app.selected = "eth"
        app.refresh_views()
        ladder = app.query_one(GridLadder)
        assert "exchange answered nonsense" in str(ladder.render())
        await wait_for(lambda: app.engine.supervisor.running("eth") is not None, "the restart", 5)
        assert slot.restarts == 1
        await app.engine.supervisor.stop()


async def test_a_broken_theme_is_reported_and_the_app_falls_back(
    make_app: MakeApp, tmp_path: Path
) -> None:
    themes = tmp_path / "mythemes"
    themes.mkdir()
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    app = make_app(theme="no-such-theme")
    app._theme_dirs.append(themes)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("broken.toml" in m for m in messages), messages
        assert any("no-such-theme" in m for m in messages), messages
        assert app.theme == "gridtui-dark"
        await app.engine.supervisor.stop()


async def test_every_bot_runs_as_a_worker_in_the_bots_group(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, _pilot):
        bots = {w.name: w.group for w in app.workers if w.name.startswith("bot-")}
        assert bots == {"bot-btc": "bots", "bot-eth": "bots"}
        assert app.refresh_hz == 0  # tests drive refreshes; the app's default is 4 Hz
        default_hz = inspect.signature(GridApp.__init__).parameters["refresh_hz"].default
        assert 0 < default_hz <= 4


async def test_a_sampling_tick_while_the_screen_is_torn_down_is_harmless(
    make_app: MakeApp,
) -> None:
    """The sampling tick can fire while the cockpit exits and its widgets are already gone (seen
    in ``gridtui bench keys``: a query for the event log found none and crashed the app)."""
    async with cockpit(make_app) as (app, _pilot):
        await app.query_one(EventLog).remove()
        app.refresh_views()  # no NoMatches escaping into Textual's error handler
        assert app.return_code is None


async def test_a_theme_repaint_that_lands_after_the_event_log_is_gone_is_harmless(
    make_app: MakeApp,
) -> None:
    """A theme change schedules the event log's repaint after the next refresh; if the log is
    removed first (the cockpit exiting) the repaint must not look up styles it no longer has
    (seen in CI: KeyError "No 'event-log--info' key in COMPONENT_CLASSES")."""
    async with cockpit(make_app) as (app, pilot):
        log = app.query_one(EventLog)
        app.action_next_theme()  # schedules the repaint
        await log.remove()
        await pilot.pause()
        await pilot.pause()
        assert app.return_code is None


async def test_l_opens_the_full_event_log_and_it_follows_new_events(make_app: MakeApp) -> None:
    from gridtui.tui.screens.event_log import EventLogScreen, FilteredEventLog

    async with cockpit(make_app) as (app, pilot):
        for n in range(MAX_LINES + 100):  # more than the panel keeps
            app.model.add_event(
                GridBuilt(bot="btc", coin="BTC", timestamp_ms=n, center=D(1), levels=2,
                          placed=1, canceled=0)
            )  # fmt: skip
        app.refresh_views()
        assert len(app.query_one(EventLog).events) == MAX_LINES
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, EventLogScreen)
        assert len(app.screen.query_one(FilteredEventLog)._kept) > MAX_LINES + 100
        lines = app.screen.query_one(FilteredEventLog)
        seen = len(lines._kept)
        assert seen > 0  # the session so far: the bots' start, their grids
        await pilot.press("h")  # a bot key does nothing here
        btc = app.engine.supervisor.running("btc")
        assert btc is not None and not btc.c.state.get_snapshot().halted
        await btc.halt("from the test")
        app.refresh_views()
        await pilot.pause()
        assert len(lines._kept) > seen
        await pilot.press("escape")
        assert not isinstance(app.screen, EventLogScreen)


async def test_u_on_a_bot_that_is_not_halted_changes_nothing(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        before = await orders(app, "BTC")
        await pilot.press("u")
        await commands_done(app)
        assert await orders(app, "BTC") == before
        assert any("not halted" in n.message for n in app._notifications)
