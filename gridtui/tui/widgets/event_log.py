"""Engine events of every bot, one line each, newest at the bottom."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
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


class EventLog(RichLog):
    """Bounded at ``max_lines`` so a long session cannot grow memory. The events themselves are
    kept (same bound) so a theme change can repaint every line in the new colours."""

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
        max_lines: int = MAX_LINES,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(max_lines=max_lines, wrap=False, name=name, id=id, classes=classes)
        self.border_title = "Events"
        self._events: deque[tuple[Event, ...]] = deque(maxlen=max_lines)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._repaint)

    def add(self, event: Event) -> None:
        self._events.append((event,))
        self.write(self._line((event,)))

    def add_batch(self, events: Sequence[Event]) -> None:
        """Add events in order, folding a burst of one bot's placements or cancels (a grid
        built, a halt) into one line: a trader reads "40 orders canceled", not 40 lines."""
        runs = _runs(events)
        if not runs:
            return
        self._events.extend(runs)
        # One write for the whole batch: each write resizes the log, and every resize is a
        # layout pass of the whole screen.
        self.write(Text("\n").join(self._line(run) for run in runs))

    def _repaint(self, _theme: Theme) -> None:
        # The log keeps rendered lines; after the new theme's CSS is applied they are rebuilt.
        self.call_after_refresh(self._rewrite)

    def _rewrite(self) -> None:
        if not self.is_attached:  # removed (the cockpit exiting) before the repaint came due
            return
        self.clear()
        for run in self._events:
            self.write(self._line(run))

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


FOLDED = (OrderPlaced, OrderCanceled)
FOLD_FROM = 4
"""Runs shorter than this stay one line per event."""


def _runs(events: Sequence[Event]) -> list[tuple[Event, ...]]:
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
                f"center {event.center:f}, {event.levels} levels, placed {event.placed}, "
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
