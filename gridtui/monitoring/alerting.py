"""Alerts: one call that both logs an operator-facing line and puts an ``AlertRaised`` on the bus.

Alerts go through their own logger, ``gridtui.alerts``, so an operator can route them (to a
file, a pager bridge, ...) apart from ordinary engine chatter, while the bus copy feeds the TUI
event log and the metrics. The engine never builds ``AlertRaised`` by hand: doing it here keeps
the timestamp on the injected clock and the log level in step with the severity.
"""

from __future__ import annotations

import contextvars
import logging

from gridtui.core.clock import Clock
from gridtui.core.events import AlertKind, AlertRaised, Event, EventBus, Severity

alert_log = logging.getLogger("gridtui.alerts")

SEVERITY_LEVELS: dict[Severity, int] = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.CRITICAL: logging.ERROR,
}
"""Log level for each severity (critical maps to ERROR: CRITICAL is kept for process death)."""


_publishing: contextvars.ContextVar[Event | None] = contextvars.ContextVar(
    "gridtui_alert_publishing", default=None
)


def logged_by_alerter(event: Event) -> bool:
    """True while ``event`` is being published by an ``Alerter`` that has already logged it.

    The bus is synchronous, so an ``EventLogger`` on the same bus sees the alert inside
    ``raise_alert``; it asks this to avoid writing the same alert twice (one line per event).
    """
    return _publishing.get() is event


class Alerter:
    """Raises alerts for the engine: log first (so the line exists even if a bus handler fails),
    then publish."""

    def __init__(self, bus: EventBus, clock: Clock) -> None:
        self._bus = bus
        self._clock = clock

    def raise_alert(
        self, *, bot: str, coin: str, severity: Severity, kind: AlertKind, message: str
    ) -> AlertRaised:
        event = AlertRaised(
            bot=bot,
            coin=coin,
            timestamp_ms=self._clock.now_ms(),
            severity=severity,
            kind=kind,
            message=message,
        )
        alert_log.log(
            SEVERITY_LEVELS[severity],
            "%s: %s",
            event.kind,
            message,
            extra={"event_fields": event.to_dict()},
        )
        token = _publishing.set(event)
        try:
            self._bus.publish(event)
        finally:
            _publishing.reset(token)
        return event
