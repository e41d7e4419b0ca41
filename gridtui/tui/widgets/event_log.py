"""Engine events of every bot, one line each, newest at the bottom.

The bottom panel (``EventLog``) and the event log screen share the line format, the noise
filter and the scrolling (``EventLines``)."""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import ClassVar

from rich.text import Text
from textual.theme import Theme
from textual.widgets import RichLog

from gridtui.core.events import (
    AlertRaised,
    BotCrashed,
    BotHalted,
    BotStopped,
    BreakerTripped,
    Event,
    GridBuilt,
    OrderCanceled,
    OrderFilled,
    OrderPlaced,
    OrderRejected,
    Reconciled,
    Severity,
)
from gridtui.core.formatting import usd

MAX_LINES = 500

KIND_CLASSES: dict[type[Event], str] = {
    OrderPlaced: "event-log--order",
    OrderCanceled: "event-log--order",
    OrderFilled: "event-log--fill",
    OrderRejected: "event-log--warning",
    BotHalted: "event-log--warning",
    BreakerTripped: "event-log--warning",
    BotCrashed: "event-log--error",
}
SEVERITY_CLASSES = {
    Severity.INFO: "event-log--info",
    Severity.WARNING: "event-log--warning",
    Severity.CRITICAL: "event-log--error",
}


