"""The event log, full screen: the session's engine events, scrollable and filtered.

It opens with the events the bottom panel kept and receives each refresh's new ones from the
app (``add_batch``); it keeps the newest ``KEEP`` and shows those that pass the filters (bot,
kind, minimum severity), one line each in the panel's format. A filter change writes the lines
again from the kept events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer, Label, Select

from gridtui.core.events import (
    AlertRaised,
    BotCrashed,
    BotHalted,
    BotResumed,
    BreakerClosed,
    BreakerTripped,
    Event,
    GridBuilt,
    OrderCanceled,
    OrderFilled,
    OrderPlaced,
    OrderRejected,
    Reconciled,
)
from gridtui.tui.widgets.event_log import EventLines, LineLevel, fold_runs, level_of, shown

KEEP = 5_000
"""Events the screen keeps (the panel keeps 500 lines): beyond, the oldest are dropped."""
ALL = ""
"""The bot and kind filters' "no filter"."""

KINDS: dict[str, tuple[str, tuple[type[Event], ...]]] = {
    ALL: ("all kinds", ()),
    "fills": ("fills", (OrderFilled,)),
    "orders": ("orders", (OrderPlaced, OrderCanceled, OrderRejected)),
    "alerts": (
        "halts, errors, alerts",
        (BotHalted, BotResumed, BreakerTripped, BreakerClosed, BotCrashed, AlertRaised),
    ),
    "grid": ("grid", (GridBuilt, Reconciled)),
}
"""Kind filter: its label and the event types it shows (bot start and stop: "all kinds" only)."""
LEVELS: dict[LineLevel, str] = {
    LineLevel.INFO: "info and up",
    LineLevel.WARNING: "warnings and errors",
    LineLevel.ERROR: "errors only",
}


class FilteredEventLog(EventLines):
    """The kept events, and the lines of those that pass its filters (the screen binds them)."""

    bot: var[str] = var(ALL, init=False)
    kind: var[str] = var(ALL, init=False)
    level: var[LineLevel] = var(LineLevel.INFO, init=False)

    def __init__(self, events: Sequence[Event], *, keep: int = KEEP, id: str | None = None) -> None:
        super().__init__(max_lines=keep, id=id)
        self._kept: deque[Event] = deque(shown(events), maxlen=keep)

    def on_mount(self) -> None:  # (EventLines.on_mount runs too: Textual calls each class's)
        self.write_runs(list(self.shown_runs()))

    def add_batch(self, events: Sequence[Event]) -> None:
        new = shown(events)
        self._kept.extend(new)
        if self.is_mounted:  # else on_mount writes them with the rest
            self.write_runs(fold_runs(self._passing(new)))

    def shown_runs(self) -> Iterable[tuple[Event, ...]]:
        return fold_runs(self._passing(self._kept))

    def _passing(self, events: Iterable[Event]) -> list[Event]:
        types = KINDS[self.kind][1]
        return [
            e
            for e in events
            if (not self.bot or e.bot == self.bot)
            and (not types or isinstance(e, types))
            and level_of(e) >= self.level
        ]

    def _filter_changed(self) -> None:
        if self.is_mounted:
            self.rewrite(keep_position=False)  # other lines: the old place means nothing

    watch_bot = watch_kind = watch_level = _filter_changed


