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
from pathlib import Path

import attrs

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


def write_live_status(folder: Path, bots: Mapping[str, LiveBot]) -> None:
    """Raises ``OSError`` (a full or read-only disk): the caller logs it, trading goes on."""
    body = {
        "pid": os.getpid(),
        "written_s": time.time(),
        "bots": {name: {"status": b.status, "detail": b.detail} for name, b in bots.items()},
    }
    write_atomically(folder / LIVE_STATUS_FILE, json.dumps(body, indent=1).encode())


def read_live_status(folder: Path) -> dict[str, LiveBot] | None:
    """The bots' statuses as a live process last wrote them; None when no process writes them
    (no file, a garbled one, a stale one, or its writer is dead)."""
    try:
        body = json.loads((folder / LIVE_STATUS_FILE).read_text(encoding="utf-8"))
        pid, written_s, bots = int(body["pid"]), float(body["written_s"]), dict(body["bots"])
        statuses = {
            str(name): LiveBot(str(b["status"]), None if b["detail"] is None else str(b["detail"]))
            for name, b in bots.items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if time.time() - written_s > STALE_AFTER_S or not _alive(pid):
        return None
    return statuses


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
