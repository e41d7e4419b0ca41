"""What candle and funding files share: reading the text, splitting rows, times, and problems.

Market data arrives from many exporters (Binance, Hyperliquid, spreadsheets, pandas), so the
separator is taken from the header, a time is ISO-8601 or an epoch number whose unit the file's
first time decides, and a bad file is reported as ONE line: the kind of problem found first, how
many rows have it and where the first one is — enough to find and fix it, never a traceback and
never a thousand lines for one systematic mistake (DESIGN §7).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import attrs

SEPARATORS = (",", ";", "\t")
TIME_NAMES = frozenset({"time", "timestamp", "date", "datetime", "open_time", "t", "time_ms"})
TIME_RULE = "ISO-8601 such as 2024-01-01T00:00:00Z, or epoch seconds or milliseconds"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_ISO = "ISO-8601"
_UNITS = (
    ("epoch seconds", 0, 10**11, 1000),
    ("epoch milliseconds", 10**11, 10**14, 1),
    ("epoch microseconds", 10**14, 10**17, Decimal("0.001")),
)
"""name, lowest value, first value beyond, milliseconds per unit. An epoch time below 10**11 is
seconds (10**11 s is the year 5138), below 10**14 milliseconds, below 10**17 microseconds
(Binance's spot klines since 2025); anything larger is no time."""


class _TimeProblem(ValueError):
    """A time that cannot be read (``mixed`` False) or is not in the file's format (True)."""

    def __init__(self, detail: str, *, mixed: bool = False) -> None:
        super().__init__(detail)
        self.mixed = mixed


def read_text(path: Path, what: str, error: type[Exception]) -> str:
    """The file as text, or ``error`` with a one-line reason."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a UTF-8 text file (bad byte at offset {exc.start})") from exc


def rows(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of every line that holds data: blank and ``#`` lines are skipped."""
    for lineno, line in enumerate(_lines(text), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield lineno, stripped


def _lines(text: str) -> Iterator[str]:
    """The lines one at a time (``\\n``, ``\\r\\n`` or ``\\r`` endings): a list of every line of
    a year of 1m candles held a few hundred MB at once."""
    start, end = 0, len(text)
    while start < end:
        stop = text.find("\n", start)
        if stop == -1:
            stop = end
        line = text[start:stop]
        if "\r" in line:  # old Mac endings inside, or a Windows ending at the end
            yield from line.splitlines()
        else:
            yield line
        start = stop + 1


def separator(line: str) -> str:
    """The separator the first line uses most (a comma when it uses none)."""
    return max(SEPARATORS, key=line.count)


def split(line: str, sep: str) -> list[str]:
    """The fields of ``line``, blanks and surrounding double quotes removed."""
    fields = line.split(sep)
    if " " in line or '"' in line:
        return [field.strip().strip('"').strip() for field in fields]
    return fields


def column_name(field: str) -> str:
    """A header name as compared: lower case, spaces and dashes as underscores."""
    return field.lower().replace(" ", "_").replace("-", "_")


def is_number(field: str) -> bool:
    try:
        return Decimal(field).is_finite()
    except InvalidOperation:
        return False


@attrs.frozen(slots=True)
class Kind:
    """A kind of problem as counted in the message: "1 duplicate candle", "3 duplicate candles"."""

    one: str
    many: str


@attrs.define(slots=True)
class _Tally:
    count: int
    first: int
    detail: str


class Problems:
    """Every problem of a file, by kind; ``message`` reports the kind met first."""

    def __init__(self, unit: str = "line") -> None:
        self.unit = unit
        """What a position is called in messages: a "line" of a CSV, an "entry" of JSON."""
        self._found: dict[Kind, _Tally] = {}

    def __bool__(self) -> bool:
        return bool(self._found)

    def add(self, kind: Kind, where: int, detail: str) -> None:
        tally = self._found.get(kind)
        if tally is None:
            self._found[kind] = _Tally(1, where, detail)
        else:
            tally.count += 1

    def message(self, path: Path) -> str:
        """``file: N things, first at line L (detail)``, for the kind whose first is earliest."""
        kind, tally = min(self._found.items(), key=lambda item: item[1].first)
        if tally.count == 1:
            return f"{path}: 1 {kind.one} at {self.unit} {tally.first} ({tally.detail})"
        return (
            f"{path}: {tally.count} {kind.many}, first at {self.unit} {tally.first} "
            f"({tally.detail})"
        )


@attrs.frozen(slots=True)
class TimeKinds:
    """How a file names its problems with times (its records are candles, funding records...)."""

    unparseable: Kind
    mixed: Kind
    duplicate: Kind
    out_of_order: Kind


class TimeColumn:
    """Reads one file's times as epoch milliseconds and counts their problems. The first time
    decides the format (ISO-8601, or an epoch unit by its magnitude); a later one in another
    format is a mistake (a merged file, a broken export), not something to guess around. Times
    must rise: a repeated one is a duplicate, an earlier one out of order (a file sorted newest
    first shows as all rows but its first)."""

    def __init__(self, problems: Problems, kinds: TimeKinds) -> None:
        self._problems = problems
        self._kinds = kinds
        self._format: str | None = None
        self._whole_unit = (0, 0, 1)
        """lowest, first beyond, factor of the file's unit when it is whole milliseconds: the
        fast path of every later row (a million rows of the same unit are common)."""
        self._last_ms = -1
        self._last_where = 0

    def read(self, raw: str, where: int) -> int | None:
        """The time of the record at ``where``, or None when it cannot be read (counted)."""
        try:
            time_ms = self._ms(raw)
        except _TimeProblem as exc:
            kind = self._kinds.mixed if exc.mixed else self._kinds.unparseable
            self._problems.add(kind, where, str(exc))
            return None
        unit, last = self._problems.unit, self._last_where
        if time_ms == self._last_ms:
            self._problems.add(self._kinds.duplicate, where, f"same time as {unit} {last}")
        elif time_ms < self._last_ms:
            self._problems.add(self._kinds.out_of_order, where, f"earlier than {unit} {last}")
        else:
            self._last_ms, self._last_where = time_ms, where
        return time_ms

    def _ms(self, raw: str) -> int:
        if raw.isdigit() and raw.isascii() and len(raw) < 20:
            value = int(raw)
            low, beyond, factor = self._whole_unit
            if low <= value < beyond:
                return value * factor
            return self._epoch(value, raw)
        try:
            number = Decimal(raw)
        except InvalidOperation:
            return self._iso(raw)
        if not number.is_finite() or number < 0:
            raise _TimeProblem(f"{raw!r}; expected {TIME_RULE}")
        return self._epoch(number, raw)

    def _epoch(self, value: int | Decimal, raw: str) -> int:
        unit = next((unit for unit in _UNITS if value < unit[2]), None)
        if unit is None:
            raise _TimeProblem(f"{raw!r}; expected {TIME_RULE}")
        name, low, beyond, factor = unit
        self._check(name, raw)
        if isinstance(factor, int):
            self._whole_unit = (low, beyond, factor)
        ms = value * factor
        if ms != int(ms):
            raise _TimeProblem(f"{raw!r} is not a whole millisecond")
        return int(ms)

    def _iso(self, raw: str) -> int:
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise _TimeProblem(f"{raw!r}; expected {TIME_RULE}") from None
        self._check(_ISO, raw)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - _EPOCH) // _MS

    def _check(self, name: str, raw: str) -> None:
        if self._format is None:
            self._format = name
        elif name != self._format:
            raise _TimeProblem(f"{raw!r} is {name}, the first time {self._format}", mixed=True)
