"""One row per bot: the overview that picks which bot the other panels show."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from rich.text import Text
from textual.message import Message
from textual.reactive import var
from textual.theme import Theme
from textual.widgets import DataTable

from gridtui.core.formatting import average_price
from gridtui.core.types import BotStatus
from gridtui.orchestrator.view import BotView

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
COMPACT_LEFT_OUT = frozenset({"venue", "entry", "mark", "upnl"})
"""On a small terminal: the venue is in the header, the rest in the Position & PnL panel."""

STATE_CLASSES = {
    BotStatus.RUNNING: "bots-table--running",
    BotStatus.STARTING: "bots-table--starting",
    BotStatus.WAITING: "bots-table--waiting",
    BotStatus.HALTED: "bots-table--halted",
    BotStatus.BREAKER_OPEN: "bots-table--breaker",
    BotStatus.CRASHED: "bots-table--crashed",
}
"""Bot states with a colour of their own; any other state (stopping, stopped) is muted."""


class BotsTable(DataTable[Text]):
    """Updated in place from ``BotView`` snapshots up to 4×/s, so it never flickers; the app
    binds ``views`` and ``selected`` to its own."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *DataTable.COMPONENT_CLASSES,
        *STATE_CLASSES.values(),
        "bots-table--muted",
        "bots-table--profit",
        "bots-table--loss",
    }

    views: var[tuple[BotView, ...]] = var((), init=False)
    """One row per view, in this order (the app binds every bot's view here)."""
    selected: var[str | None] = var(None, init=False)
    """The bot the app selected: the cursor goes there when it changes (the app binds it)."""
    compact: var[bool] = var(False, init=False)
    """Fewer columns, so the PnL and the open orders fit 80 columns (the app binds it)."""

    class BotSelected(Message):
        """The user moved the cursor to a bot's row (never posted for moves the app made)."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        # The bot column stays put when a narrow terminal scrolls the table sideways.
        super().__init__(cursor_type="row", fixed_columns=1, name=name, id=id, classes=classes)
        self.border_title = "Bots"
        self._cursor_on: str | None = None
        """The selection the cursor was last put on. The cursor moves when the selection
        changes, never back to the same one on a later change of rows: the user may have just
        moved it and the app not yet seen the ``BotSelected``."""

    @property
    def columns_shown(self) -> tuple[tuple[str, str], ...]:
        if not self.compact:
            return COLUMNS
        return tuple((key, label) for key, label in COLUMNS if key not in COMPACT_LEFT_OUT)

    def on_mount(self) -> None:
        self._add_columns()
        self.app.theme_changed_signal.subscribe(self, self._repaint)

    def _add_columns(self) -> None:
        for key, label in self.columns_shown:
            self.add_column(Text(label, justify="right" if key in NUMERIC else "left"), key=key)

    def watch_compact(self) -> None:
        self.clear(columns=True)
        self._add_columns()
        self._cursor_on = None  # the rows come back: the cursor goes to the selection again
        self._sync()

    def show(self, views: Sequence[BotView], selected: str | None) -> None:
        """For a host that does not bind ``views`` and ``selected``."""
        self.views = tuple(views)
        self.selected = selected

    def watch_views(self) -> None:
        self._sync()

    def watch_selected(self) -> None:
        self._follow_selection()

    def _repaint(self, _theme: Theme) -> None:
        # Cells keep the colours they were made with; after the new theme's CSS is applied
        # they are made again.
        self.call_after_refresh(self._sync)

    def _sync(self) -> None:
        """Bring the rows in line with ``views``."""
        wanted = [v.name for v in self.views]
        # Row moves made here are the app's, not the user's: no BotSelected for them.
        updated = False
        with self.prevent(DataTable.RowHighlighted):
            for gone in [key for key in self.rows if key.value not in wanted]:
                self.remove_row(gone)
            for view in self.views:
                cells = self._cells(view)
                if view.name not in self.rows:
                    self.add_row(*(cells[key] for key, _ in self.columns_shown), key=view.name)
                    continue
                for key, _ in self.columns_shown:
                    if not _same(self.get_cell(view.name, key), cells[key]):
                        self.update_cell(view.name, key, cells[key], update_width=True)
                        updated = True
        if updated:
            # DataTable keys its render caches by an update counter that update_cell bumps, so
            # every earlier entry is dead; left to the caches' LRU limits (10,000 cells, 1,000
            # rows and lines) they held ~140,000 objects for a table of a few rows, and each full
            # garbage collection scanned them: 300 ms pauses in the cockpit (bench keys max).
            self._clear_caches()
        self._follow_selection()

    def _follow_selection(self) -> None:
        """Put the cursor on ``selected`` once, when it changed and its row is there."""
        selected = self.selected
        if selected == self._cursor_on or selected not in self.rows:
            return
        self._cursor_on = selected
        row = self.get_row_index(selected)
        if row != self.cursor_row:
            with self.prevent(DataTable.RowHighlighted):
                self.move_cursor(row=row)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Only user moves reach here: the table prevents its own."""
        if event.data_table is self and event.row_key.value is not None:
            self.post_message(self.BotSelected(event.row_key.value))

    def _cells(self, view: BotView) -> dict[str, Text]:
        state_class = STATE_CLASSES.get(view.status, "bots-table--muted")
        word = view.status.value
        if view.price_stale and view.status is BotStatus.RUNNING:
            word, state_class = f"{word} · price stale", "bots-table--waiting"
        state = Text(word, style=self.get_component_rich_style(state_class, partial=True))
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