class EventLogScreen(Screen[None]):
    """Every engine event of the session (the newest 5,000), filtered by bot, kind and
    severity. It follows new events while scrolled to the bottom; scrolled up, it stays put."""

    CSS_PATH = "event_log.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("l", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
        Binding("b", "next_bot", "Bot", tooltip="Show the next bot's events (or all bots)"),
        Binding("k", "next_kind", "Kind", tooltip="Show the next kind of event (or all kinds)"),
        Binding("s", "next_level", "Severity", tooltip="Raise the minimum severity (cycles)"),
        Binding("pageup", "scroll('page_up')", "Page up", show=False),
        Binding("pagedown", "scroll('page_down')", "Page down", show=False),
        Binding("home", "scroll('scroll_home')", "Oldest", show=False),
        Binding("end", "scroll('scroll_end')", "Newest", show=False),
    ]

    bot: var[str] = var(ALL, init=False)
    """The one bot shown, or ALL."""
    kind: var[str] = var(ALL, init=False)
    """A key of KINDS."""
    level: var[LineLevel] = var(LineLevel.INFO, init=False)
    """The minimum severity shown."""

    def __init__(
        self, events: Sequence[Event], bots: Sequence[str] = (), *, keep: int = KEEP
    ) -> None:
        """``events``: those seen so far, oldest first; ``bots``: the configured bots, listed
        in the bot filter even before they have an event."""
        super().__init__()
        self._bots = list(dict.fromkeys([*bots, *(e.bot for e in events)]))
        # Made here, not in compose: the app may hand over a batch before the screen is mounted.
        self._log = FilteredEventLog(events, keep=keep, id="event-log-lines")
        self._bot_select = Select(
            self._bot_options(), value=ALL, allow_blank=False, id="event-log-bot"
        )

    def compose(self) -> ComposeResult:
        with Horizontal(id="event-log-filters"):
            yield Label("Events", id="event-log-title")
            yield self._bot_select
            kinds = [(label, key) for key, (label, _) in KINDS.items()]
            yield Select(kinds, value=ALL, allow_blank=False, id="event-log-kind")
            levels = [(label, level) for level, label in LEVELS.items()]
            yield Select(levels, value=LineLevel.INFO, allow_blank=False, id="event-log-level")
        yield self._log.data_bind(
            bot=EventLogScreen.bot, kind=EventLogScreen.kind, level=EventLogScreen.level
        )
        yield Footer()

    def on_mount(self) -> None:
        self._log.focus()

    def add_batch(self, events: Sequence[Event]) -> None:
        """The app's refresh: the events since the last one (the same batch the panel gets)."""
        new_bots = [bot for bot in dict.fromkeys(e.bot for e in events) if bot not in self._bots]
        if new_bots:
            self._bots.extend(new_bots)
            with self.prevent(Select.Changed):  # set_options picks "all bots": put the filter back
                self._bot_select.set_options(self._bot_options())
                self._bot_select.value = self.bot
        self._log.add_batch(events)

    def _bot_options(self) -> list[tuple[str, str]]:
        return [("all bots", ALL), *((bot, bot) for bot in self._bots)]

    # ---- filters: a Select or a key sets the screen's var; the log and the Selects follow it

    def on_select_changed(self, event: Select.Changed) -> None:
        value = event.select.value  # now, not when posted: a later change may have overtaken it
        if value is Select.NULL:
            return
        match event.select.id:
            case "event-log-bot":
                self.bot = str(value)
            case "event-log-kind":
                self.kind = str(value)
            case "event-log-level":
                self.level = LineLevel(value)

    def watch_bot(self, bot: str) -> None:
        self._show_in("#event-log-bot", bot)

    def watch_kind(self, kind: str) -> None:
        self._show_in("#event-log-kind", kind)

    def watch_level(self, level: LineLevel) -> None:
        self._show_in("#event-log-level", level)

    def _show_in(self, select_id: str, value: object) -> None:
        with self.prevent(Select.Changed):
            self.query_one(select_id, Select).value = value

    def action_next_bot(self) -> None:
        self.bot = _next([ALL, *self._bots], self.bot)

    def action_next_kind(self) -> None:
        self.kind = _next(list(KINDS), self.kind)

    def action_next_level(self) -> None:
        self.level = _next(list(LineLevel), self.level)

    def action_scroll(self, how: str) -> None:
        """PageUp/PageDown/Home/End scroll the log wherever the focus is (a Select's too)."""
        getattr(self._log, f"action_{how}")()

    def action_close(self) -> None:
        self.dismiss(None)


T = TypeVar("T")


def _next(values: list[T], current: T) -> T:
    return values[(values.index(current) + 1) % len(values)] if current in values else values[0]
