"""The account page: what the venue says of the whole account and each position's risk.

It shows the supervisor's shared reading (``AccountWatch.latest``, refreshed by the engine every
few seconds) and says how old it is; the screen itself never asks the venue.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from gridtui.core.account import AccountSummary, PositionRisk, distance_pct
from gridtui.core.formatting import average_price, percent_away, usd

COLUMNS = (
    ("coin", "Coin"),
    ("size", "Position"),
    ("entry", "Entry"),
    ("mark", "Mark"),
    ("leverage", "Leverage"),
    ("margin", "Margin"),
    ("liquidation", "Liquidation"),
    ("away", "Away"),
    ("funding", "Funding paid"),
)


class AccountScreen(ModalScreen[None]):
    """Account value, margin used and withdrawable; per position its leverage, liquidation
    price and how far the mark is from it, and the funding it paid since it opened."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("a", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(
        self, reading: Callable[[], AccountSummary | None], now_ms: Callable[[], int], badge: str
    ) -> None:
        super().__init__()
        self._reading = reading
        self._now_ms = now_ms
        self._badge = badge

    def compose(self) -> ComposeResult:
        with Vertical(id="account-dialog"):
            yield Label(f"Account · {self._badge}", id="account-title")
            yield Label("", id="account-summary")
            yield DataTable[Text](id="account-positions", cursor_type="none", zebra_stripes=True)
            yield Label("escape or a closes this", id="account-hint")

    def on_mount(self) -> None:
        table = self.query_one("#account-positions", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self._show()
        self.set_interval(1.0, self._show)

    def _show(self) -> None:
        account = self._reading()
        summary = self.query_one("#account-summary", Label)
        table = self.query_one("#account-positions", DataTable)
        table.clear()
        if account is None:
            summary.update("not read yet: the venue has not answered")
            return
        age_s = max(self._now_ms() - account.read_at_ms, 0) / 1000
        summary.update(
            f"value {usd(account.account_value)} · margin used {usd(account.margin_used)} · "
            f"withdrawable {usd(account.withdrawable)} · read {age_s:.0f} s ago"
        )
        for position in account.positions:
            table.add_row(*_cells(position))
        if not account.positions:
            table.add_row(Text("no open position", style="dim"), *([Text("")] * (len(COLUMNS) - 1)))

    def action_close(self) -> None:
        self.dismiss(None)


def _cells(p: PositionRisk) -> list[Text]:
    away = distance_pct(p.mark, p.liquidation_price)
    funding = "n/a" if p.funding_since_open is None else usd(p.funding_since_open)
    return [
        Text(p.coin, style="bold"),
        Text(f"{p.size:+f}", justify="right"),
        Text(average_price(p.entry_price), justify="right"),
        Text(average_price(p.mark), justify="right"),
        Text(f"{p.leverage}x {'cross' if p.cross else 'isolated'}"),
        Text(usd(p.margin_used), justify="right"),
        Text(_liquidation(p.liquidation_price), justify="right"),
        Text(percent_away(away), justify="right"),
        Text(funding, justify="right"),
    ]


def _liquidation(price: Decimal | None) -> str:
    return "none" if price is None else average_price(price)
