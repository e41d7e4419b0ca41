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


class HelpScreen(ModalScreen[None]):
    """The keys come from the app's own bindings, so this list cannot drift from them."""

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
            yield Label("escape, ? or q closes this", id="help-hint")

    def on_mount(self) -> None:
        table = self.query_one("#help-keys", DataTable)
        table.add_column("Key", key="key")
        table.add_column("Action", key="action")
        # Text, not str: a key such as "ctrl+[" must not be read as markup.
        for key, action in self._keys:
            table.add_row(Text(key, style="bold"), Text(action))

    def action_close(self) -> None:
        self.dismiss(None)
