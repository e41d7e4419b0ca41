"""``backtest --plot FILE``: the run as a picture (price with fills and the grid's range, equity,
drawdown), written as PNG, SVG or a standalone HTML page.

matplotlib draws it: the reference Python plotting library, maintained for two decades, and it
writes PNG and SVG itself with no display and no browser. It is imported inside ``write_picture``
(about half a second) so ``gridtui --help`` and every other command never pay for it. The series
helpers (``curves``, ``downsample``) need no third-party code and serve the terminal chart too.

Money is Decimal in the books; the pictures are for reading, so they draw floats.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from gridtui.backtest import BacktestError
from gridtui.backtest.replay import GridRange, Replay
from gridtui.backtest.report import BacktestReport
from gridtui.core.files import write_atomically
from gridtui.core.types import Side

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PICTURE_TYPES = (".png", ".svg", ".html")
MAX_POINTS = 4_000
"""Points per line drawn: far more than a picture's width in pixels, so nothing visible is lost,
and a year of minute candles (525,600 closes) still draws in about a second."""
MAX_FILL_MARKERS = 5_000
"""Beyond this many fills the markers are subsampled evenly (every k-th of each side, and the
legend says how many are shown): tens of thousands of triangles only paint the price line solid,
and in an SVG each one is an element of its own (megabytes)."""
NET_COLOURS = ("tab:blue", "tab:purple")
"""Net equity of each fill model, the same colour in the equity and the drawdown panel."""


@attrs.frozen(slots=True)
class Curves:
    """One run's series at each candle's close, as floats for drawing."""

    times: list[int]
    close: list[float]
    net: list[float]
    realized: list[float]
    funding: list[float] | None
    """None when funding was not modelled (no rates given): never drawn as a zero line."""
    drawdown: list[float]
    """Net equity minus its peak so far (the peak starts at 0, as the report's max drawdown)."""


@attrs.frozen(slots=True)
class Picture:
    """What one run contributes to a picture or a chart."""

    run: Replay
    report: BacktestReport
    curves: Curves


def picture(run: Replay, report: BacktestReport) -> Picture:
    return Picture(run, report, curves(run))


def curves(run: Replay) -> Curves:
    points = run.equity
    net = [float(p.equity) for p in points]
    drawdown = []
    peak = 0.0
    for value in net:
        if value > peak:
            peak = value
        drawdown.append(value - peak)
    return Curves(
        times=[p.time_ms for p in points],
        close=[float(p.close) for p in points],
        net=net,
        realized=[float(p.realized) for p in points],
        funding=None if run.funding is None else [float(p.funding) for p in points],
        drawdown=drawdown,
    )


def downsample(
    xs: Sequence[int], ys: Sequence[float], limit: int = MAX_POINTS
) -> tuple[list[int], list[float]]:
    """At most ``limit`` points of the line (xs, ys): the first and the last, and the lowest and
    highest of each bucket of the ones between, in time order. Keeping both extremes, rather
    than every k-th point, keeps a one-candle spike or crash visible however long the run."""
    if limit < 4:
        raise ValueError(f"downsample: limit {limit} < 4")
    count = len(ys)
    if count <= limit:
        return list(xs), list(ys)
    inner = count - 2
    buckets = (limit - 2) // 2
    keep = [0]
    for bucket in range(buckets):
        lo = 1 + bucket * inner // buckets
        hi = 1 + (bucket + 1) * inner // buckets
        if lo == hi:
            continue
        part = list(ys[lo:hi])
        low = lo + part.index(min(part))
        high = lo + part.index(max(part))
        keep.extend(sorted({low, high}))
    keep.append(count - 1)
    return [xs[k] for k in keep], [ys[k] for k in keep]


def check_plot_path(path: Path) -> str:
    """The picture type of ``path`` (its extension), checked before the replay runs so a typo
    costs nothing."""
    kind = path.suffix.lower()
    if kind not in PICTURE_TYPES:
        raise BacktestError(
            f"--plot {path}: unknown picture type '{path.suffix}'; use .png, .svg or .html"
        )
    folder = path.parent
    if not folder.is_dir():
        raise BacktestError(f"--plot {path}: cannot write (no folder {folder})")
    return kind


def write_picture(path: Path, pictures: Sequence[Picture]) -> None:
    """Draw ``pictures`` (one per fill model; fills and the grid from the first) to ``path``."""
    kind = check_plot_path(path)
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    # svg.fonttype none: text stays text (searchable, small); the salt: the same run gives the
    # same SVG ids, byte for byte.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "gridtui"}):
        figure = _figure(pictures)
        FigureCanvasAgg(figure)  # explicit non-interactive backend: no display needed
        buffer = io.BytesIO()
        save_as = "png" if kind == ".png" else "svg"
        metadata: dict[str, Any] = {"Software": None} if kind == ".png" else {"Date": None}
        figure.savefig(buffer, format=save_as, dpi=100, metadata=metadata)
    data = buffer.getvalue()
    if kind == ".html":
        data = _html(pictures, data.decode("utf-8")).encode("utf-8")
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise BacktestError(f"--plot {path}: cannot write ({exc.strerror or exc})") from None


def _figure(pictures: Sequence[Picture]) -> Figure:
    import numpy as np
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    def when(ms: Sequence[int]) -> Any:
        return np.asarray(ms, dtype="datetime64[ms]")  # UTC: matplotlib's default time zone

    first = pictures[0]
    several = len(pictures) > 1
    figure = Figure(figsize=(12, 9), layout="constrained")
    price, equity, drawdown = figure.subplots(
        3, 1, sharex=True, height_ratios=(3, 2, 1.2), squeeze=True
    )
    figure.suptitle(_title(pictures))

    times = first.curves.times
    xs, ys = downsample(times, first.curves.close)
    price.plot(when(xs), ys, color="tab:blue", linewidth=0.8, label="close")
    band_x, lows, highs = _grid_band(first.run.grid, times[-1])
    if band_x:
        price.fill_between(
            when(band_x), lows, highs, step="post", color="tab:orange", alpha=0.15,
            linewidth=0, label="grid range",
        )  # fmt: skip
    _fills(price, first.run, when)
    price.set_title(f"price, {first.report.fill_model} fills and the grid's range", fontsize=10)
    price.set_ylabel("price")

    for shown, colour in zip(pictures, NET_COLOURS, strict=False):
        suffix = f" ({shown.report.fill_model})" if several else ""
        xs, ys = downsample(times, shown.curves.net)
        equity.plot(when(xs), ys, color=colour, linewidth=1.0, label=f"net{suffix}")
    xs, ys = downsample(times, first.curves.realized)
    suffix = f" ({first.report.fill_model})" if several else ""
    equity.plot(
        when(xs), ys, color="tab:green", linewidth=0.8, linestyle="--", label=f"realized{suffix}"
    )
    if first.curves.funding is not None:
        xs, ys = downsample(times, first.curves.funding)
        equity.plot(
            when(xs), ys, color="tab:brown", linewidth=0.8, linestyle=":", label=f"funding{suffix}"
        )
    else:
        equity.plot([], [], " ", label="funding not modelled")
    equity.axhline(0, color="grey", linewidth=0.6)
    equity.set_title("equity: PnL since the start", fontsize=10)
    equity.set_ylabel("PnL")

    for index, (shown, colour) in enumerate(zip(pictures, NET_COLOURS, strict=False)):
        suffix = f" ({shown.report.fill_model})" if several else ""
        xs, ys = downsample(times, shown.curves.drawdown)
        if index == 0:
            drawdown.fill_between(
                when(xs), ys, 0, color=colour, alpha=0.3, linewidth=0, label=f"net{suffix}"
            )
        else:
            drawdown.plot(when(xs), ys, color=colour, linewidth=0.8, label=f"net{suffix}")
    drawdown.set_title("drawdown from the peak", fontsize=10)
    drawdown.set_ylabel("drawdown")
    drawdown.set_xlabel("time (UTC)")
    locator = AutoDateLocator()
    drawdown.xaxis.set_major_locator(locator)
    drawdown.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    for axes in (price, equity, drawdown):
        axes.grid(True, linewidth=0.3, alpha=0.5)
        axes.legend(loc="upper left", fontsize=8)
    return figure


def _fills(axes: Axes, run: Replay, when: Any) -> None:
    buys = [f for f in run.fills if f.side is Side.BUY]
    sells = [f for f in run.fills if f.side is not Side.BUY]
    step = max(1, math.ceil(len(run.fills) / MAX_FILL_MARKERS))
    size = 6.0 if len(run.fills) <= 500 else 3.5
    for fills, marker, color, name, gid in (
        (buys, "^", "tab:green", "buys", "buy-fills"),
        (sells, "v", "tab:red", "sells", "sell-fills"),
    ):
        shown = fills[::step]
        label = f"{name} ({len(fills)})"
        if step > 1:
            label = f"{name} ({len(shown)} of {len(fills)} shown)"
        (line,) = axes.plot(
            when([f.timestamp_ms for f in shown]),
            [float(f.price) for f in shown],
            linestyle="none", marker=marker, color=color, markersize=size,
            markeredgewidth=0, label=label,
        )  # fmt: skip
        line.set_gid(gid)


def _grid_band(
    grid: Sequence[GridRange], end_ms: int
) -> tuple[list[int], list[float], list[float]]:
    """The grid's range as a step function (each range holds until the next one, the last until
    ``end_ms``; NaN where there was no grid). Over ``MAX_POINTS`` ranges, each bucket of them
    becomes its envelope (lowest low, highest high): the band never looks narrower than it was."""
    nan = math.nan
    times = [g.time_ms for g in grid]
    lows = [nan if g.low is None else float(g.low) for g in grid]
    highs = [nan if g.high is None else float(g.high) for g in grid]
    if len(grid) > MAX_POINTS:
        size = math.ceil(len(grid) / MAX_POINTS)
        starts = range(0, len(grid), size)
        times = [times[i] for i in starts]
        lows = [_nanmin(lows[i : i + size]) for i in starts]
        highs = [-_nanmin([-h for h in highs[i : i + size]]) for i in starts]
    if not times:
        return [], [], []
    return [*times, end_ms], [*lows, lows[-1]], [*highs, highs[-1]]


def _nanmin(values: Sequence[float]) -> float:
    present = [v for v in values if not math.isnan(v)]
    return min(present) if present else math.nan


def _title(pictures: Sequence[Picture]) -> str:
    first = pictures[0].report
    models = " and ".join(p.report.fill_model for p in pictures)
    pnl = ", ".join(
        f"{p.report.fill_model} {p.report.net_pnl}" if len(pictures) > 1 else str(p.report.net_pnl)
        for p in pictures
    )
    return (
        f"{first.bot} on {first.coin}, {first.start} to {first.end}\n"
        f"{models} fills, {first.path} path, net PnL {pnl}"
    )


def _html(pictures: Sequence[Picture], svg: str) -> str:
    first = pictures[0].report
    heading = f"gridtui backtest: {first.bot} on {first.coin}"
    pnl = "; ".join(f"{p.report.fill_model} {p.report.net_pnl}" for p in pictures)
    facts = (
        ("bot", first.bot),
        ("coin", first.coin),
        ("period (UTC)", f"{first.start} to {first.end}"),
        ("fill model", ", ".join(p.report.fill_model for p in pictures)),
        ("candle path", first.path),
        ("candles", str(first.candles)),
        ("net PnL", pnl),
    )
    return html_page(heading, facts, svg)


def html_page(heading: str, facts: Sequence[tuple[str, str]], svg: str) -> str:
    """A page that stands alone: a heading, a table of facts and a figure as inline SVG; no
    script, no stylesheet or font from the network, so it opens the same anywhere, offline, for
    years (the backtest's pictures and the optimizer's)."""
    svg = svg[svg.index("<svg") :]
    rows = "\n".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in facts
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(heading)}</title>\n"
        "<style>body{font-family:sans-serif;margin:1.5em;color:#222}"
        "th,td{text-align:left;padding:0.1em 1em 0.1em 0}"
        "svg{max-width:100%;height:auto}</style>\n"
        f"</head>\n<body>\n<h1>{html.escape(heading)}</h1>\n<table>\n{rows}\n</table>\n"
        f"{svg}\n</body>\n</html>\n"
    )
