"""Structured logs: one JSON object (or one readable line) per record.

Engine events reach the log through ``EventLogger`` on the bus; anything else that deserves a
named, machine-readable line (``shutdown_complete`` and friends) goes through ``log_event``. Both
attach the fields as ``extra={"event_fields": {...}}``, and the formatters here lift them to the
top level, so a headless run can be grepped or fed to ``jq`` without parsing prose.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import sys
from typing import Any, TextIO

from gridtui.core.events import AlertRaised, Event
from gridtui.monitoring.alerting import SEVERITY_LEVELS, logged_by_alerter

LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

_RESERVED = ("ts", "level", "logger", "msg")
"""Keys a record's own fields may not overwrite; a clashing field is kept as ``field_<name>``."""

_TEXT_SKIP = frozenset({"event", "bot", "coin", "timestamp_ms"})
"""Fields the text line already shows in its fixed columns (or that only machines need)."""


def _jsonable(value: Any) -> Any:
    """``json.dumps`` default: Decimals (and anything else unknown) as strings, enums by value."""
    return value.value if isinstance(value, enum.Enum) else str(value)


def _event_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "event_fields", None)
    return fields if isinstance(fields, dict) else {}


def _error(record: logging.LogRecord) -> str | None:
    if not record.exc_info or record.exc_info[1] is None:
        return None
    exc = record.exc_info[1]
    return f"{type(exc).__name__}: {exc}"


def _utc(record: logging.LogRecord) -> dt.datetime:
    return dt.datetime.fromtimestamp(record.created, tz=dt.UTC)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "event", "msg", **fields}`` on one line; ``error`` for an
    exception, plus ``traceback`` only when tracebacks were asked for (debug level)."""

    def __init__(self, *, tracebacks: bool = False) -> None:
        super().__init__()
        self._tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        fields = _event_fields(record)
        out: dict[str, Any] = {
            "ts": _utc(record).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": fields.get("event", "log"),
            "msg": record.getMessage(),
        }
        for key, value in fields.items():
            if key == "event":
                continue
            out[f"field_{key}" if key in _RESERVED else key] = value
        error = _error(record)
        if error is not None:
            out["error"] = error
            if self._tracebacks:
                out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, default=_jsonable, ensure_ascii=False)


def _text_value(value: Any) -> str:
    text = str(value.value) if isinstance(value, enum.Enum) else str(value)
    return json.dumps(text, ensure_ascii=False) if (not text or " " in text) else text


class TextFormatter(logging.Formatter):
    """``HH:MM:SS level bot/coin event k=v ...`` for event records; ``HH:MM:SS level logger
    message`` for plain ones. Times are UTC, like the JSON lines, so the two can be compared."""

    def __init__(self, *, tracebacks: bool = False) -> None:
        super().__init__()
        self._tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        fields = _event_fields(record)
        parts = [_utc(record).strftime("%H:%M:%S"), record.levelname.lower()]
        if fields:
            if "bot" in fields or "coin" in fields:
                parts.append(f"{fields.get('bot', '-')}/{fields.get('coin', '-')}")
            parts.append(str(fields.get("event", "log")))
            parts.extend(
                f"{key}={_text_value(value)}"
                for key, value in fields.items()
                if key not in _TEXT_SKIP
            )
        else:
            parts.extend((record.name, record.getMessage()))
        error = _error(record)
        if error is not None:
            parts.append(f"error={_text_value(error)}")
        line = " ".join(parts)
        if error is not None and self._tracebacks:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _GridtuiHandler(logging.StreamHandler[TextIO]):
    """Marks the handler ``configure_logging`` installed, so a second call can close it."""


QUIET_LIBRARIES = ("httpx", "httpcore", "aiohttp.access")


def configure_logging(
    *, fmt: str = "text", level: str = "info", stream: TextIO = sys.stderr
) -> None:
    """Install one root handler writing ``fmt`` ("text" or "json") at ``level``. Replaces any
    existing root handlers, so calling it twice still yields one line per record."""
    level_key = level.lower()
    if level_key not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}")
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r}; expected 'text' or 'json'")
    tracebacks = LEVELS[level_key] <= logging.DEBUG
    formatter: logging.Formatter = (
        JsonFormatter(tracebacks=tracebacks)
        if fmt == "json"
        else TextFormatter(tracebacks=tracebacks)
    )
    handler = _GridtuiHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if isinstance(old, _GridtuiHandler):
            old.close()
    root.addHandler(handler)
    root.setLevel(LEVELS[level_key])
    # HTTP libraries log every request at INFO: thousands of lines a day that bury the engine's.
    quiet = logging.NOTSET if LEVELS[level_key] <= logging.DEBUG else logging.WARNING
    for chatty in QUIET_LIBRARIES:
        logging.getLogger(chatty).setLevel(quiet)


def _summary(event: Event) -> str:
    return f"{event.kind}: {event.message}" if isinstance(event, AlertRaised) else event.event_name


class EventLogger:
    """EventBus handler: every engine event as one log line (INFO; alerts at their severity)."""

    def __init__(self, logger_name: str = "gridtui.events") -> None:
        self._log = logging.getLogger(logger_name)

    def __call__(self, event: Event) -> None:
        if isinstance(event, AlertRaised):
            if logged_by_alerter(event):
                return  # the Alerter wrote this alert's line already; one line per event
            level = SEVERITY_LEVELS[event.severity]
        else:
            level = logging.INFO
        self._log.log(level, "%s", _summary(event), extra={"event_fields": event.to_dict()})


_lifecycle_log = logging.getLogger("gridtui.events")


def log_event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log a named event that is not on the bus (e.g. ``shutdown_complete`` with
    ``open_orders``, ``bots``, ``duration_s``) in the same shape as bus events."""
    _lifecycle_log.log(level, "%s", name, extra={"event_fields": {"event": name, **fields}})
