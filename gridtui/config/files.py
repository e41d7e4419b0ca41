"""The files and folders a config names, checked before anything runs.

A well-formed path can still be unusable: a ``data_dir`` that is a file, a journal folder under
a read-only mount, a candle file that is not there. The run would find out at its first write,
with a traceback or a crash loop; check-config (and the start of a run) finds out here, one
line per path, relative paths resolved against the config's folder exactly as the loader does.

Probing leaves nothing behind: a folder that does not exist yet is created to prove it can be,
then removed again; an existing one gets a temporary file, deleted at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridtui.config.fields import MARKET_FIELDS, PAPER_FIELDS, TOP_FIELDS, VENUE_FIELDS, Field
from gridtui.config.schema import PaperSettings, VenueKind

log = logging.getLogger(__name__)

_CANDLES = "expected a CSV of time_ms,open,high,low,close,volume; relative paths start at the " + (
    "config's folder"
)
_WRITABLE = "expected a folder this user can write, or one it can create"


def resolve_path(base_dir: Path, path: Path) -> Path:
    """``path`` as the engine will use it: ``~`` expanded, relative to ``base_dir``."""
    path = path.expanduser()
    return path if path.is_absolute() else base_dir / path


def file_problems(raw: dict[str, Any], base_dir: Path) -> list[str]:
    """Every path in ``raw`` (a parsed document) that the run could not use. Values the field
    rules reject are skipped: the validator reports those."""
    problems: list[str] = []
    data_dir = _path(raw, "data_dir", TOP_FIELDS, Path("data"))
    if data_dir is not None:
        problem = _guarded(_data_dir_problem, resolve_path(base_dir, data_dir))
        if problem is not None:
            problems.append(f"data_dir: {problem}")
    venue = _table(raw, "venue")
    if _valid(venue, "kind", VENUE_FIELDS, VenueKind.PAPER) is not VenueKind.PAPER:
        return problems  # the paper venue's files are not used
    paper = _table(venue, "paper")
    state_file = _path(paper, "state_file", PAPER_FIELDS, PaperSettings().state_file)
    if state_file is not None:
        problem = _guarded(_state_file_problem, resolve_path(base_dir, state_file))
        if problem is not None:
            problems.append(f"venue.paper.state_file: {problem}")
    markets = paper.get("markets")
    for index, market in enumerate(markets if isinstance(markets, list) else []):
        candles = _path(market, "candles_file", MARKET_FIELDS, None)
        if candles is not None:
            problem = _guarded(_candles_problem, resolve_path(base_dir, candles))
            if problem is not None:
                problems.append(f"venue.paper.markets[{index}].candles_file: {problem}")
    return problems


def _guarded(check: Callable[[Path], str | None], path: Path) -> str | None:
    """``check(path)``, with any OS error on the way (a name too long, a folder this user may
    not look into) as the problem itself."""
    try:
        return check(path)
    except OSError as exc:
        return f"cannot use {path}: {exc.strerror or exc} (check the path and its permissions)"


def _data_dir_problem(where: Path) -> str | None:
    if where.exists() and not where.is_dir():
        return (
            f"{where} is a file, not a folder (expected a folder for the journals: move the "
            "file away or choose another data_dir)"
        )
    reason = folder_problem(where)
    return None if reason is None else f"{reason} ({_WRITABLE})"


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be created in ``folder`` (creating it if needed), or None."""
    try:
        return _folder_problem(folder)
    except OSError as exc:  # e.g. a parent this user may not even look into
        return f"cannot use {folder}: {exc.strerror or exc}"


def _folder_problem(folder: Path) -> str | None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot create {folder}: {existing} is a file, not a folder"
    if existing == folder:
        try:
            handle, probe = tempfile.mkstemp(dir=folder, prefix=".gridtui-probe-")
        except OSError as exc:
            return f"{folder} is not writable: {exc.strerror or exc}"
        os.close(handle)
        os.unlink(probe)
        return None
    created: list[Path] = []
    try:
        for parent in reversed((folder, *folder.parents)):
            if not parent.exists():
                parent.mkdir()
                created.append(parent)
    except OSError as exc:
        return f"cannot create {folder}: {exc.strerror or exc}"
    finally:
        for made in reversed(created):
            with contextlib.suppress(OSError):
                made.rmdir()
    return None


def _state_file_problem(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        reason = folder_problem(path.parent)
        if reason is None:
            return None  # created at the first run
        if reason.startswith("cannot create"):
            reason = reason.removeprefix(f"cannot create {path.parent}: ")
        return f"cannot create {path}: {reason} (expected a path in a writable folder)"
    except OSError as exc:
        return f"cannot use {path}: {exc.strerror or exc} (expected a path in a writable folder)"
    if stat.S_ISDIR(mode):
        return (
            f"{path} is a folder (expected the path of the paper venue's database file; it is "
            "created when missing)"
        )
    if not stat.S_ISREG(mode):
        return f"{path} is not a regular file (expected the path of the paper venue's database)"
    if not os.access(path, os.R_OK | os.W_OK):
        return f"{path} is not readable and writable by this user (check its permissions)"
    return None


def _candles_problem(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return f"{path} not found ({_CANDLES})"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc} ({_CANDLES})"
    if stat.S_ISDIR(mode):
        return f"{path} is a folder ({_CANDLES})"
    if not stat.S_ISREG(mode):
        return f"{path} is not a regular file ({_CANDLES})"
    if not os.access(path, os.R_OK):
        return f"{path} is not readable by this user (make it readable, e.g. chmod u+r)"
    return None


def _table(parent: Any, key: str) -> dict[str, Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, dict) else {}


def _valid(table: Any, key: str, fields: dict[str, Field], default: Any) -> Any:
    if not isinstance(table, dict) or key not in table:
        return default
    value = table[key]
    return None if fields[key].problem(value) is not None else fields[key].convert(value)


def _path(table: Any, key: str, fields: dict[str, Field], default: Path | None) -> Path | None:
    value = _valid(table, key, fields, default)
    return value if isinstance(value, Path) else None
