"""The progress bar of long commands (backtest, optimize): on stderr, only on a terminal, so
pipes, files and ``--json`` output stay clean. A program that runs the command (the cockpit's
backtest) asks for plain lines instead: ``progress DONE TOTAL`` on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

Advance = Callable[[int, str | None], None]
"""``advance(done, description)``: the count done so far, and a new label (None: keep it)."""


PROGRESS_LINE = "progress"
"""The first word of a progress line: ``progress 500 52000``."""


@contextmanager
def progress_bar(
    label: str, total: int, *, show: bool = True, lines: bool = False
) -> Iterator[Advance | None]:
    """Done of total, time left, and a label the caller may change (the best trial so far);
    None when ``show`` is false or stderr is not a terminal. ``lines``: a line per advance on
    stderr, for a program reading it, terminal or not."""
    if lines:

        def line(done: int, description: str | None = None) -> None:
            sys.stderr.write(f"{PROGRESS_LINE} {done} {total}\n")
            sys.stderr.flush()

        yield line
        return
    if not show or not sys.stderr.isatty():
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)

        def advance(done: int, description: str | None = None) -> None:
            if description is None:
                bar.update(task, completed=done)
            else:
                bar.update(task, completed=done, description=description)

        yield advance
