"""Position and PnL of the selected bot, with its equity over time as a chart.

The chart is plotext's, through textual-plotext (a Textual widget around a well-kept terminal
plotting library: axes, a time axis and colours, which a sparkline has none of): a time axis,
the zero line, gains green and losses red; it starts from the journal's history (the realized
PnL after each past fill), so a restarted cockpit does not open on an empty chart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import ClassVar

from textual.app import ComposeResult
from textual.content import Content
from textual.reactive import var
from textual.widget import Widget
from textual.widgets import Static
from textual_plotext import PlotextPlot

from gridtui.core.formatting import average_price
from gridtui.orchestrator.view import BotView, EquityPoint

GUTTER = 2
"""Spaces between the two columns of figures when the panel is wide enough for two."""
CHART_EVERY_MS = 1000
"""The chart is drawn again at most this often (of the view's time)."""
DAY_MS = 86_400_000


class PnlPanel(Widget):
    """Figures first, chart below: the figures are what a trader acts on.

    Takes its time only from the view (``last_fill_ms``), never from the wall clock, so what it
    shows is a pure function of what it was given.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "pnl-panel--label",
        "pnl-panel--profit",
        "pnl-panel--loss",
        "pnl-panel--muted",
    }

    view: var[BotView | None] = var(None, init=False)
    """The bot shown (the app binds its selected bot's view here)."""
    equity: var[tuple[EquityPoint, ...]] = var((), init=False)
    """That bot's equity over time, oldest first (the app binds it from its view model)."""

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.border_title = "Position & PnL"
        self._drawn: tuple[str, int, bool] | None = None
        """What the chart last drew: the bot, the second of its view's time, and whether it
        had more than two points."""

    def compose(self) -> ComposeResult:
        yield Static(classes="pnl-figures")
        yield Static(classes="pnl-range")
        yield PlotextPlot(classes="pnl-chart")

    def show(self, view: BotView | None, equity: Sequence[EquityPoint]) -> None:
        """For a host that does not bind ``view`` and ``equity``."""
        self.view = view
        self.equity = tuple(equity)

    def watch_view(self) -> None:
        self._update()

    def watch_equity(self) -> None:
        self._update()

    def on_resize(self) -> None:
        """One or two columns of figures depends on the width."""
        self._update()

    def _update(self) -> None:
        if not self.is_mounted:
            return
        _set(self.query_one(".pnl-figures", Static), self._figures())
        _set(self.query_one(".pnl-range", Static), self._range())
        # A chart of one point is a dot on two axes: it shows from two points on, and the
        # range line says why it is not there yet.
        chart = self.query_one(PlotextPlot)
        chart.display = len(self.equity) > 1 and self.view is not None
        if chart.display and self.view is not None:
            # Drawn again once a second of the view's time at most (a plotext frame costs
            # ~30 ms: at every 4 Hz refresh it delayed key presses), and at once for another bot.
            key = (self.view.name, self.view.now_ms // CHART_EVERY_MS, len(self.equity) > 2)
            if key != self._drawn:
                self._drawn = key
                draw_equity(chart, self.equity)

    def _figures(self) -> Content:
        view = self.view
        if view is None:
            return Content.styled("no bot selected", ".pnl-panel--muted")
        if view.risk is None:
            # A bot that is not running (starting, or crashed before it was built): its zeros
            # are not figures, so none are shown.
            return Content.styled(f"no figures: the bot is {view.status}", ".pnl-panel--muted")
        position = f"{view.position:+f}" if view.position else "flat"
        trips = view.round_trips
        each = trips.profit_per_round_trip
        left = _column(
            [
                ("Position", Content(position)),
                ("Entry", Content(average_price(view.avg_entry) if view.position else "—")),
                ("Mark", Content(f"{view.mark:,f}" if view.mark is not None else "—")),
                ("Fees", Content(f"{view.fees_paid:,.2f}")),
                ("Grid", _signed(trips.grid_profit)),
                ("Per trip", _signed(each) if each is not None else Content("—")),
            ]
        )
        right = _column(
            [
                ("uPnL", _signed(view.unrealized)),
                ("Session", _signed(view.session_realized)),
                ("All-time", _signed(view.all_time_realized)),
                ("Fills", Content(str(view.fill_count))),
                ("Trips", Content(str(trips.round_trips))),
                ("Inventory", _signed(view.inventory_pnl)),
            ]
        )
        left_w = max(cell.cell_length for cell in left)
        right_w = max(cell.cell_length for cell in right)
        if self.content_size.width >= left_w + GUTTER + right_w:
            rows = [
                a.pad_right(left_w - a.cell_length + GUTTER) + b
                for a, b in zip(left, right, strict=True)
            ]
        else:
            # One column, most important first: position and PnL before prices and counts.
            rows = [cell for pair in zip(left, right, strict=True) for cell in pair]
        last = _utc_time(view.last_fill_ms) if view.last_fill_ms else "—"
        rows.append(Content.assemble(("Last fill ", ".pnl-panel--label"), last))
        return Content("\n").join(rows)

    def _range(self) -> Content:
        if self.view is None or self.view.risk is None:
            return Content("")
        if len(self.equity) < 2:
            return Content.styled(
                "equity: the chart starts at the next price change", ".pnl-panel--muted"
            )
        values = [value for _, value in self.equity]
        low, high = min(values), max(values)
        return Content.styled(f"equity  low {low:,.2f}  high {high:,.2f}", ".pnl-panel--muted")


def draw_equity(chart: PlotextPlot, equity: Sequence[EquityPoint]) -> None:
    """Equity against time, the zero line, gains green and losses red. Time is plotted as
    minutes from the first point (always increasing, whatever midnight, New Year or 29 February
    fall in between) and labelled in UTC at both ends, with the date once it spans a day."""
    plt = chart.plt
    plt.clear_data()
    plt.clear_figure()
    first, last = equity[0][0], equity[-1][0]
    minutes = [(ms - first) / 60_000 for ms, _ in equity]
    values = [value for _, value in equity]
    plt.hline(0.0, "gray")
    plt.plot(minutes, values, marker="braille", color="gray")
    for wanted, colour in ((True, "green"), (False, "red")):
        side = [(m, v) for m, v in zip(minutes, values, strict=True) if (v >= 0) is wanted]
        if side:
            plt.scatter([m for m, _ in side], [v for _, v in side], marker="braille",
                        color=colour)  # fmt: skip
    stamp = "%d/%m %H:%M" if last - first >= DAY_MS else "%H:%M"
    labels = [datetime.fromtimestamp(ms / 1000, tz=UTC).strftime(stamp) for ms in (first, last)]
    ticks = [minutes[0], minutes[-1]] if last > first else [minutes[0]]
    plt.xticks(ticks, labels[: len(ticks)])
    chart.refresh()


def _column(pairs: list[tuple[str, Content]]) -> list[Content]:
    """Labels left-aligned, values right-aligned, so the figures line up on the decimal side."""
    label_w = max(len(label) for label, _ in pairs)
    value_w = max(value.cell_length for _, value in pairs)
    return [
        Content.assemble((label.ljust(label_w + 1), ".pnl-panel--label"))
        + value.pad_left(value_w - value.cell_length)
        for label, value in pairs
    ]


def _signed(value: Decimal) -> Content:
    text = f"{value:+,.2f}"
    if value > 0:
        return Content.styled(text, ".pnl-panel--profit")
    if value < 0:
        return Content.styled(text, ".pnl-panel--loss")
    return Content(text)


def _utc_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%H:%M:%S UTC")


def _set(static: Static, content: Content) -> None:
    """Update only when the text changed, and lay out again only when the number of lines did:
    a full reflow at every 4 Hz refresh would stall the whole app.

    The height is set to the number of lines (the text never wraps: ``text-wrap: nowrap``),
    not measured (``height: auto``): Textual keys a widget's measured height on a counter that
    ``refresh(layout=True)`` bumps only when no layout is pending yet, so a layout pass between
    two updates before the widget's idle turn keeps the first update's height (one line
    instead of five until the next resize). A new height is a new style, which Textual never
    serves from that cache."""
    previous = static.content
    old_text = previous.plain if isinstance(previous, Content) else None
    if old_text == content.plain:
        return
    static.update(content, layout=False)
    static.styles.height = content.plain.count("\n") + 1  # a layout pass only when it changed
