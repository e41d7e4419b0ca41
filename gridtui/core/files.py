"""Writing a file whole or not at all: the one way gridtui writes the files a trader keeps
(configs, candle and funding downloads, pictures, caches)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """A temporary file beside ``path``, flushed to disk and renamed over it: a failed write
    (disk full, no permission, a folder in the way) leaves the old file untouched and no half
    one, and a crash right after leaves the old file or the new one, never an empty one. An
    existing file keeps its permissions (a config may be private) and a symlink stays a link to
    the replaced file; a new file gets ``0666 & ~umask``, as a plain open would, not mkstemp's
    0600. Raises ``OSError``; callers turn it into their one-line message."""
    target = path.resolve() if path.is_symlink() else path
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), _mode(target))
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _mode(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask
