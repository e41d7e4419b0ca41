"""What tests of a command's own processes need: the workers it spawned, and SIGINT as a
terminal delivers it."""

from __future__ import annotations

import signal
from pathlib import Path


def spawned_children(pid: int) -> list[int]:
    """The processes ``pid`` spawned to work (multiprocessing's, not its resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def sigint_as_on_a_terminal() -> None:
    """For ``Popen(preexec_fn=...)``: a test run in the background (CI under nohup, ``&`` in a
    script) inherits SIGINT ignored, and a command started from it would rightly keep
    ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
