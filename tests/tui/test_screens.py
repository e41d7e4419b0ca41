"""The confirm and help modals: what they answer and what they list."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widgets import DataTable

import gridtui.tui
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
    assert await answer("enter") == [True]
    assert await answer(click="#confirm-yes") == [True]


async def test_confirm_no_keys_answer_false() -> None:
    assert await answer("n") == [False]
    assert await answer("escape") == [False]
    assert await answer(click="#confirm-no") == [False]
    assert await answer("tab", "enter") == [False]


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
