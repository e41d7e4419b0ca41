"""The cockpit panels, fed hand-built BotViews in small host apps and read back as rendered."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import attrs
from textual.app import App, ComposeResult
from textual.color import Color
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static
from textual_plotext import PlotextPlot

import gridtui.tui
from gridtui.core.events import (
    AlertRaised,
    BotCrashed,
    BotHalted,
    OrderCanceled,
    OrderFilled,
    OrderPlaced,
    Reconciled,
    Severity,
)
from gridtui.core.types import BotStatus, OrderStatus, Side
from gridtui.orchestrator.view import BotView, RiskView, idle_view, ladder
from gridtui.risk.circuit_breaker import BreakerState
from gridtui.tui.themes import BUNDLED_THEMES_DIR, load_themes
from gridtui.tui.widgets.bots_table import BotsTable
from gridtui.tui.widgets.event_log import EventLog
from gridtui.tui.widgets.grid_ladder import GridLadder
from gridtui.tui.widgets.pnl_panel import PnlPanel
from gridtui.tui.widgets.risk_panel import RiskPanel

APP_TCSS = Path(gridtui.tui.__file__).parent / "app.tcss"
NOW = 1_700_000_000_000
"""2023-11-14 22:13:20 UTC."""


class Host(App[None]):
    CSS_PATH = APP_TCSS

    def __init__(self, *widgets: Widget) -> None:
        super().__init__()
        self._widgets = widgets
        self.selections: list[str] = []

    def compose(self) -> ComposeResult:
        yield from self._widgets

    def on_bots_table_bot_selected(self, message: BotsTable.BotSelected) -> None:
        self.selections.append(message.name)


def risk(**changes: object) -> RiskView:
    base = RiskView(
        breaker_state=BreakerState.CLOSED, breaker_errors=0, breaker_trips=0,
        breaker_last_error=None, breaker_reopens_at_ms=None, halted=False, halt_kind=None,
        halt_reason=None,
        dead_man_enabled=True,
        dead_man_expires_at_ms=NOW + 58_000, dead_man_healthy=True, drawdown=D(100),
        max_drawdown=D(500), daily_pnl=D(-20), daily_loss_limit=D(300), order_tokens=D(19),
        order_burst=20, max_orders_per_second=D(5),
    )  # fmt: skip
    return attrs.evolve(base, **changes)


def view(name: str = "btc", status: BotStatus = BotStatus.RUNNING, **changes: object) -> BotView:
    base = attrs.evolve(
        idle_view(name, "BTC", "paper", status, None, NOW),
        position=D("0.0150"), avg_entry=D("97010.0"), mark=D("97042.5"), unrealized=D("0.49"),
        session_realized=D("12.40"), all_time_realized=D("130.02"), fees_paid=D("3.21"),
        fill_count=42, last_fill_ms=NOW, open_orders=19, risk=risk(),
    )  # fmt: skip
    return attrs.evolve(base, **changes)


def grid(n: int, mark: D | None, *, live_all: bool = True) -> BotView:
    """2n+1 levels one dollar apart around 100, gap at 100: buys below, sells above."""
    prices = tuple(D(100 + i) for i in range(-n, n + 1))
    live = {(i, Side.BUY if i < 0 else Side.SELL): OrderStatus.OPEN for i in range(-n, n + 1) if i}
    if not live_all:
        live[(-2, Side.BUY)] = OrderStatus.PENDING_SUBMIT
        del live[(-1, Side.BUY)], live[(1, Side.SELL)]
    filled = {} if live_all else {-1: NOW - 5_000}
    levels = ladder(prices, (D("0.5"),) * len(prices), 0, live, filled, mark, NOW)
    return view(center=D(100), spacing_pct=D("1.0"), mark=mark, levels=levels)


def lines(widget: Widget) -> list[Content]:
    rendered = widget.render()
    assert isinstance(rendered, Content)
    return rendered.split("\n", allow_blank=True)


def styles(line: Content) -> set[str]:
    return {str(span.style) for span in line.spans}


# ---- grid ladder -----------------------------------------------------------------------------


async def test_ladder_draws_the_mid_line_between_the_levels_around_the_mark() -> None:
    ladder_widget = GridLadder(id="ladder")
    async with Host(ladder_widget).run_test(size=(80, 30)) as pilot:
        ladder_widget.show(grid(3, D("101.5")))
        await pilot.pause()
        text = [line.plain for line in lines(ladder_widget)]
        assert text[0].startswith("BTC") and "center 100" in text[0] and "1.00%" in text[0]
        mid = next(i for i, line in enumerate(text) if "mid 101.5" in line)
        assert text[mid - 1].split()[:2] == ["102", "SELL"]
        assert text[mid + 1].split()[:2] == ["101", "SELL"]
        prices = [line.split()[0] for line in text[1:] if "mid" not in line]
        assert prices == ["103", "102", "101", "100", "99", "98", "97"]

        ladder_widget.show(grid(3, D("96.5")))
        await pilot.pause()
        assert "mid 96.5" in lines(ladder_widget)[-1].plain

        ladder_widget.show(grid(3, None))
        await pilot.pause()
        assert not any("mid" in line.plain for line in lines(ladder_widget))


async def test_ladder_shows_each_status_and_highlights_a_recent_fill() -> None:
    ladder_widget = GridLadder(id="ladder")
    async with Host(ladder_widget).run_test(size=(80, 30)) as pilot:
        ladder_widget.show(grid(3, D("100.2"), live_all=False))
        await pilot.pause()
        rows = {line.plain.split()[0]: line for line in lines(ladder_widget)[1:]}
        words = {price: row.plain.split() for price, row in rows.items() if price[0].isdigit()}
        assert words["103"][1:4] == ["SELL", "0.5", "resting"]
        assert words["101"][1:4] == ["SELL", "0.5", "missing"]
        assert words["100"][1:] == ["gap", "0.5", "-0.20%"]
        assert words["99"][1:4] == ["BUY", "0.5", "filled"]
        assert words["98"][1:4] == ["BUY", "0.5", "pending"]
        assert words["97"][1:5] == ["BUY", "0.5", "resting", "-3.19%"]
        recent = [price for price, row in rows.items() if ".grid-ladder--recent" in styles(row)]
        assert recent == ["99"]
        assert ".grid-ladder--buy" in styles(rows["98"])
        assert ".grid-ladder--sell" in styles(rows["102"])


async def test_ladder_keeps_the_rows_around_the_mid_when_it_has_too_few_rows() -> None:
    ladder_widget = GridLadder(id="ladder")
    async with Host(ladder_widget).run_test(size=(80, 30)) as pilot:
        ladder_widget.styles.height = 10
        ladder_widget.show(grid(20, D("100.5")))
        await pilot.pause()
        text = [line.plain for line in lines(ladder_widget)]
        assert len(text) == ladder_widget.size.height == 9  # 10 less the title rule
        assert text[1].startswith("▲") and text[-1].startswith("▼")
        shown = [line for line in text[2:-1] if "mid" not in line]
        hidden = int(text[1].split()[1]) + int(text[-1].split()[1])
        assert hidden + len(shown) == 41
        mid = next(i for i, line in enumerate(text) if "mid 100.5" in line)
        assert mid in (4, 5)  # centred in the 8 rows under the title
        # Level rows fit the ladder's share of an 80-column screen (the title may be cropped).
        assert max(len(line) for line in text[1:]) <= 36


async def test_ladder_without_a_bot_or_a_grid_says_so() -> None:
    ladder_widget = GridLadder(id="ladder")
    async with Host(ladder_widget).run_test() as pilot:
        ladder_widget.show(None)
        await pilot.pause()
        assert str(ladder_widget.render()) == "no bot selected"
        ladder_widget.show(idle_view("eth", "ETH", "paper", BotStatus.STARTING, None, NOW))
        await pilot.pause()
        assert "no grid yet (starting)" in str(ladder_widget.render())


# ---- bots table ------------------------------------------------------------------------------


async def test_table_shows_one_row_per_bot_and_updates_cells_in_place() -> None:
    table = BotsTable(id="bots")
    async with Host(table).run_test(size=(160, 30)) as pilot:
        crashed = idle_view("sol", "SOL", "hyperliquid", BotStatus.CRASHED, "bad journal", NOW)
        table.show(
            [view("btc"), view("eth", BotStatus.HALTED, unrealized=D("-27.4")), crashed], "btc"
        )
        await pilot.pause()
        assert table.row_count == 3
        assert [table.get_cell("btc", key).plain for key in ("bot", "state", "position")] == [
            "btc", "running", "+0.0150"
        ]  # fmt: skip
        assert table.get_cell("btc", "mark").plain == "97,042.5"
        assert table.get_cell("btc", "session").plain == "+12.40"
        assert table.get_cell("eth", "upnl").plain == "-27.40"
        assert {table.get_cell("sol", k).plain for k in ("position", "all_time", "open")} == {"—"}
        colour = {k: table.get_cell(k, "state").style.color for k in ("btc", "eth", "sol")}
        assert len(set(colour.values())) == 3

        row = table.rows[next(k for k in table.rows if k == "btc")]
        table.show(
            [view("btc", position=D("-0.5"), open_orders=7), view("eth", BotStatus.HALTED)], "btc"
        )
        await pilot.pause()
        assert table.rows[next(k for k in table.rows if k == "btc")] is row
        assert table.get_cell("btc", "position").plain == "-0.5"
        assert table.get_cell("btc", "open").plain == "7"
        assert table.row_count == 2 and "sol" not in table.rows


async def test_the_table_keeps_no_render_of_a_value_it_no_longer_shows() -> None:
    """DataTable keys its render caches by an update counter, so a render of an older value can
    never be used again; the table drops them at each update. Left to the caches' own limits,
    4 bots refreshed at 4 Hz kept ~140,000 objects there, and each full garbage collection
    scanned them (300 ms pauses in the cockpit)."""
    table = BotsTable(id="bots")
    async with Host(table).run_test(size=(160, 30)) as pilot:
        for tick in range(60):
            table.show([view(n, mark=D(97_000 + tick)) for n in ("btc", "eth", "sol")], "btc")
            await pilot.pause()
        assert table.get_cell("btc", "mark").plain == "97,059"
        # What the last frames drew: each cell and row (+ the header) in a few states at most.
        cells = (table.row_count + 1) * len(table.columns)
        assert len(table._cell_render_cache) <= 2 * cells
        assert len(table._row_render_cache) <= 2 * (table.row_count + 1)
        assert len(table._line_cache) <= 2 * table.size.height


async def test_table_posts_bot_selected_only_for_moves_the_user_makes() -> None:
    table = BotsTable(id="bots")
    app = Host(table)
    async with app.run_test(size=(160, 30)) as pilot:
        views = [view("btc"), view("eth"), view("sol")]
        table.show(views, "btc")
        await pilot.pause()
        table.show(views, "eth")
        await pilot.pause()
        assert table.cursor_row == 1
        assert app.selections == []

        table.focus()
        await pilot.press("down")
        await pilot.pause()
        assert app.selections == ["sol"]
        # A refresh still carrying the old selection must not drag the cursor back.
        table.show(views, "eth")
        await pilot.pause()
        assert table.cursor_row == 2
        await pilot.press("up", "up")
        await pilot.pause()
        assert app.selections == ["sol", "eth", "btc"]


# ---- PnL panel -------------------------------------------------------------------------------


async def test_pnl_panel_shows_figures_last_fill_and_equity_chart() -> None:
    panel = PnlPanel(id="pnl")
    async with Host(panel).run_test(size=(80, 30)) as pilot:
        panel.show(view(), [(0, 1.0), (60_000, 2.5), (120_000, 2.0)])
        await pilot.pause()
        figures = str(panel.query_one(".pnl-figures", Static).render())
        for expected in ("+0.0150", "97,010.0", "97,042.5", "+0.49", "+12.40", "+130.02"):
            assert expected in figures
        assert "Last fill 22:13:20 UTC" in figures
        assert panel.query_one(PlotextPlot).display
        assert "low 1.00  high 2.50" in str(panel.query_one(".pnl-range", Static).render())

        panel.show(view(last_fill_ms=0, unrealized=D("-3")), [(0, 5.0)])
        await pilot.pause()
        figures = str(panel.query_one(".pnl-figures", Static).render())
        assert "Last fill —" in figures and "-3.00" in figures
        assert not panel.query_one(PlotextPlot).display
        range_line = str(panel.query_one(".pnl-range", Static).render())
        assert "the chart starts at the next price change" in range_line

        panel.show(None, [])
        await pilot.pause()
        assert str(panel.query_one(".pnl-figures", Static).render()) == "no bot selected"


# ---- risk panel ------------------------------------------------------------------------------


def risk_lines(panel: RiskPanel) -> dict[str, Content]:
    return {line.plain.split()[0]: line for line in lines(panel) if line.plain.strip()}


async def test_risk_panel_shows_every_safety_state_and_colours_limits() -> None:
    panel = RiskPanel(id="risk")
    async with Host(panel).run_test(size=(80, 30)) as pilot:
        panel.show(view())
        await pilot.pause()
        rows = risk_lines(panel)
        assert "closed · 0 errors · 0 trips" in rows["Breaker"].plain
        assert "trading" in rows["Halt"].plain
        assert rows["Dead-man"].plain.split(None, 1)[1] == "healthy · expires in 58 s"
        assert "100.00 / 500.00" in rows["Drawdown"].plain
        assert "-20.00 / -300.00" in rows["Day"].plain
        assert "19.0 / 20 tokens" in rows["Orders"].plain and "max 5/s" in rows["Orders"].plain
        assert ".risk-panel--ok" in styles(rows["Drawdown"])

        tripped = risk(
            breaker_state=BreakerState.OPEN, breaker_errors=5, breaker_trips=1,
            breaker_last_error="timeout", breaker_reopens_at_ms=NOW + 12_000, halted=True,
            halt_reason="daily loss", drawdown=D(420), daily_pnl=D(-310), order_tokens=D("0.4"),
            dead_man_expires_at_ms=NOW - 3_000, dead_man_healthy=False,
        )  # fmt: skip
        panel.show(view(risk=tripped))
        await pilot.pause()
        rows = risk_lines(panel)
        assert "open · 5 errors · 1 trip · retry in 12 s" in rows["Breaker"].plain
        assert any(line.plain.strip() == "timeout" for line in lines(panel))
        assert "HALTED: daily loss" in rows["Halt"].plain
        assert ".risk-panel--error" in styles(rows["Halt"])
        assert "NOT HEALTHY · expired 3 s ago" in rows["Dead-man"].plain
        assert ".risk-panel--error" in styles(rows["Dead-man"])
        assert ".risk-panel--warning" in styles(rows["Drawdown"])
        assert ".risk-panel--error" in styles(rows["Day"])
        assert ".risk-panel--error" in styles(rows["Orders"])

        panel.show(view(risk=risk(order_tokens=D(3), dead_man_enabled=False)))
        await pilot.pause()
        rows = risk_lines(panel)
        assert ".risk-panel--warning" in styles(rows["Orders"])
        assert rows["Dead-man"].plain.split()[1] == "off"


async def test_a_silent_price_stream_shows_in_the_table_and_the_risk_panel() -> None:
    table, panel = BotsTable(id="bots"), RiskPanel(id="risk")
    async with Host(table, panel).run_test(size=(160, 40)) as pilot:
        table.show([view("btc", price_stale=True, price_age_s=12.4), view("eth")], "btc")
        panel.show(view("btc", price_stale=True, price_age_s=12.4))
        await pilot.pause()
        assert table.get_cell("btc", "state").plain == "running · price stale"
        assert table.get_cell("eth", "state").plain == "running"
        waiting = {k: table.get_cell(k, "state").style.color for k in ("btc", "eth")}
        assert waiting["btc"] != waiting["eth"]  # the warning colour, not the running one
        price = risk_lines(panel)["Price"]
        assert price.plain.split(None, 1)[1] == "stream silent 12 s: polling the venue"
        assert ".risk-panel--warning" in styles(price)

        panel.show(view("btc"))
        await pilot.pause()
        assert "Price" not in risk_lines(panel)


async def test_risk_panel_for_a_crashed_bot_shows_its_error() -> None:
    panel = RiskPanel(id="risk")
    async with Host(panel).run_test() as pilot:
        panel.show(idle_view("sol", "SOL", "paper", BotStatus.CRASHED, "journal CRC mismatch", NOW))
        await pilot.pause()
        text = str(panel.render())
        assert "crashed" in text and "journal CRC mismatch" in text


# ---- event log -------------------------------------------------------------------------------

EV = {"bot": "btc", "coin": "BTC", "timestamp_ms": NOW}


async def test_event_log_writes_one_line_per_event_with_details() -> None:
    log = EventLog(id="log")
    async with Host(log).run_test(size=(160, 30)) as pilot:
        events = [
            OrderPlaced(**EV, client_id="0x" + "a" * 32, exchange_id=1, side=Side.BUY,
                        price=D(97000), size=D("0.0015"), grid_level=-2),
            OrderFilled(**EV, trade_id=9, client_id=None, side=Side.SELL, price=D(97100),
                        size=D("0.0015"), fee=D("0.04"), position=D("0.0135"),
                        realized_pnl=D("0.15")),
            OrderCanceled(**EV, client_id="0x" + "b" * 32, exchange_id=2, reason="halt"),
            BotHalted(**EV, reason="manual halt"),
            Reconciled(**EV, missing_fills=1, adopted_orders=0, canceled_unknown=2,
                       position_corrected=True),
            AlertRaised(**EV, severity=Severity.CRITICAL, kind="dead_man", message="expired"),
            BotCrashed(**EV, error="boom", restart_in_s=None),
        ]  # fmt: skip
        for event in events:
            log.add(event)
        await pilot.pause()
        text = [strip.text.rstrip() for strip in log.lines]
        assert text == [
            "22:13:20 btc BTC order_placed BUY 97000×0.0015 L-2",
            "22:13:20 btc BTC order_filled SELL 97100×0.0015 fee 0.04 pos +0.0135 pnl +0.15",
            "22:13:20 btc BTC order_canceled 0xbbbbbbbb…: halt",
            "22:13:20 btc BTC bot_halted manual halt",
            "22:13:20 btc BTC reconciled missing fills 1, adopted 0, canceled unknown 2, "
            "position corrected",
            "22:13:20 btc BTC alert_raised CRITICAL dead_man: expired",
            "22:13:20 btc BTC bot_crashed boom (not restarted)",
        ]
        colour = [
            next(seg.style.color for seg in strip if event.event_name in seg.text and seg.style)
            for strip, event in zip(log.lines, events, strict=True)
        ]
        error = log.get_component_rich_style("event-log--error", partial=True).color
        fill = log.get_component_rich_style("event-log--fill", partial=True).color
        assert colour[1] == fill and colour[5] == error and colour[6] == error
        assert colour[0] != error and colour[0] != fill


async def test_event_log_is_bounded_at_max_lines() -> None:
    log = EventLog(id="log", max_lines=50)
    async with Host(log).run_test(size=(120, 30)) as pilot:
        for n in range(60):
            log.add(BotHalted(bot="btc", coin="BTC", timestamp_ms=NOW, reason=f"reason {n}"))
        await pilot.pause()
        assert len(log.lines) == 50
        assert log.lines[0].text.rstrip().endswith("reason 10")
        assert log.lines[-1].text.rstrip().endswith("reason 59")
    assert EventLog().max_lines == 500


async def test_a_theme_change_recolours_the_log_and_the_table() -> None:
    log, table = EventLog(id="log"), BotsTable(id="bots")
    app = Host(table, log)
    async with app.run_test(size=(160, 30)) as pilot:
        for theme in load_themes([BUNDLED_THEMES_DIR])[0]:
            app.register_theme(theme)
        app.theme = "gridtui-dark"
        await pilot.pause()
        log.add(BotCrashed(**EV, error="boom", restart_in_s=5.0))
        table.show([view("btc", BotStatus.CRASHED)], "btc")
        await pilot.pause()

        def colours() -> tuple[object, object]:
            segment = next(seg for seg in log.lines[0] if "bot_crashed" in seg.text)
            return segment.style.color, table.get_cell("btc", "state").style.color  # type: ignore[union-attr]

        dark = colours()
        app.theme = "gridtui-light"
        await pilot.pause()
        await pilot.pause()
        table.show([view("btc", BotStatus.CRASHED)], "btc")
        light = colours()
        assert light[0] != dark[0] and light[1] != dark[1]
        error = Color.parse(app.get_css_variables()["text-error"]).rich_color
        assert light == (error, error)
        assert log.lines[0].text.rstrip().endswith("boom (restart in 5 s)")


async def test_the_equity_chart_draws_across_midnight_a_leap_day_and_one_instant() -> None:
    from gridtui.tui.widgets.pnl_panel import draw_equity

    leap_eve = 1_709_161_200_000  # 2024-02-28T23:00:00Z
    panel = PnlPanel(id="pnl")
    async with Host(panel).run_test(size=(80, 30)) as pilot:
        chart = panel.query_one(PlotextPlot)
        for series in (
            [(leap_eve, 1.0), (leap_eve + 2 * 3_600_000, -1.0), (leap_eve + 2 * 86_400_000, 0.5)],
            [(leap_eve, 0.0), (leap_eve, 0.0)],  # one instant: no span
            [(leap_eve, 0.0), (leap_eve + 60_000, 0.0)],  # flat on the zero line
        ):
            draw_equity(chart, series)
            await pilot.pause()
            assert chart.plt.build()  # plotext draws it (a 29/02 label used to raise)
