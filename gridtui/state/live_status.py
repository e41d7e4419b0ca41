"""What the running process says its bots are doing, for ``gridtui status`` in another shell.

The journals hold the books, not whether a process trades them right now or waits for the venue
("waiting for exchange: 503, retry in 4 s"). The process holding the data-dir lock writes this
small file next to the journals whenever a bot's status changes, and at least every
``REFRESH_S`` (``write_atomically``: a reader never sees half a file). A reader trusts it only
while the writer's PID is alive and the file is fresh, so a process killed with -9 leaves nothing
that still reads as "running".
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from gridtui.core.account import AccountSummary, PositionRisk
from gridtui.core.files import write_atomically

LIVE_STATUS_FILE = "live-status.json"
REFRESH_S = 5.0
STALE_AFTER_S = 3 * REFRESH_S
"""Older than this, the writer is stuck or gone: the file says nothing any more."""


@attrs.frozen(slots=True)
class LiveBot:
    status: str
    """A ``BotStatus`` value, as the cockpit shows it."""
    detail: str | None = None
    """Why: the halt reason, the crash, what the venue answered and when the next try is."""


_UNREADABLE = (OSError, ValueError, TypeError, KeyError, AttributeError, ArithmeticError)


def write_live_status(
    folder: Path, bots: Mapping[str, LiveBot], account: AccountSummary | None = None
) -> None:
    """Raises ``OSError`` (a full or read-only disk): the caller logs it, trading goes on.
    ``account``: the venue's last reading of the account, for ``gridtui status``."""
    body = {
        "pid": os.getpid(),
        "written_s": time.time(),
        "bots": {name: {"status": b.status, "detail": b.detail} for name, b in bots.items()},
        "account": None if account is None else attrs.asdict(account, value_serializer=_plain),
    }
    write_atomically(folder / LIVE_STATUS_FILE, json.dumps(body, indent=1).encode())


def _plain(_instance: object, _field: object, value: Any) -> Any:
    """Money as exact strings."""
    return str(value) if isinstance(value, Decimal) else value


def read_live_status(folder: Path) -> dict[str, LiveBot] | None:
    """The bots' statuses as a live process last wrote them; None when no process writes them
    (no file, a garbled one, a stale one, or its writer is dead)."""
    body = _read(folder)
    try:
        return None if body is None else {
            str(name): LiveBot(str(b["status"]), None if b["detail"] is None else str(b["detail"]))
            for name, b in dict(body["bots"]).items()
        }  # fmt: skip
    except _UNREADABLE:
        return None


def read_live_account(folder: Path) -> AccountSummary | None:
    """The account as the live process last read it from the venue; None when no process
    writes the file, or it has not read the account yet."""
    body = _read(folder)
    try:
        raw = None if body is None else body.get("account")
        if raw is None:
            return None
        positions = tuple(
            PositionRisk(
                coin=str(p["coin"]),
                size=Decimal(p["size"]),
                entry_price=Decimal(p["entry_price"]),
                mark=Decimal(p["mark"]),
                leverage=int(p["leverage"]),
                cross=bool(p["cross"]),
                margin_used=Decimal(p["margin_used"]),
                liquidation_price=_decimal_or_none(p["liquidation_price"]),
                funding_since_open=_decimal_or_none(p["funding_since_open"]),
            )
            for p in raw["positions"]
        )
        return AccountSummary(
            account_value=Decimal(raw["account_value"]),
            margin_used=Decimal(raw["margin_used"]),
            withdrawable=Decimal(raw["withdrawable"]),
            maintenance_margin=Decimal(raw["maintenance_margin"]),
            positions=positions,
            read_at_ms=int(raw["read_at_ms"]),
            cross_value=_decimal_or_none(raw.get("cross_value")),
        )
    except _UNREADABLE:
        return None


def _decimal_or_none(raw: object) -> Decimal | None:
    return None if raw is None else Decimal(str(raw))


def _read(folder: Path) -> dict[str, Any] | None:
    """The file's body, when a live process wrote it lately."""
    try:
        body = json.loads((folder / LIVE_STATUS_FILE).read_text(encoding="utf-8"))
        pid, written_s = int(body["pid"]), float(body["written_s"])
    except _UNREADABLE:
        return None
    if time.time() - written_s > STALE_AFTER_S or not _alive(pid):
        return None
    return body


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_live_status(folder: Path) -> None:
    """A clean stop says so by leaving no file (a failed removal goes stale on its own)."""
    with contextlib.suppress(OSError):
        (folder / LIVE_STATUS_FILE).unlink()
