"""``gridtui backtest``: read the inputs, run the replay once per fill model, print the report.

The bot's settings come from the config exactly as a live run reads them (grid, risk, per-coin
overrides), fees from the config's paper venue. Every input problem is one line naming the place
and the fix (the CLI prints ``BacktestError``, ``CandleFileError`` and ``FundingFileError``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import attrs

from gridtui.backtest import BacktestError
from gridtui.backtest.child_replay import replay_in_child
from gridtui.backtest.fetch import iso, parse_time
from gridtui.backtest.plot import check_plot_path, picture, write_picture
from gridtui.backtest.replay import Replay, ReplayOptions, replay
from gridtui.backtest.report import BacktestReport, build_report
from gridtui.config.schema import AppConfig, BotSettings, CandlePath
from gridtui.core.child import cores
from gridtui.core.files import write_atomically
from gridtui.core.types import Side
from gridtui.exchanges.sim import CandleSeries, FundingRate, load_candles, load_funding
from gridtui.exchanges.sim.vocabulary import FillModel
from gridtui.monitoring.progress import Advance, progress_bars, throttled

BOTH = "both"
PROGRESS_FROM_CANDLES = 20_000
"""About ten seconds of replay today: shorter runs finish before a bar would help."""
SIDE_BY_SIDE_FROM_CANDLES = 20_000
"""``--fill-model both`` runs its second model in a process of its own from here on (a second
core): a child costs a second or two to start, which shorter runs would not win back."""


@attrs.frozen(slots=True)
class BacktestArgs:
    candles: str
    """``[COIN=]FILE``."""
    funding: str | None = None
    bot: str | None = None
    fill_model: str = FillModel.STRICT.value
    path: str = CandlePath.ADAPTIVE.value
    sz_decimals: int | None = None
    json: bool = False
    fills_out: Path | None = None
    start: str | None = None
    """``--from``: the first candle opening at or after this TIME (ISO-8601 or epoch ms)."""
    end: str | None = None
    """``--to``: candles opening before this TIME."""
    plot: Path | None = None
    """``--plot FILE``: price, fills, grid range, equity and drawdown as .png, .svg or .html."""
    chart: bool = False
    """``--chart``: the equity curve in the terminal after the report."""
    equity_out: Path | None = None
    """``--equity-out FILE``: the equity at each candle's close as CSV (time_ms,equity)."""
    progress_lines: bool = False
    """``--progress lines``: ``progress DONE TOTAL`` lines on stderr (a program reads them)."""


def run_backtest(config: AppConfig, args: BacktestArgs) -> int:
    out = sys.stdout
    bot = pick_bot(config, args.bot)
    candles_file = coin_file(args.candles, "--candles", bot)
    series = _in_range(load_candles(candles_file), candles_file, args.start, args.end)
    funding = None
    if args.funding is not None:
        funding = load_funding(coin_file(args.funding, "--funding", bot))
    models = (
        (FillModel.STRICT, FillModel.TOUCH)
        if args.fill_model == BOTH
        else (FillModel(args.fill_model),)
    )
    path = CandlePath(args.path)
    if args.plot is not None:
        check_plot_path(args.plot)  # before the replay: a typo should not cost a long run
    options = [
        ReplayOptions(fill_model=model, path=path, sz_decimals=args.sz_decimals) for model in models
    ]
    labels = [f"{bot.name} {model.value}" for model in models]
    total = len(series)
    show = total >= PROGRESS_FROM_CANDLES
    with progress_bars(labels, total, show=show, lines=args.progress_lines) as bars:
        if len(options) == 2 and total >= SIDE_BY_SIDE_FROM_CANDLES and cores() >= 2:
            replays = _side_by_side(config, bot, candles_file, series, funding, options, bars)
        else:
            replays = [
                replay(config, bot, candles_file, series, funding, option, _bar(bars, n, total))
                for n, option in enumerate(options)
            ]
    runs = [
        (run, build_report(run, series, fill_model=option.fill_model.value, path=path.value))
        for run, option in zip(replays, options, strict=True)
    ]
    if args.fills_out is not None:
        _write_fills(args.fills_out, runs[0][0])
    if args.equity_out is not None:
        _write_equity(args.equity_out, runs[0][0])
    # With --fill-model both the pictures draw each model's equity, the fills of the first.
    pictures = [picture(run, report) for run, report in runs] if args.plot or args.chart else []
    if args.plot is not None:
        write_picture(args.plot, pictures)
    reports = [report for _, report in runs]
    if args.json:
        body = (
            reports[0].to_json()
            if len(reports) == 1
            else {r.fill_model: r.to_json() for r in reports}
        )
        out.write(json.dumps(body, indent=2, sort_keys=False) + "\n")
    else:
        _print_table(reports, out, funding_modelled=funding is not None)
    if args.chart:
        from gridtui.backtest.chart import print_chart

        print_chart(pictures, sys.stderr if args.json else out)  # stdout: one JSON object
    return 0


def _side_by_side(
    config: AppConfig,
    bot: BotSettings,
    candles_file: Path,
    series: CandleSeries,
    funding: Sequence[FundingRate] | None,
    options: Sequence[ReplayOptions],
    bars: list[Advance] | None,
) -> list[Replay]:
    """The first model here, the second in a child process at the same time, each on its
    bar (the child's moves whenever this one does, and as its last counts arrive)."""
    total = len(series)
    with replay_in_child(config, bot, candles_file, series, funding, options[1]) as child:

        def advance(done: int) -> None:
            child.poll()  # also keeps the child's pipe from filling up
            if bars is not None:
                bars[0](done, None)
                bars[1](child.done, None)

        first = replay(
            config, bot, candles_file, series, funding, options[0], throttled(advance, total)
        )
        second = child.result(None if bars is None else lambda done: bars[1](done, None))
    return [first, second]


