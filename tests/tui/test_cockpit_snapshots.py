"""Screens of the cockpit, compared with saved SVG snapshots (fixed clock, frozen seeded market).

Update after an intended change with: pytest tests/tui --snapshot-update
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cockpit import MakeApp, settle, wait_for
from textual.pilot import Pilot
from textual.widgets import Input

from gridtui.tui.app import GridApp
from gridtui.tui.screens.edit_bot import EditBotScreen


def _ready(app: GridApp):
    async def run_before(pilot: Pilot) -> None:
        await settle(app)

    return run_before


async def _commands_done(app: GridApp) -> None:
    for worker in [w for w in app.workers if w.group == "commands"]:
        await worker.wait()
    app.refresh_views()


def test_main_screen(make_app: MakeApp, snap_compare) -> None:
    app = make_app()
    assert snap_compare(app, terminal_size=(120, 40), run_before=_ready(app))


def test_second_bot_selected(make_app: MakeApp, snap_compare) -> None:
    app = make_app()

    async def run_before(pilot: Pilot) -> None:
        await settle(app)
        await pilot.press("tab")

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_halted_bot(make_app: MakeApp, snap_compare) -> None:
    app = make_app()

    async def run_before(pilot: Pilot) -> None:
        await settle(app)
        await pilot.press("h")
        await _commands_done(app)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_open_circuit_breaker(make_app: MakeApp, snap_compare) -> None:
    app = make_app()

    async def run_before(pilot: Pilot) -> None:
        await settle(app)
        bot = app.engine.supervisor.running("btc")
        assert bot is not None
        app.engine.supervisor.exchange.fail_next(50, "HTTP 502 Bad Gateway")  # type: ignore[attr-defined]
        threshold = app.config.breaker.error_threshold
        for _ in range(threshold):
            await bot.c.gateway.cancel_all()
        assert bot.c.breaker.state.name == "OPEN"
        app.refresh_views()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_cancel_all_confirm_dialog(make_app: MakeApp, snap_compare) -> None:
    app = make_app()
    assert snap_compare(app, terminal_size=(120, 40), press=["c"], run_before=_ready(app))


def test_help_screen(make_app: MakeApp, snap_compare) -> None:
    app = make_app()
    assert snap_compare(
        app, terminal_size=(120, 40), press=["question_mark"], run_before=_ready(app)
    )


@pytest.mark.parametrize("theme", ["gridtui-dark", "gridtui-light", "gridtui-high-contrast"])
def test_each_shipped_theme(make_app: MakeApp, snap_compare, theme: str) -> None:
    app = make_app(theme=theme)
    assert snap_compare(app, terminal_size=(120, 40), run_before=_ready(app))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_main_screen_sizes(make_app: MakeApp, snap_compare, size: tuple[int, int]) -> None:
    app = make_app()
    assert snap_compare(app, terminal_size=size, run_before=_ready(app))


def _editing(app: GridApp, **typed: str):
    """Open the edit screen on the selected bot and type ``typed`` (field id: text)."""

    async def run_before(pilot: Pilot) -> None:
        await settle(app)
        await pilot.press("e")
        await wait_for(lambda: isinstance(app.screen, EditBotScreen), "the edit screen")
        await pilot.pause()
        for field, text in typed.items():
            app.screen.query_one(f"#{field.replace('_', '-')}", Input).value = text
        await pilot.pause()

    return run_before


def test_edit_screen(make_app: MakeApp, snap_compare) -> None:
    """A changed level count previewed next to the resting ladder."""
    app = make_app()
    assert snap_compare(app, terminal_size=(160, 48), run_before=_editing(app, grid_levels="4"))


def test_edit_screen_with_a_problem(make_app: MakeApp, snap_compare) -> None:
    """A spacing below the round-trip fee, marked with check-config's message."""
    app = make_app()
    run_before = _editing(app, grid_spacing_pct="0.01")
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_edit_screen_on_a_small_terminal(make_app: MakeApp, snap_compare) -> None:
    """Below 120 columns the preview goes under the fields; everything stays reachable."""
    app = make_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=_editing(app))


def test_event_log_screen_scrolled_up(make_app: MakeApp, snap_compare) -> None:
    """The full event log on a short terminal, scrolled up a page: it stays there."""
    app = make_app()

    async def run_before(pilot: Pilot) -> None:
        await settle(app)
        await pilot.press("l")
        await pilot.pause()
        await pilot.press("pageup")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 14), run_before=run_before)


def test_backtest_result_screen(make_app: MakeApp, snap_compare, tmp_path: Path) -> None:
    """The report and the equity curve of `gridtui backtest` on the edited settings."""
    from gridtui.bench.backtest import write_candles
    from gridtui.tui.screens.backtest import BacktestScreen

    write_candles(tmp_path / "btc-1m.csv", 400)
    app = make_app()
    editing = _editing(app, grid_levels="4")

    async def run_before(pilot: Pilot) -> None:
        await editing(pilot)
        await pilot.click("#edit-backtest")
        await wait_for(lambda: isinstance(app.screen, BacktestScreen), "the backtest screen")
        screen = app.screen
        assert isinstance(screen, BacktestScreen)
        field = screen.query_one("#backtest-candles", Input)
        field.value = "btc-1m.csv"
        field.focus()
        await pilot.press("enter")
        await wait_for(lambda: screen.report is not None, "the report", 60)
        screen.query_one("#backtest-apply").focus()  # no text cursor: it blinks
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
