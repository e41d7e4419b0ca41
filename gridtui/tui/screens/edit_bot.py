"""Change a running bot's grid and risk settings, or add, disable, enable or remove a bot.

Every keystroke re-checks the whole config with the change, exactly as ``gridtui check-config``
would (gridtui.orchestrator.settings_draft), and shows each problem beside its field; the
preview shows the ladder the new settings build around the live mid next to the one resting now,
with what a round trip next to the mid earns after fees. The screen only collects the trader's
intent: it is dismissed with an ``EditRequest`` (the checked config and what it does), and the
app hands that to the supervisor and writes the file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import attrs
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Select, Static

from gridtui.config.edit import SettingPath, with_bot_added, with_bot_enabled, without_bot
from gridtui.config.schema import BotSettings
from gridtui.core.formatting import average_price, usd
from gridtui.core.types import AssetMeta, Side
from gridtui.orchestrator.settings_draft import (
    CHOICES,
    EDITABLE,
    LadderPreview,
    SettingsDraft,
    draft_bot_change,
    draft_settings,
    preview_ladder,
    shown,
)
from gridtui.orchestrator.view import BotView
from gridtui.tui.screens.backtest import BacktestScreen
from gridtui.tui.screens.confirm import ConfirmScreen


@attrs.frozen(slots=True)
class EditRequest:
    """What the trader asked for: ``what`` in words ("apply btc's settings"), and the checked
    config that does it."""

    what: str
    draft: SettingsDraft
    reopen: str | None = None
    """The bot to edit next, once this is applied (a bot just added, to review and enable)."""


@attrs.frozen(slots=True)
class EditContext:
    """What the screen shows and checks against, read by the app when it opens."""

    bot: BotSettings
    text: str
    """The config file as it is now."""
    source: Path
    view: Callable[[], BotView | None]
    """The bot's view now (its mid, position and resting ladder); None when it is not running."""
    meta: AssetMeta | None
    mid: Decimal | None
    """The venue's mid when the screen opened: the preview's price for a bot not running."""
    maker_fee: Decimal
    coins: tuple[str, ...]
    """The venue's markets no enabled bot trades: what a new bot can take."""
    bot_names: tuple[str, ...]
    flags: tuple[str, ...] = ()
    """The command-line flags of the venue the cockpit runs on, for the commands it runs."""


_Edit = Callable[[str], str]
"""A change of the config's text (config.edit)."""


def _field_id(path: SettingPath) -> str:
    return f"{path[0]}-{path[1]}".replace("_", "-")


PREVIEW_EVERY_S = 1.0
"""The preview follows the live mid and the resting ladder this often."""