def _bar(bars: list[Advance] | None, number: int, total: int) -> Callable[[int], None] | None:
    """Bar ``number``'s advance for a replay's candle count (now and then)."""
    if bars is None:
        return None
    advance = bars[number]
    return throttled(lambda done: advance(done, None), total)


def _in_range(series: CandleSeries, path: Path, start: str | None, end: str | None) -> CandleSeries:
    """The candles opening in [--from, --to); the whole file without either."""
    if start is None and end is None:
        return series
    first = parse_time(start, "--from") if start is not None else series[0].time_ms
    last = parse_time(end, "--to") if end is not None else series[-1].time_ms + 1
    kept = CandleSeries.of(c for c in series if first <= c.time_ms < last)
    if len(kept) < 2:
        raise BacktestError(
            f"--from/--to keep {len(kept)} of the {len(series)} candles of {path} "
            f"({iso(series[0].time_ms)} to {iso(series[-1].time_ms)}); a backtest needs 2"
        )
    return kept


def pick_bot(config: AppConfig, name: str | None) -> BotSettings:
    if name is None:
        enabled = [b for b in config.bots if b.enabled]
        if not enabled:
            raise BacktestError(f"{config.source}: no enabled bot to backtest; pass --bot NAME")
        return enabled[0]
    for bot in config.bots:
        if bot.name == name:
            return bot
    names = ", ".join(b.name for b in config.bots) or "none"
    raise BacktestError(f"--bot {name}: no such bot in {config.source} (bots: {names})")


def coin_file(value: str, option: str, bot: BotSettings) -> Path:
    """``COIN=FILE`` or ``FILE``; a coin given must be the bot's."""
    coin, sep, file = value.partition("=")
    if not sep:
        return Path(value)
    if coin.upper() != bot.coin.upper():
        raise BacktestError(
            f"{option} {value}: the file is for {coin}, bot {bot.name} trades {bot.coin}"
        )
    return Path(file)


def _write_equity(path: Path, run: Replay) -> None:
    """The equity (realized + unrealized + funding) at each candle's close, as CSV."""
    rows = [f"{point.time_ms},{point.equity}" for point in run.equity]
    try:
        write_atomically(path, ("time_ms,equity\n" + "\n".join(rows) + "\n").encode())
    except OSError as exc:
        raise BacktestError(f"--equity-out {path}: cannot write ({exc.strerror or exc})") from None


def _write_fills(path: Path, run: Replay) -> None:
    """Every simulated fill and funding payment, one JSON object per line, in time order: enough
    to recompute the PnL without gridtui."""
    rows: list[tuple[int, int, dict[str, object]]] = []
    for fill in run.fills:
        sign = 1 if fill.side is Side.BUY else -1
        rows.append(
            (
                fill.timestamp_ms,
                0,
                {
                    "time_ms": fill.timestamp_ms,
                    "kind": "fill",
                    "side": fill.side.name.lower(),
                    "price": str(fill.price),
                    "size": str(fill.size),
                    "fee": str(fill.fee),
                    "taker": fill.is_taker,
                    "amount": str(-sign * fill.price * fill.size - fill.fee),
                },
            )
        )
    for payment in run.funding or ():
        rows.append(
            (
                payment.time_ms,
                1,
                {
                    "time_ms": payment.time_ms,
                    "kind": "funding",
                    "position": str(payment.position),
                    "price": str(payment.price),
                    "rate": str(payment.rate),
                    "amount": str(payment.amount),
                },
            )
        )
    rows.sort(key=lambda row: (row[0], row[1]))
    try:
        with path.open("w", encoding="utf-8") as out:
            for _, _, row in rows:
                out.write(json.dumps(row) + "\n")
    except OSError as exc:
        raise BacktestError(f"--fills-out {path}: cannot write ({exc.strerror})") from None


LABELS = (
    ("period", None),
    ("candles", "candles"),
    ("gaps", None),
    ("net PnL", "net_pnl"),
    ("return %", "return_pct"),
    ("realized PnL (net of fees)", "realized_pnl"),
    ("unrealized PnL", "unrealized_pnl"),
    ("fees", "fees"),
    ("funding", None),
    ("fills", "fills"),
    ("round trips", "round_trips"),
    ("profit per round trip", "grid_profit_per_round_trip"),
    ("max drawdown", "max_drawdown"),
    ("max drawdown %", "max_drawdown_pct"),
    ("Sharpe", "sharpe"),
    ("Sortino", "sortino"),
    ("halts", "halts"),
    ("time halted %", "time_halted_pct"),
    ("final position", "final_position"),
    ("buy and hold PnL", "buy_and_hold_pnl"),
)


def _print_table(reports: list[BacktestReport], out: TextIO, *, funding_modelled: bool) -> None:
    first = reports[0]
    out.write(f"backtest {first.bot} on {first.coin}, {first.path} path\n")
    header = ["", *(f"{r.fill_model} fills" for r in reports)]
    rows = [header]
    for label, field in LABELS:
        cells = []
        for r in reports:
            if label == "period":
                cells.append(f"{r.start} → {r.end}")
            elif label == "gaps":
                cells.append(f"{r.gaps.count} (largest {r.gaps.largest_ms // 60_000} min)")
            elif label == "funding":
                cells.append(str(r.funding) if funding_modelled else "funding not modelled")
            else:
                value = getattr(r, field or "")
                cells.append("—" if value is None else _show(value))
        rows.append([label, *cells])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        out.write("\n")


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
