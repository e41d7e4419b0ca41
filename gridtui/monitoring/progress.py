"""The progress bar of long commands (backtest, optimize): on stderr, only on a terminal, so
pipes, files and ``--json`` output stay clean. A program that runs the command (the cockpit's
backtest) asks for plain lines instead: ``progress DONE TOTAL`` on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

Advance = Callable[[int, str | None], None]
"""``advance(done, description)``: the count done so far, and a new label (None: keep it)."""


PROGRESS_LINE = "progress"
"""The first word of a progress line: ``progress 500 52000``."""
REPORT_EVERY = 500
"""Counts between two reports of a long count: a year of 1m candles is half a million of them,
and a bar (or a pipe to a parent process) needs a thousand."""


def throttled(report: Callable[[int], None], total: int) -> Callable[[int], None]:
    """``report`` at every ``REPORT_EVERY``-th count and at ``total``."""

    def every(done: int) -> None:
        if done % REPORT_EVERY == 0 or done == total:
            report(done)

    return every


@contextmanager
def progress_bar(
    label: str, total: int, *, show: bool = True, lines: bool = False
) -> Iterator[Advance | None]:
    """Done of total, time left, and a label the caller may change (the best trial so far);
    None when ``show`` is false or stderr is not a terminal. ``lines``: a line per advance on
    stderr, for a program reading it, terminal or not."""
    with progress_bars((label,), total, show=show, lines=lines) as bars:
        yield None if bars is None else bars[0]


@contextmanager
def progress_bars(
    labels: Sequence[str], total: int, *, show: bool = True, lines: bool = False
) -> Iterator[list[Advance] | None]:
    """One bar per label, each of ``total``, drawn together (runs going on at the same time);
    None as for ``progress_bar``. ``lines``: one line for all of them, the sum of what each has
    done out of ``total`` times their number."""
    if lines:
        done = [0] * len(labels)

        def line_for(number: int) -> Advance:
            def line(count: int, description: str | None = None) -> None:
                done[number] = count
                sys.stderr.write(f"{PROGRESS_LINE} {sum(done)} {total * len(labels)}\n")
                sys.stderr.flush()

            return line

        yield [line_for(number) for number in range(len(labels))]
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

        def advance_for(task: TaskID) -> Advance:
            def advance(count: int, description: str | None = None) -> None:
                if description is None:
                    bar.update(task, completed=count)
                else:
                    bar.update(task, completed=count, description=description)

            return advance

        yield [advance_for(bar.add_task(label, total=total)) for label in labels]
