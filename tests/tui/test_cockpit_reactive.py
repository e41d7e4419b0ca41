"""The cockpit's Textual idioms (issue 9 item 6): the selection and the views are reactive and the
panels are bound to them; commands run as workers and a failed one is a notification; the equity
chart's history lives in the view model, not in a widget or the app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from cockpit import MakeApp, settle, wait_for
from textual.pilot import Pilot
from textual_plotext import PlotextPlot

from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.orchestrator.view import ViewModel, realized_history
from gridtui.tui.app import GridApp
from gridtui.tui.widgets.bots_table import BotsTable
from gridtui.tui.widgets.grid_ladder import GridLadder
from gridtui.tui.widgets.pnl_panel import PnlPanel
from gridtui.tui.widgets.risk_panel import RiskPanel


@asynccontextmanager
async def cockpit(make_app: MakeApp) -> AsyncIterator[tuple[GridApp, Pilot]]:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app)
        yield app, pilot
        await app.engine.supervisor.stop()


async def commands_done(app: GridApp) -> None:
    for worker in [w for w in app.workers if w.group == "commands"]:
        await worker.wait()


async def move_market(app: GridApp) -> None:
    """One step of the paper market, seen by every bot, then one refresh."""
    sup = app.engine.supervisor
    before = {b.name: b.c.feed.mid for b in sup.bots_running()}
    sup.exchange.step()  # type: ignore[attr-defined]
    await wait_for(
        lambda: all(b.c.feed.mid != before[b.name] for b in sup.bots_running()), "new mids"
    )
    for bot in sup.bots_running():
        await bot.cycle()
    app.refresh_views()


def shown(app: GridApp) -> set[str | None]:
    """Which bot each panel shows."""
    panels = (app.query_one(GridLadder), app.query_one(RiskPanel), app.query_one(PnlPanel))
    return {panel.view.name if panel.view else None for panel in panels}


# ---- selection and views ---------------------------------------------------------------------


async def test_selecting_a_bot_switches_every_panel_without_a_refresh(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        assert shown(app) == {"btc"}
        refreshes = 0
        refresh = app.model.refresh

        def counted():  # type: ignore[no-untyped-def]
            nonlocal refreshes
            refreshes += 1
            return refresh()

        app.model.refresh = counted  # type: ignore[method-assign]
        app.selected = "eth"  # the panels follow the reactive, not a refresh
        assert shown(app) == {"eth"}
        assert refreshes == 0
        assert str(app.query_one(GridLadder).render()).startswith("ETH")
        table = app.query_one(BotsTable)
        assert table.cursor_row == 1  # the table's cursor follows the selection too
        await pilot.press("tab")
        assert app.selected == "btc" and shown(app) == {"btc"} and table.cursor_row == 0


async def test_moving_the_table_cursor_selects_the_bot(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, pilot):
        app.query_one(BotsTable).focus()
        await pilot.press("down")
        await pilot.pause()
        assert app.selected == "eth" and shown(app) == {"eth"}
        assert "ETH" in str(app.query_one(GridLadder).render())


async def test_a_refresh_reaches_the_table_and_the_panels_through_views(
    make_app: MakeApp,
) -> None:
    async with cockpit(make_app) as (app, _pilot):
        btc = app.engine.supervisor.running("btc")
        assert btc is not None
        await btc.halt("test halt")
        table, risk = app.query_one(BotsTable), app.query_one(RiskPanel)
        assert table.get_cell("btc", "state").plain == "running"  # nothing sampled yet
        app.refresh_views()
        assert [v.name for v in app.views] == ["btc", "eth"]
        assert table.get_cell("btc", "state").plain == "halted"
        assert "HALTED: test halt" in str(risk.render())
        assert app.query_one(GridLadder).view == app.views[0]


# ---- commands --------------------------------------------------------------------------------


async def test_a_failing_command_is_a_notification_and_the_app_carries_on(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(self: BotOrchestrator, reason: str, **kw: object) -> None:
        if self.name == "btc":
            raise RuntimeError("venue said no")
        await halt(self, reason, **kw)

    halt = BotOrchestrator.halt
    monkeypatch.setattr(BotOrchestrator, "halt", refused)
    async with cockpit(make_app) as (app, pilot):
        await pilot.press("H")
        await commands_done(app)
        failed = [n for n in app._notifications if n.title == "Command failed"]
        assert [(n.message, n.severity) for n in failed] == [("btc: venue said no", "error")]
        eth = app.engine.supervisor.running("eth")
        assert eth is not None and eth.c.state.get_snapshot().halted  # the next bot's turn
        assert app.is_running and app.return_code is None and app.crash is None
        await pilot.press("r")  # and the next command runs
        await commands_done(app)
        assert any(n.message.startswith("btc: reconciled") for n in app._notifications)


async def test_a_command_runs_in_a_worker_the_keys_stay_live_meanwhile(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()
    async with cockpit(make_app) as (app, pilot):
        btc = app.engine.supervisor.running("btc")
        assert btc is not None
        reconcile = btc.reconcile

        async def slow_reconcile() -> object:
            await release.wait()
            return await reconcile()

        monkeypatch.setattr(btc, "reconcile", slow_reconcile)
        try:
            # The key returns at once (a handler awaiting the engine would block every key).
            await asyncio.wait_for(pilot.press("r"), 5)
            (worker,) = [w for w in app.workers if w.group == "commands"]
            assert worker.is_running
            await asyncio.wait_for(pilot.press("tab"), 5)
            assert app.selected == "eth" and shown(app) == {"eth"}
        finally:
            release.set()
        await worker.wait()
        assert any(n.message.startswith("btc: reconciled") for n in app._notifications)


# ---- equity history --------------------------------------------------------------------------


async def test_the_equity_history_lives_in_the_view_model_and_survives_a_remount(
    make_app: MakeApp,
) -> None:
    async with cockpit(make_app) as (app, pilot):
        for _ in range(3):
            await move_market(app)
        history = app.model.equity("btc")
        assert len(history) >= 3
        pnl = app.query_one(PnlPanel)
        assert pnl.equity == history
        assert pnl.query_one(PlotextPlot).display

        app.call_later(app.recompose)  # every widget is made and mounted again
        await wait_for(
            lambda: app.query(PnlPanel) and app.query_one(PnlPanel) is not pnl, "remount"
        )
        await pilot.pause()
        remounted = app.query_one(PnlPanel)
        assert remounted.equity == history
        assert remounted.query_one(PlotextPlot).display

        app.selected = "eth"  # each bot has its own series
        assert remounted.equity == app.model.equity("eth") != ()


async def test_the_chart_starts_from_the_journals_realized_pnl(make_app: MakeApp) -> None:
    async with cockpit(make_app) as (app, _pilot):
        bot = app.engine.supervisor.running("btc")
        assert bot is not None
        state = bot.c.state.get_snapshot()
        assert state.fill_count >= 1
        past = realized_history(bot)
        fills = bot.c.store.applied_fills()
        assert past[0][0] == fills[0].timestamp_ms and past[-1][0] == fills[-1].timestamp_ms
        assert past[-1][1] == pytest.approx(float(state.all_time_realized))
        fresh = ViewModel(app.engine.views, history=app.engine.history)  # a cockpit reopened
        fresh.refresh()
        assert fresh.equity("btc")[: len(past)] == tuple(past)
