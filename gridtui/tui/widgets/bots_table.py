"""One row per bot: the overview that picks which bot the other panels show."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from gridtui.orchestrator.view import BotView
from gridtui.tui.formatting import average_price

COLUMNS: tuple[tuple[str, str], ...] = (
    ("bot", "Bot"),
    ("coin", "Coin"),
    ("venue", "Venue"),
    ("state", "State"),
    ("position", "Position"),
    ("entry", "Entry"),
    ("mark", "Mark"),
    ("upnl", "uPnL"),
    ("session", "Session PnL"),
    ("all_time", "All-time PnL"),
    ("open", "Open"),
)
NUMERIC = frozenset({"position", "entry", "mark", "upnl", "session", "all_time", "open"})

STATE_CLASSES = {
    "running": "bots-table--running",
    "starting": "bots-table--starting",
    "waiting for exchange": "bots-table--waiting",
    "halted": "bots-table--halted",
    "breaker open": "bots-table--breaker",
    "crashed": "bots-table--crashed",
}
"""Bot states with a colour of their own; any other state (stopping, stopped) is muted."""


class BotsTable(DataTable[Text]):
    """Updated in place from ``BotView`` snapshots up to 4×/s, so it never flickers."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *DataTable.COMPONENT_CLASSES,
        *STATE_CLASSES.values(),
        "bots-table--muted",
        "bots-table--profit",
        "bots-table--loss",
    }

    class BotSelected(Message):
        """The user moved the cursor to a bot's row (never posted for moves made by ``show``)."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        # The bot column stays put when a narrow terminal scrolls the table sideways.
        super().__init__(cursor_type="row", fixed_columns=1, name=name, id=id, classes=classes)
        self.border_title = "Bots"
        self._shown_selection: str | None = None

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(Text(label, justify="right" if key in NUMERIC else "left"), key=key)

    def show(self, views: Sequence[BotView], selected: str | None) -> None:
        """Bring the rows in line with ``views``; put the cursor on ``selected`` when the app
        changed its selection (not on every call: the user may have just moved the cursor and
        the app has not yet seen the ``BotSelected``)."""
        wanted = [v.name for v in views]
        # Row moves made here are the app's, not the user's: no BotSelected for them.
        with self.prevent(DataTable.RowHighlighted):
            for gone in [key for key in self.rows if key.value not in wanted]:
                self.remove_row(gone)
            for view in views:
                cells = self._cells(view)
                if view.name not in self.rows:
                    self.add_row(*(cells[key] for key, _ in COLUMNS), key=view.name)
                    continue
                for key, _ in COLUMNS:
                    if not _same(self.get_cell(view.name, key), cells[key]):
                        self.update_cell(view.name, key, cells[key], update_width=True)
            if selected != self._shown_selection and selected in self.rows:
                row = self.get_row_index(selected)
                if row != self.cursor_row:
                    self.move_cursor(row=row)
            self._shown_selection = selected

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Only user moves reach here: ``show`` prevents its own."""
        if event.data_table is self and event.row_key.value is not None:
            self.post_message(self.BotSelected(event.row_key.value))

    def _cells(self, view: BotView) -> dict[str, Text]:
        state_class = STATE_CLASSES.get(view.status, "bots-table--muted")
        state = Text(view.status, style=self.get_component_rich_style(state_class, partial=True))
        cells = {"bot": Text(view.name), "coin": Text(view.coin), "venue": Text(view.venue)}
        if view.risk is None:
            # A bot that is not running (starting, or crashed before it was built): its zeros
            # are not figures.
            return cells | {"state": state} | {key: self._number("—") for key in NUMERIC}
        return cells | {
            "state": state,
            "position": self._number(f"{view.position:+f}" if view.position else "0"),
            "entry": self._number(average_price(view.avg_entry) if view.position else "—"),
            "mark": self._number(f"{view.mark:,f}" if view.mark is not None else "—"),
            "upnl": self._pnl(view.unrealized),
            "session": self._pnl(view.session_realized),
            "all_time": self._pnl(view.all_time_realized),
            "open": self._number(str(view.open_orders)),
        }

    def _number(self, text: str, style_class: str | None = None) -> Text:
        style = self.get_component_rich_style(style_class, partial=True) if style_class else ""
        return Text(text, style=style, justify="right")

    def _pnl(self, value: Decimal) -> Text:
        if value > 0:
            return self._number(f"{value:+,.2f}", "bots-table--profit")
        if value < 0:
            return self._number(f"{value:+,.2f}", "bots-table--loss")
        return self._number("0.00")


def _same(old: Text, new: Text) -> bool:
    """Text equality ignores the base style; a theme change must still repaint the cell."""
    return old.plain == new.plain and old.style == new.style
