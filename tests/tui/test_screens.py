"""The confirm, help and account modals: what they answer and what they list."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import attrs
from textual.app import App
from textual.widgets import DataTable, Label

import gridtui.tui
from gridtui.core.account import AccountSummary, PositionRisk
from gridtui.tui.screens.account import AccountScreen
from gridtui.tui.screens.confirm import ConfirmScreen
from gridtui.tui.screens.help import HelpScreen

APP_TCSS = Path(gridtui.tui.__file__).parent / "app.tcss"


class Host(App[None]):
    CSS_PATH = APP_TCSS


async def answer(*keys: str, click: str | None = None) -> list[bool | None]:
    app = Host()
    answers: list[bool | None] = []
    async with app.run_test() as pilot:
        app.push_screen(ConfirmScreen("Cancel every order?"), answers.append)
        await pilot.pause()
        assert "Cancel every order?" in str(app.screen.query_one("#confirm-question").render())
        if click is not None:
            await pilot.click(click)
        await pilot.press(*keys)
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
    return answers


async def test_confirm_yes_keys_answer_true() -> None:
    assert await answer("y") == [True]
    assert await answer("tab", "enter") == [True]  # Yes is one tab away
    assert await answer(click="#confirm-yes") == [True]


async def test_confirm_no_keys_answer_false() -> None:
    assert await answer("n") == [False]
    assert await answer("escape") == [False]
    assert await answer(click="#confirm-no") == [False]
    assert await answer("enter") == [False]  # a stray enter takes nothing back


async def test_confirm_bindings_are_described() -> None:
    descriptions = {b.key: b.description for b in ConfirmScreen.BINDINGS}  # type: ignore[union-attr]
    assert descriptions == {"y": "Yes", "n": "No", "escape": "Cancel"}


async def test_help_lists_every_key_it_is_given_and_closes() -> None:
    keys = [("h", "Halt"), ("tab", "Next bot"), ("ctrl+[", "Odd key with a bracket")]
    for close in ("escape", "question_mark", "q"):
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            app.push_screen(HelpScreen(keys))
            await pilot.pause()
            table = app.screen.query_one("#help-keys", DataTable)
            rows = [
                tuple(cell.plain for cell in table.get_row_at(i)) for i in range(table.row_count)
            ]
            assert rows == keys
            await pilot.press(close)
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)


async def test_the_account_page_shows_the_reading_its_age_and_each_positions_risk() -> None:
    btc = PositionRisk(
        "BTC", Decimal("-0.015"), Decimal("97042.5"), Decimal("97100"), 5, False,
        Decimal("291.3"), Decimal("116520.123"), Decimal("1.234"),
    )  # fmt: skip
    eth = attrs.evolve(
        btc, coin="ETH", size=Decimal("0.5"), liquidation_price=None, funding_since_open=None
    )
    reading: list[AccountSummary | None] = [None]
    now = [1_700_000_012_000]
    app = Host()
    async with app.run_test(size=(140, 30)) as pilot:
        app.push_screen(AccountScreen(lambda: reading[0], lambda: now[0], "PAPER"))
        await pilot.pause()
        summary = app.screen.query_one("#account-summary", Label)
        assert "not read yet" in str(summary.render())
        reading[0] = AccountSummary(
            Decimal("100012.3456"), Decimal("300"), Decimal("99712.3"), Decimal("12.5"),
            (btc, eth), 1_700_000_000_000,
        )  # fmt: skip
        await pilot.pause(1.2)  # the screen re-reads each second
        text = str(summary.render())
        assert text == (
            "value 100,012.35 · margin used 300.00 · withdrawable 99,712.30 · read 12 s ago"
        )
        table = app.screen.query_one("#account-positions", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows == [
            ["BTC", "-0.015", "97,042.5", "97,100.0", "5x isolated", "291.30", "116,520",
             "20.0%", "1.23"],
            ["ETH", "+0.5", "97,042.5", "97,100.0", "5x isolated", "291.30", "none", "—",
             "n/a"],
        ]  # fmt: skip
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(app.screen, AccountScreen)