class EditBotScreen(Screen[EditRequest | None]):
    """One row per setting (its label, its value, its problem); the preview on the right. The
    bot picker at the top switches to any configured bot, a disabled one included (to enable
    it)."""

    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (120, "-wide")]
    """Below 120 columns the preview goes under the fields."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="Close without changing anything"),
        Binding("ctrl+s", "apply", "Apply", tooltip="Apply the settings and write config.toml"),
    ]

    def __init__(self, contexts: Mapping[str, EditContext], selected: str) -> None:
        super().__init__()
        self.contexts = dict(contexts)
        self.context = self.contexts[selected]
        self.draft: SettingsDraft | None = None

    def compose(self) -> ComposeResult:
        bot = self.context.bot
        with Horizontal(id="edit-top"):
            yield Label("Edit bot", id="edit-title")
            yield Select(
                [(self._bot_label(c.bot), name) for name, c in self.contexts.items()],
                value=bot.name,
                allow_blank=False,
                id="edit-bot",
            )
        with Container(id="edit-body"):
            with VerticalScroll(id="edit-fields"):
                for path, label in EDITABLE:
                    with Vertical(classes="edit-field"):
                        with Horizontal(classes="edit-row"):
                            yield Label(label, classes="edit-label")
                            yield self._field(path, shown(bot, path))
                        yield Label("", classes="edit-problem", id=f"{_field_id(path)}-problem")
            yield Static(id="edit-preview")
        yield Label("", id="edit-general")
        with Horizontal(id="edit-buttons"):
            yield Button("Apply ^s", variant="primary", id="edit-apply")
            yield Button("Disable" if bot.enabled else "Enable", id="edit-toggle")
            yield Button("Remove", variant="error", id="edit-remove")
            yield Button("Backtest", id="edit-backtest")
            yield Button("Add bot", id="edit-add")
            yield Button("Close", id="edit-close")

    @staticmethod
    def _field(path: SettingPath, value: str) -> Input | Select[str]:
        if path in CHOICES:
            options = [(choice, choice) for choice in CHOICES[path]]
            return Select(options, value=value, allow_blank=False, id=_field_id(path), compact=True)
        return Input(value, id=_field_id(path), placeholder="none", compact=True)

    def on_mount(self) -> None:
        self._redraft()
        self.set_interval(PREVIEW_EVERY_S, self._show_preview)  # the mid and the book move

    @staticmethod
    def _bot_label(bot: BotSettings) -> str:
        return f"{bot.name} ({bot.coin}){'' if bot.enabled else ' · disabled'}"

    @on(Select.Changed, "#edit-bot")
    def _bot_changed(self, event: Select.Changed) -> None:
        event.stop()
        context = self.contexts.get(str(event.value))
        if context is None or context is self.context:
            return
        self.context = context
        for path, _ in EDITABLE:
            widget = self.query_one(f"#{_field_id(path)}")
            if isinstance(widget, Select | Input):
                with widget.prevent(Input.Changed, Select.Changed):
                    widget.value = shown(context.bot, path)
        toggle = self.query_one("#edit-toggle", Button)
        toggle.label = "Disable" if context.bot.enabled else "Enable"
        self._redraft()

    def typed(self) -> dict[SettingPath, str]:
        out: dict[SettingPath, str] = {}
        for path, _ in EDITABLE:
            widget = self.query_one(f"#{_field_id(path)}")
            if isinstance(widget, Select):
                out[path] = str(widget.value)
            elif isinstance(widget, Input):
                out[path] = widget.value
        return out

    @on(Input.Changed)
    @on(Select.Changed, ".edit-row Select")
    def _changed(self) -> None:
        self._redraft()

    def _redraft(self) -> None:
        c = self.context
        draft = draft_settings(c.text, c.source, c.bot.name, c.bot, self.typed())
        self.draft = draft
        for path, _ in EDITABLE:
            problem = draft.problems.get(path, "")
            label = self.query_one(f"#{_field_id(path)}-problem", Label)
            label.update(Text(problem))
            label.display = bool(problem)
            self.query_one(f"#{_field_id(path)}").set_class(bool(problem), "-invalid-setting")
        general = "\n".join(draft.general)
        if not draft.changed:
            general = general or "change a value to see its ladder"
        self.query_one("#edit-general", Label).update(Text(general))
        self.query_one("#edit-apply", Button).disabled = not (draft.ok and draft.changed)
        self._show_preview()

    def _show_preview(self) -> None:
        if self.draft is not None:
            self.query_one("#edit-preview", Static).update(self._preview(self.draft))

    def _preview(self, draft: SettingsDraft) -> Table | Text:
        c = self.context
        view = c.view()
        mid = view.mark if view is not None and view.mark is not None else c.mid
        if mid is None or c.meta is None:
            return Text("no preview: no price for this coin yet", style="dim")
        settings = draft.settings(c.bot.name) or c.bot
        position = view.position if view is not None else Decimal(0)
        preview = preview_ladder(settings, c.meta, mid, position, c.maker_fee, 0)
        if isinstance(preview, str):
            return Text(preview, style="bold red")
        return _ladders(view, preview, new=draft.ok and bool(draft.changed))

    # ---- buttons and keys ---------------------------------------------------------------------

    @on(Button.Pressed, "#edit-apply")
    def action_apply(self) -> None:
        draft = self.draft
        if draft is None or not draft.ok or not draft.changed:
            self.notify("nothing to apply: change a value (or fix the ones marked)")
            return
        fields = ", ".join(f"{section}.{key}" for section, key in draft.changed)
        self.dismiss(EditRequest(f"apply {self.context.bot.name}'s {fields}", draft))

    @on(Button.Pressed, "#edit-close")
    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#edit-backtest")
    def action_backtest(self) -> None:
        """``gridtui backtest`` on the settings as edited (the current ones while unchanged or
        not valid yet); the trader may apply them from its result."""
        draft, c = self.draft, self.context
        edited = draft is not None and draft.ok and bool(draft.changed)
        text = draft.text if draft is not None and edited else c.text

        def answered(apply: bool | None) -> None:
            if apply:
                self.action_apply()

        screen = BacktestScreen(
            text, c.source, c.bot.name, c.bot.coin, "", changed=edited, flags=c.flags
        )
        self.app.push_screen(screen, answered)

    @on(Button.Pressed, "#edit-toggle")
    def _toggle(self) -> None:
        bot = self.context.bot
        if bot.enabled:
            view = self.context.view()
            held = "" if view is None else f" Its position ({view.position} {bot.coin}) stays open."
            self._confirmed(
                f"Disable {bot.name}: cancel all its orders and stop it?{held}",
                f"disable {bot.name}",
                lambda text: with_bot_enabled(text, bot.name, False),
            )
        else:
            self._confirmed(
                f"Enable {bot.name}: it starts trading {bot.coin} now, with the settings "
                "written in the config (apply changed ones first)?",
                f"enable {bot.name}",
                lambda text: with_bot_enabled(text, bot.name, True),
            )

    @on(Button.Pressed, "#edit-remove")
    def _remove(self) -> None:
        bot = self.context.bot
        view = self.context.view()
        held = "" if view is None else f" Its position ({view.position} {bot.coin}) stays open."
        self._confirmed(
            f"Remove {bot.name} from config.toml: cancel all its orders and stop it?{held} Its "
            "journal (fills, PnL) is kept.",
            f"remove {bot.name}",
            lambda text: without_bot(text, bot.name),
        )

    @on(Button.Pressed, "#edit-add")
    def _add(self) -> None:
        c = self.context
        if not c.coins:
            self.notify("every market of the venue already has an enabled bot", severity="warning")
            return

        def chosen(choice: tuple[str, str] | None) -> None:
            if choice is not None:
                name, coin = choice
                self._offer(
                    f"add {name} ({coin}), disabled until you enable it",
                    lambda text: with_bot_enabled(with_bot_added(text, name, coin), name, False),
                    reopen=name,
                )

        self.app.push_screen(AddBotScreen(c.coins, c.bot_names), chosen)

    def _confirmed(self, question: str, what: str, edit: _Edit) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._offer(what, edit)

        self.app.push_screen(ConfirmScreen(question), answered)

    def _offer(self, what: str, edit: _Edit, *, reopen: str | None = None) -> None:
        """Dismiss with the change if the config it makes passes check-config; else say why."""
        c = self.context
        draft = draft_bot_change(c.text, c.source, edit)
        if not draft.ok:
            self.query_one("#edit-general", Label).update(
                Text(f"cannot {what}: " + "; ".join(draft.general), style="bold")
            )
            return
        self.dismiss(EditRequest(what, draft, reopen))


class AddBotScreen(ModalScreen[tuple[str, str] | None]):
    """A coin from the venue's markets and a name: (name, coin)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Cancel")]

    def __init__(self, coins: Sequence[str], taken: Sequence[str]) -> None:
        super().__init__()
        self._coins = tuple(coins)
        self._taken = set(taken)

    def compose(self) -> ComposeResult:
        with Vertical(id="add-dialog"):
            yield Label("Add a bot", id="add-title")
            yield Select([(c, c) for c in self._coins], value=self._coins[0], allow_blank=False,
                         id="add-coin")  # fmt: skip
            yield Input(self._name_for(self._coins[0]), id="add-name")
            yield Label("", id="add-problem")
            with Horizontal(id="add-buttons"):
                yield Button("Add", variant="primary", id="add-ok")
                yield Button("Cancel", id="add-cancel")

    def _name_for(self, coin: str) -> str:
        name, n = coin.lower(), 2
        while name in self._taken:
            name, n = f"{coin.lower()}-{n}", n + 1
        return name

    @on(Select.Changed, "#add-coin")
    def _coin_changed(self, event: Select.Changed) -> None:
        self.query_one("#add-name", Input).value = self._name_for(str(event.value))

    @on(Button.Pressed, "#add-ok")
    @on(Input.Submitted, "#add-name")
    def _ok(self) -> None:
        name = self.query_one("#add-name", Input).value.strip()
        if name in self._taken:
            self.query_one("#add-problem", Label).update(f"a bot named {name} exists")
            return
        self.dismiss((name, str(self.query_one("#add-coin", Select).value)))

    @on(Button.Pressed, "#add-cancel")
    def action_close(self) -> None:
        self.dismiss(None)


