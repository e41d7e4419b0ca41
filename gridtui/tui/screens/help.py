"""Every key of the cockpit and what it does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

LEGEND: tuple[tuple[str, str], ...] = (
    ("resting", "the level's order is on the exchange's book"),
    ("pending", "sent, not yet confirmed (or being canceled)"),
    ("gap", "the empty slot where the price is: buys below it, sells above it; a fill moves it"),
    ("filled", "filled in the last minute (the row is highlighted); its replacement goes one "
     "level away"),
    ("would cross", "no order: post-only, it would trade at this mid; placed once the price "
     "moves"),
    ("not held", "no order: a long (short) grid sells (buys) only what it holds"),
    ("missing: …", "no order, and why: a risk limit (position, notional, open orders, rate) "
     "or the venue refused it; the builder retries every few cycles"),
    ("canceled", "no order: the bot is halted (u resumes)"),
    ("▲ / ▼ N more", "levels beyond the panel's height"),
    ("10×2 levels", "levels a side: 10 buys and 10 sells around the gap"),
    ("L+5", "in the event log: the grid level, 5 above the center (L-5: below)"),
    ("tokens", "the order rate limit: orders that may go out right now, of the burst; one "
     "comes back every 1/max_orders_per_second s"),
)  # fmt: skip
"""What the ladder, the risk panel and the event log abbreviate."""


class HelpScreen(ModalScreen[None]):
    """The keys come from the app's own bindings, so this list cannot drift from them; the
    legend below them explains the panels' words."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", key_display="?", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, keys: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self._keys = tuple(keys)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Label("Keys", id="help-title")
            yield DataTable[Text](id="help-keys", cursor_type="none", zebra_stripes=True)
            yield Label("Ladder, risk panel and event log", id="help-legend-title")
            yield DataTable[Text](id="help-legend", cursor_type="none", zebra_stripes=True)
            yield Label("escape, ? or q closes this", id="help-hint")

    def on_mount(self) -> None:
        table = self.query_one("#help-keys", DataTable)
        table.add_column("Key", key="key")
        table.add_column("Action", key="action")
        # Text, not str: a key such as "ctrl+[" must not be read as markup.
        for key, action in self._keys:
            table.add_row(Text(key, style="bold"), Text(action))
        legend = self.query_one("#help-legend", DataTable)
        legend.add_column("Word", key="word")
        legend.add_column("Meaning", key="meaning")
        for word, meaning in LEGEND:
            legend.add_row(Text(word, style="bold"), Text(meaning))

    def action_close(self) -> None:
        self.dismiss(None)
