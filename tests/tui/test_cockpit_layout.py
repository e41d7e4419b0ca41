"""The side panels take the height of their lines however their updates and layout passes
interleave (issue 8: the 80x24 snapshot showed one line of figures and one of risk whenever a
bot's first cycle landed between a layout pass and the panels' next idle turn)."""

from __future__ import annotations

from cockpit import MakeApp, settle
from textual.widget import Widget
from textual.widgets import Static

from gridtui.core.types import BotStatus
from gridtui.orchestrator.view import idle_view
from gridtui.tui.widgets.pnl_panel import PnlPanel
from gridtui.tui.widgets.risk_panel import RiskPanel


async def test_panels_grow_when_a_layout_pass_ran_between_two_updates(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app)
        await pilot.pause()
        pnl, risk = app.query_one(PnlPanel), app.query_one(RiskPanel)
        figures = pnl.query_one(".pnl-figures", Static)
        heights = (figures.size.height, risk.size.height)
        assert heights == (7, 6)  # Position … Inventory, Last fill; Breaker … Orders
        running = next(v for v in app.engine.supervisor.views() if v.name == app.selected)
        starting = idle_view(running.name, running.coin, running.venue, BotStatus.STARTING, None, 0)

        # One line each, then a layout pass that measures them before they had an idle turn
        # (another widget's update asked for it and emptied their parents' arrangement caches),
        # then the full figures again: no await in between, so the order is always this one.
        pnl.show(starting, ())
        risk.show(starting)
        for parent in (figures.parent, risk.parent):
            assert isinstance(parent, Widget)
            parent._clear_arrangement_cache()
        app.screen._refresh_layout()  # what the screen's update timer runs
        pnl.show(running, ())
        risk.show(running)
        await pilot.pause()

        assert (figures.size.height, risk.size.height) == heights
        await app.engine.supervisor.stop()


async def test_a_small_terminal_gets_the_compact_layout_and_a_big_one_the_full(
    make_app: MakeApp,
) -> None:
    from gridtui.tui.widgets.bots_table import BotsTable

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app)
        await pilot.pause()
        table = app.query_one(BotsTable)
        keys = [column.key.value for column in table.columns.values()]
        assert keys == ["bot", "coin", "state", "position", "session", "all_time", "open"]
        assert table.size.width <= 80 and table.virtual_size.width <= table.size.width
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        keys = [column.key.value for column in table.columns.values()]
        assert "venue" in keys and "mark" in keys and len(keys) == 11
        assert table.get_row_index("btc") == 0 and table.row_count == 2
        app.selected = "eth"
        await pilot.pause()
        await pilot.resize_terminal(80, 24)  # the columns change, the selection stays
        await pilot.pause()
        assert app.selected == "eth" and table.cursor_row == table.get_row_index("eth") == 1