def _ladders(view: BotView | None, preview: LadderPreview, *, new: bool) -> Table:
    """The resting ladder and the previewed one side by side, highest price first."""
    table = Table(box=None, padding=(0, 1), show_edge=False, expand=False)
    table.add_column("Now" if view is not None else "Not running", justify="left")
    table.add_column("", justify="right")
    table.add_column("", justify="right")
    table.add_column("│", justify="center", style="dim")
    table.add_column("After apply" if new else "As set now", justify="left")
    table.add_column("", justify="right")
    table.add_column("", justify="right")
    now = [(lvl.side, lvl.price, lvl.size) for lvl in view.levels] if view is not None else []
    after = [(lvl.side, lvl.price, lvl.size) for lvl in preview.levels]
    for row in range(max(len(now), len(after))):
        cells: list[Text] = []
        for ladder in (now, after):
            if row < len(ladder):
                cells.extend(_cells(*ladder[row]))
            else:
                cells.extend([Text(""), Text(""), Text("")])
            if ladder is now:
                cells.append(Text("│"))
        table.add_row(*cells)
    table.caption = (
        f"mid {average_price(preview.mid)} · a round trip next to the mid: "
        f"{usd(preview.round_trip_usd, signed=True)} ({preview.round_trip_pct:.3f}% after "
        f"{preview.fee_pct:.3f}% fees)"
    )
    return table


def _cells(side: Side | None, price: Decimal, size: Decimal) -> list[Text]:
    if side is None:
        return [Text("gap", style="dim"), Text(average_price(price), style="dim"), Text("")]
    style = "green" if side is Side.BUY else "red"
    word = "BUY" if side is Side.BUY else "SELL"
    return [Text(word, style=style), Text(average_price(price)), Text(f"{size:f}")]
