"""How every benchmark prints: the machine it ran on, nearest-rank percentiles, aligned tables.

Figures mean nothing without the machine they were measured on, so each report opens with its
machine line; percentiles are nearest-rank (a value that was actually measured), so a p99 is
never an interpolation between two samples.
"""

from __future__ import annotations

import math
import os
import platform
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

SYSTEM = f"{platform.system()} {platform.machine()}"
SQLITE = f"SQLite {sqlite3.sqlite_version}"


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: a value that was actually measured, never an interpolation."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def machine_line(*details: str) -> str:
    """``machine: N cores, CPython 3.x.y`` and then ``details``: whatever else the figures
    depend on (the OS, the SQLite library, the signing library)."""
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return ", ".join((f"machine: {os.cpu_count()} cores", python, *details))


def filesystem(path: Path) -> str:
    """The filesystem type holding ``path`` (fsync on tmpfs is free, on a disk it is not)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown filesystem"
    best, kind = "", "unknown filesystem"
    resolved = str(path.resolve())
    for line in mounts:
        parts = line.split()
        mount = parts[1] if len(parts) >= 3 else ""
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if mount and inside and len(mount) > len(best):
            best, kind = mount, parts[2]
    return kind


def table(rows: list[list[str]], out: TextIO) -> None:
    """The first column left-aligned, the figures right-aligned, each column as wide as its
    widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        out.write("  ".join(cells).rstrip() + "\n")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"
