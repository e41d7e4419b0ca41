"""``backtest --chart``: the net equity curve in the terminal, under the report.

plotext draws it: a maintained, pure-Python terminal plotting library with no dependencies of its
own, and the one textual-plotext wraps, so the cockpit can later show the same chart in a widget.
textual-plotext needs plotext 5 (plotext 6 is a different API), hence the ``<6`` pin. It is
imported inside ``equity_chart`` so other commands do not load it.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from gridtui.backtest.plot import MAX_POINTS, Picture, downsample

FALLBACK_SIZE = (100, 25)
"""Columns and lines when the output is not a terminal (a pipe, a file, a test)."""
TICKS = 5
MARKERS = ("braille", "dot")
"""One marker per fill model, so two curves stay apart without colours too."""


def print_chart(pictures: Sequence[Picture], out: TextIO) -> None:
    """The chart sized to the terminal; colours only when ``out`` is one."""
    columns, lines = shutil.get_terminal_size(FALLBACK_SIZE)
    width = max(columns, 40)
    height = min(max(lines - 2, 12), 40)
    out.write(equity_chart(pictures, width, height, colour=out.isatty()) + "\n")


def equity_chart(pictures: Sequence[Picture], width: int, height: int, *, colour: bool) -> str:
    """Net equity over time (one curve per fill model), a zero line, and the net PnL in the
    title, as text ``width`` columns by ``height`` lines."""
    import plotext as plt

    first = pictures[0]
    several = len(pictures) > 1
    times = first.curves.times
    # braille packs 2 dots across a column; a low and a high for each keeps spikes visible
    limit = min(MAX_POINTS, max(4 * width, 4))
    plt.clear_figure()
    try:
        plt.plot_size(width, height)
        plt.theme("pro" if colour else "clear")
        for shown, marker in zip(pictures, MARKERS, strict=False):
            xs, ys = downsample(times, shown.curves.net, limit)
            label = shown.report.fill_model if several else None
            plt.plot(xs, ys, marker=marker, label=label)
        plt.hline(0, "gray")
        pnl = ", ".join(
            f"{p.report.fill_model} {p.report.net_pnl}" if several else str(p.report.net_pnl)
            for p in pictures
        )
        report = first.report
        plt.title(f"{report.bot} on {report.coin}: net equity, net PnL {pnl}")
        ticks = [times[0] + (times[-1] - times[0]) * i // (TICKS - 1) for i in range(TICKS)]
        span = times[-1] - times[0]
        plt.xticks(ticks, [_label(t, span) for t in ticks])
        plt.xlabel("time (UTC)")
        text = str(plt.build())
        # the clear theme still ends each line with a colour reset: strip it for pipes and files
        return text if colour else str(plt.uncolorize(text))
    finally:
        plt.clear_figure()


def _label(ms: int, span_ms: int) -> str:
    """Dates for runs of days, times of day for shorter ones."""
    at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if span_ms >= 3 * 86_400_000:
        return at.strftime("%Y-%m-%d")
    return at.strftime("%m-%d %H:%M")