class EventLines(RichLog):
    """Engine events as log lines (the format of the panel and of the event log screen). It
    follows new lines only while scrolled to the bottom: a trader who scrolled up to read keeps
    the lines he reads until he scrolls back down (RichLog's own ``auto_scroll`` jumps to the end
    on every write, so PageUp was undone by the next event)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "event-log--time",
        "event-log--info",
        "event-log--order",
        "event-log--fill",
        "event-log--warning",
        "event-log--error",
    }

    def __init__(
        self,
        *,
        max_lines: int,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(
            max_lines=max_lines, wrap=False, auto_scroll=False, name=name, id=id, classes=classes
        )
        self._following = True
        """Scrolled to the bottom (or never scrolled): new lines scroll into view."""

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._repaint)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Set on every move (keys, wheel, scrollbar, our own scroll to the end), never on a
        # write: content added at the bottom does not move the viewport.
        self._following = new_value >= self.max_scroll_y

    def shown_runs(self) -> Iterable[tuple[Event, ...]]:
        """What the log shows, oldest first: written again after a theme change."""
        return ()

    def write_runs(self, runs: Sequence[tuple[Event, ...]]) -> None:
        """Append one line per run. Scrolled up, the lines in view stay in view, even when the
        oldest lines are dropped (``max_lines``) above them."""
        if not runs:
            return
        # One write for the whole batch: each write resizes the log, and every resize is a
        # layout pass of the whole screen.
        text = Text("\n").join(self._line(run) for run in runs)
        before = len(self.lines)
        self.write(text, scroll_end=self._following)
        if not self._following:  # then the size is known and the write was not deferred
            dropped = before + text.plain.count("\n") + 1 - len(self.lines)
            if dropped > 0:
                self.scroll_to(y=self.scroll_y - dropped, animate=False)

    def rewrite(self, *, keep_position: bool) -> None:
        """Write every shown run again: at the same place, or at the bottom (following)."""
        y = self.scroll_y
        self._following = self._following or not keep_position
        self.clear()
        self.write_runs(list(self.shown_runs()))
        if not self._following:
            self.scroll_to(y=y, animate=False)

    def _repaint(self, _theme: Theme) -> None:
        # The log keeps rendered lines; after the new theme's CSS is applied they are rebuilt.
        self.call_after_refresh(self._rewrite)

    def _rewrite(self) -> None:
        if not self.is_attached:  # removed (the cockpit exiting) before the repaint came due
            return
        self.rewrite(keep_position=True)

    def _line(self, run: tuple[Event, ...]) -> Text:
        event = run[-1]
        stamp = datetime.fromtimestamp(event.timestamp_ms / 1000, tz=UTC).strftime("%H:%M:%S")
        style = self.get_component_rich_style(_kind_class(event), partial=True)
        name = event.event_name if len(run) == 1 else f"{event.event_name} ×{len(run)}"
        line = Text.assemble(
            (stamp, self.get_component_rich_style("event-log--time", partial=True)),
            " ",
            (f"{event.bot} {event.coin} {name}", style),
        )
        details = _details(event) if len(run) == 1 else _run_details(run)
        if details:
            line.append(" " + details, style=style)
        return line


class EventLog(EventLines):
    """The cockpit's bottom panel. Bounded at ``max_lines`` so a long session cannot grow
    memory. The events themselves are kept (same bound) so a theme change can repaint every
    line in the new colours, and the event log screen can open with them."""

    def __init__(
        self,
        *,
        max_lines: int = MAX_LINES,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(max_lines=max_lines, name=name, id=id, classes=classes)
        self.border_title = "Events"
        self._events: deque[tuple[Event, ...]] = deque(maxlen=max_lines)

    @property
    def events(self) -> tuple[Event, ...]:
        """The events the panel keeps, oldest first (noise already left out)."""
        return tuple(event for run in self._events for event in run)

    def add(self, event: Event) -> None:
        self.add_batch([event])

    def add_batch(self, events: Sequence[Event]) -> None:
        """Add events in order, folding a burst of one bot's placements or cancels (a grid
        built, a halt) into one line: a trader reads "40 orders canceled", not 40 lines."""
        runs = fold_runs(shown(events))
        self._events.extend(runs)
        self.write_runs(runs)

    def shown_runs(self) -> Iterable[tuple[Event, ...]]:
        return self._events


def is_noise(event: Event) -> bool:
    """A repair pass that changed nothing (every ~10 s per bot): not worth a line."""
    return (
        isinstance(event, GridBuilt)
        and not event.fresh
        and event.placed == 0
        and event.canceled == 0
    )


def shown(events: Iterable[Event]) -> list[Event]:
    """The events a log shows: all but the noise."""
    return [event for event in events if not is_noise(event)]


class LineLevel(enum.IntEnum):
    """How serious a log line is, for a filter: the colour a line gets, ranked."""

    INFO = 0
    WARNING = 1
    ERROR = 2


LEVELS = {"event-log--warning": LineLevel.WARNING, "event-log--error": LineLevel.ERROR}


def level_of(event: Event) -> LineLevel:
    """An alert's own severity (critical is an error); any other event's colour says it."""
    return LEVELS.get(_kind_class(event), LineLevel.INFO)


FOLDED = (OrderPlaced, OrderCanceled)
FOLD_FROM = 4
"""Runs shorter than this stay one line per event."""


def fold_runs(events: Iterable[Event]) -> list[tuple[Event, ...]]:
    """The lines of ``events``: one per event, but one per burst of a bot's placements or
    cancels (``FOLD_FROM`` or more in a row)."""
    runs: list[list[Event]] = []
    for event in events:
        last = runs[-1][-1] if runs else None
        same = (
            last is not None
            and isinstance(event, FOLDED)
            and type(event) is type(last)
            and event.bot == last.bot
        )
        if same:
            runs[-1].append(event)
        else:
            runs.append([event])
    out: list[tuple[Event, ...]] = []
    for run in runs:
        if len(run) >= FOLD_FROM:
            out.append(tuple(run))
        else:
            out.extend((event,) for event in run)
    return out


def _run_details(run: tuple[Event, ...]) -> str:
    """A folded run: the price range per side for placements, the reason for cancels."""
    if isinstance(run[0], OrderPlaced):
        parts = []
        for side in sorted({e.side for e in run if isinstance(e, OrderPlaced)}, key=str):
            prices = [e.price for e in run if isinstance(e, OrderPlaced) and e.side is side]
            parts.append(f"{len(prices)} {side.name} {min(prices):f}–{max(prices):f}")
        return ", ".join(parts)
    reasons = sorted({e.reason for e in run if isinstance(e, OrderCanceled) and e.reason})
    return "; ".join(reasons)


def _kind_class(event: Event) -> str:
    if isinstance(event, AlertRaised):
        return SEVERITY_CLASSES[event.severity]
    if isinstance(event, Reconciled):
        corrected = event.missing_fills or event.position_corrected or event.canceled_unknown
        return "event-log--warning" if corrected else "event-log--info"
    return KIND_CLASSES.get(type(event), "event-log--info")


def _details(event: Event) -> str:
    """The details part of a log line: what a trader needs to know about this event."""
    match event:
        case OrderPlaced():
            level = f" L{event.grid_level:+d}" if event.grid_level is not None else ""
            return f"{event.side.name} {event.price:f}×{event.size:f}{level}"
        case OrderFilled():
            pnl = f" pnl {usd(event.realized_pnl, signed=True)}" if event.realized_pnl else ""
            return (
                f"{event.side.name} {event.price:f}×{event.size:f} fee {usd(event.fee)} "
                f"pos {event.position.normalize():+f}{pnl}"
            )
        case OrderRejected():
            return f"{event.side.name} {event.price:f}×{event.size:f}: {event.reason}"
        case OrderCanceled():
            order = _short_id(event.client_id) if event.client_id else f"oid {event.exchange_id}"
            return f"{order}{': ' + event.reason if event.reason else ''}"
        case BotHalted():
            return event.reason
        case BreakerTripped():
            return f"after {event.consecutive_errors} errors: {event.last_error}"
        case Reconciled():
            return (
                f"missing fills {event.missing_fills}, adopted {event.adopted_orders}, "
                f"canceled unknown {event.canceled_unknown}, position "
                f"{'corrected' if event.position_corrected else 'agrees'}"
            )
        case GridBuilt():
            return (
                f"center {event.center:f}, {event.levels} orders, placed {event.placed}, "
                f"canceled {event.canceled}"
            )
        case AlertRaised():
            return f"{event.severity.value.upper()} {event.kind}: {event.message}"
        case BotCrashed():
            restart = (
                f"restart in {event.restart_in_s:g} s"
                if event.restart_in_s is not None
                else "not restarted"
            )
            return f"{event.error} ({restart})"
        case BotStopped():
            return f"{event.open_orders} orders left open"
    return ""


def _short_id(client_id: str) -> str:
    """A cloid is 34 characters; its first 10 tell orders apart in a log line."""
    return client_id if len(client_id) <= 12 else client_id[:10] + "…"
