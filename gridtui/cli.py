"""The ``gridtui`` command: argument parsing and the one place errors become one-line messages."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import IO, NoReturn

import attrs

from gridtui import stop_signals
from gridtui.backtest import BacktestError
from gridtui.config.edit import ConfigEditError
from gridtui.config.fields import url_problem
from gridtui.config.loader import ConfigError, load_config, summary
from gridtui.config.schema import AppConfig, VenueKind, VenueSettings
from gridtui.config.starter import StarterError, write_starter
from gridtui.control.wire import TOKEN_ENV, SocketPathTooLong, socket_path
from gridtui.exchanges.base import VenueUnavailable
from gridtui.exchanges.hyperliquid.wire import CANDLE_INTERVALS
from gridtui.exchanges.sim.candles import CandleFileError
from gridtui.exchanges.sim.funding import FundingFileError
from gridtui.exchanges.sim.persistence import StateFileError
from gridtui.monitoring.logs import configure_logging
from gridtui.monitoring.metrics import MetricsPortError
from gridtui.optimize import OptimizeError
from gridtui.state.data_dir import DataDirError
from gridtui.state.store import StoreError

DEFAULT_CONFIG = Path("config.toml")
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell reports for a command whose reader went away (``| head``)."""

log = logging.getLogger("gridtui")


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


# Bad input the user can fix: each carries a one-line message naming the file and the problem.
USER_ERRORS = (
    BacktestError,
    OptimizeError,
    FundingFileError,
    ConfigError,
    ConfigEditError,
    UsageError,
    StoreError,
    FileExistsError,
    CandleFileError,
    StateFileError,
    VenueUnavailable,
    MetricsPortError,
    StarterError,
    DataDirError,
    SocketPathTooLong,
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (what is wrong, where to look), not a usage
    block: the same shape as every other error gridtui prints."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")

    def print_help(self, file: IO[str] | None = None) -> None:
        # argparse drops write errors; a closed pipe must reach main()'s handler instead.
        (file or sys.stdout).write(self.format_help())


def _port(text: str) -> int:
    """A TCP port a server can listen on; 0 (any port) is refused because nobody could find it."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port from 1 to 65535, got {text!r}")
    return port


def _api_url(text: str) -> str:
    problem = url_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gridtui", description="Grid trading bots for Hyperliquid perpetuals.")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="config file")
    parser.add_argument("--headless", action="store_true", help="run the bots without the UI")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--metrics-port", type=_port, help="serve Prometheus /metrics (headless)")
    parser.add_argument("--theme", help="TUI theme name (default: the config's theme)")
    parser.add_argument(
        "--venue", choices=("paper", "hyperliquid"), help="override the config's venue.kind"
    )
    parser.add_argument(
        "--api-url", type=_api_url, help="Hyperliquid API base URL (e.g. a local mock exchange)"
    )
    parser.add_argument(
        "--mainnet", action="store_true", help="trade on Hyperliquid mainnet (real funds)"
    )
    # Subcommands take --config too (``gridtui status --config x.toml``); SUPPRESS keeps the
    # top-level value when it is given before the subcommand instead.
    with_config = argparse.ArgumentParser(add_help=False)
    with_config.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="config file")
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file", nargs="?", type=Path)
    init = sub.add_parser("init", help="write a commented starter config")
    init.add_argument("file", nargs="?", type=Path, default=DEFAULT_CONFIG)
    status = sub.add_parser(
        "status", parents=[with_config], help="per-bot position, PnL and orders from the journals"
    )
    status.add_argument("--json", action="store_true")
    fills = sub.add_parser("fills", parents=[with_config], help="export the fill journal")
    fills.add_argument("--json", action="store_true")
    fills.add_argument("--bot")
    sub.add_parser(
        "audit", parents=[with_config], help="recompute the books from the journal and check them"
    )
    alerts = sub.add_parser(
        "alerts", parents=[with_config], help="send a test message to every [alerts] URL"
    )
    alerts.add_argument("action", choices=("test",))
    mock = sub.add_parser(
        "mock-exchange", help="serve Hyperliquid's REST protocol on localhost over the paper engine"
    )
    mock.add_argument("--host", default="127.0.0.1")
    mock.add_argument("--port", type=_port, default=3001)
    mock.add_argument("--seed", type=int, help="seed of the simulated prices")
    mock.add_argument(
        "--faults",
        help="seeded fault injection, e.g. 'seed=7,http_429_rate=0.1,ws_drop_rate=0.01,"
        "timeout_after_accept_rate=0.05,duplicate_fill_rate=0.1,reorder_fills=true,ack_delay_s=0.2'",
    )
    serve = sub.add_parser(
        "serve",
        parents=[with_config],
        help="run the bots and serve their cockpit to browsers",
        description=(
            "Runs the bots as --headless does and serves the cockpit over HTTP: every page is a "
            "cockpit on the same bots (q closes the page's cockpit; the bots go on until this "
            "process gets Ctrl-C or SIGTERM). A browser needs the token, in the address printed "
            f"at start: ${TOKEN_ENV}, or one made at start."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=_port, default=8000)
    attach = sub.add_parser(
        "attach",
        parents=[with_config],
        help="the cockpit on the bots of a running gridtui serve or --headless",
        description=(
            "Shows and steers the bots of the engine running on this config's data dir; q "
            "closes this cockpit and leaves the bots running."
        ),
    )
    attach.add_argument(
        "--socket", type=Path, help="the engine's control socket (default: the config's)"
    )
    backtest = sub.add_parser(
        "backtest",
        parents=[with_config],
        help="run a bot's grid over historical candles with the live engine",
        description=(
            "Replays the candles through the same engine that trades live. Within a candle the "
            "price visits open, then (adaptive) the extreme nearer the open, the other extreme and "
            "the close, or the fixed ohlc/olhc order; a replacement placed after a fill can fill "
            "later in the same candle only if the path reaches it after that fill. strict: a "
            "resting order fills only when the candle trades through its price; touch: when it "
            "reaches it. Resting fills execute at the limit price with the maker fee."
        ),
    )
    backtest.add_argument("--bot", help="which bot (default: the first enabled one)")
    backtest.add_argument("--candles", required=True, metavar="[COIN=]FILE")
    backtest.add_argument("--funding", metavar="[COIN=]FILE", help="fundingHistory JSON or CSV")
    backtest.add_argument(
        "--fill-model",
        choices=("strict", "touch", "both"),
        default="strict",
        help="both: the two side by side (a long run runs them at once on a second core)",
    )
    backtest.add_argument("--path", choices=("adaptive", "ohlc", "olhc"), default="adaptive")
    backtest.add_argument(
        "--sz-decimals", type=int, help="size precision when the config has no paper market"
    )
    backtest.add_argument("--json", action="store_true", help="print one JSON object")
    backtest.add_argument("--fills-out", type=Path, help="write fills and funding as JSON Lines")
    backtest.add_argument("--from", dest="start", metavar="TIME", help="ISO-8601 or epoch ms")
    backtest.add_argument("--to", dest="end", metavar="TIME", help="ISO-8601 or epoch ms")
    backtest.add_argument(
        "--plot",
        type=Path,
        metavar="FILE",
        help="draw price, fills, grid range, equity and drawdown to FILE (.png, .svg or .html)",
    )
    backtest.add_argument(
        "--chart", action="store_true", help="print an equity chart in the terminal"
    )
    backtest.add_argument(
        "--equity-out",
        type=Path,
        metavar="FILE",
        help="write the equity at each candle's close as CSV (time_ms,equity)",
    )
    backtest.add_argument(
        "--progress",
        choices=("bar", "lines"),
        default="bar",
        help="bar: a progress bar on a terminal; lines: 'progress DONE TOTAL' lines on stderr "
        "for a program running the command",
    )
    optimize = sub.add_parser(
        "optimize",
        parents=[with_config],
        help="search a bot's grid and risk settings with Optuna over historical candles",
        description=(
            "Each trial runs the backtest replay (the live engine) on the in-sample candles. "
            "--walk-forward K cuts the candles into K folds: the first three quarters of each "
            "are tuned on, the last quarter tests the best trials. The study is stored (a "
            "journal file under the data dir, or --storage URL) so an interrupted run resumes "
            "and workers on other machines can --join it."
        ),
    )
    optimize.add_argument("--bot", help="which bot (default: the first enabled one)")
    optimize.add_argument("--candles", metavar="[COIN=]FILE")
    optimize.add_argument("--funding", metavar="[COIN=]FILE", help="fundingHistory JSON or CSV")
    optimize.add_argument("--trials", type=int, default=100, help="trials in the study (100)")
    optimize.add_argument("--jobs", type=int, help="worker processes here (default: all cores)")
    optimize.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=LOW:HIGH[:STEP]",
        help="a setting to search (repeat); categorical: NAME=A,B (default: levels, spacing_pct)",
    )
    optimize.add_argument("--objective", choices=("net_pnl", "sharpe", "calmar"), default="net_pnl")
    optimize.add_argument("--walk-forward", type=int, metavar="K", help="folds (default: none)")
    optimize.add_argument("--fill-model", choices=("strict", "touch"), default="strict")
    optimize.add_argument("--study", help="the study's name (default: bot and inputs digest)")
    optimize.add_argument(
        "--storage", metavar="URL", help="an Optuna storage URL (e.g. postgresql://…)"
    )
    optimize.add_argument("--join", metavar="STUDY", help="add workers to a study in --storage")
    optimize.add_argument("--seed", type=int, help="seed the sampler (reproducible studies)")
    optimize.add_argument("--json", action="store_true", help="print one JSON object")
    optimize.add_argument(
        "--write-config", type=Path, metavar="FILE", help="a copy of the config with the winner"
    )
    optimize.add_argument(
        "--plot", type=Path, metavar="FILE", help="the study's history and each setting's effect"
    )
    data = sub.add_parser("data", help="market data for backtests")
    data_sub = data.add_subparsers(dest="data_command", metavar="{fetch}", required=True)
    # --api-url and --mainnet are also taken after the subcommand (``gridtui data fetch
    # --mainnet ...``); SUPPRESS keeps the top-level value when given before it instead.
    with_venue = argparse.ArgumentParser(add_help=False)
    with_venue.add_argument(
        "--api-url", type=_api_url, default=argparse.SUPPRESS, help="Hyperliquid API base URL"
    )
    with_venue.add_argument(
        "--mainnet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="mainnet's data (default: the config's venue.network, else testnet)",
    )
    fetch = data_sub.add_parser(
        "fetch",
        parents=[with_config, with_venue],
        help="download a coin's candles (and funding) from Hyperliquid for gridtui backtest",
        description=(
            "Downloads a coin's candles from Hyperliquid (candleSnapshot, paged under the API's "
            "rate limit) and writes them as a candle CSV (time_ms,open,high,low,close,volume, "
            "oldest first, the venue's numbers as sent) for gridtui backtest --candles. The "
            "venue keeps only the newest 5000 candles of each interval; a range reaching further "
            "back is said on stderr. The network is the config's venue.network (testnet unless "
            "set; --mainnet for mainnet) or its venue.api_url, and --api-url wins over both."
        ),
    )
    fetch.add_argument("--coin", required=True, help="the coin, as Hyperliquid names it (BTC)")
    fetch.add_argument(
        "--interval", required=True, metavar="INTERVAL", help=" | ".join(CANDLE_INTERVALS)
    )
    fetch.add_argument(
        "--start",
        metavar="TIME",
        help="ISO-8601 (UTC unless it says) or epoch ms; default: --end minus 5000 intervals",
    )
    fetch.add_argument("--end", metavar="TIME", help="ISO-8601 or epoch ms; default: now")
    fetch.add_argument(
        "--funding",
        action="store_true",
        help="also write the funding history (fundingHistory JSON, for backtest --funding) to "
        "FILE with its suffix replaced by .funding.json (btc.csv: btc.funding.json)",
    )
    fetch.add_argument("--out", required=True, type=Path, metavar="FILE", help="the candle CSV")
    bench = sub.add_parser("bench", help="benchmarks that print figures")
    bench.add_argument(
        "what", choices=("fills", "tick", "keys", "orders", "soak", "backtest", "sweep")
    )
    bench.add_argument("--bots", type=int, help="soak: paper bots to run (default 10)")
    bench.add_argument("--seconds", type=float, help="soak: how long to run (default 180)")
    bench.add_argument("--speed", type=float, help="soak: paper venue speed (default 600)")
    bench.add_argument(
        "--warmup",
        type=float,
        help="soak: seconds before memory growth is measured (default a third of --seconds, "
        "at most 60)",
    )
    bench.add_argument(
        "--count",
        "--candles",
        type=int,
        help="how many fills / ticks / candles (backtest: --candles N, default 500000) to measure",
    )
    bench.add_argument(
        "--cases",
        type=int,
        help="sweep: random settings to hold the fast evaluator to the engine replay on "
        "(default 50)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console entry point: a return code for every outcome, never a traceback for input."""
    try:
        try:
            return _main(argv)
        finally:
            # Buffered output to a closed pipe fails here, inside the handler below, and not
            # at interpreter shutdown where only a traceback could report it.
            sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is not None:
        stop_signals.release()  # the bot runners (headless, cockpit) release them themselves
    try:
        return _dispatch(args)
    except USER_ERRORS as exc:
        print(f"gridtui: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _discard_stdout() -> None:
    """The reader is gone: point stdout at /dev/null so the final flush at exit has somewhere
    to go (Python's documented way to exit quietly after EPIPE)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing is flushed at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "check-config":
        return _check_config(args.file or args.config)
    if args.command == "init":
        write_starter(args.file)
        print(f"wrote {args.file}; check it with: gridtui check-config {args.file}")
        return 0
    if args.command == "mock-exchange":
        from gridtui.exchanges.hyperliquid.mock import run_mock_exchange

        _check_port_free(args.host, args.port)
        configure_logging(fmt=args.log_format, level=args.log_level or "info")
        return run_mock_exchange(args)
    if args.command == "data":
        return _data_fetch(args)
    if args.command == "bench":
        from gridtui.bench import run_bench

        return run_bench(
            args.what,
            count=args.count,
            bots=args.bots,
            seconds=args.seconds,
            speed=args.speed,
            warmup=args.warmup,
            cases=args.cases,
        )
    if args.command == "optimize":
        from gridtui.optimize.command import OptimizeArgs, run_optimize

        # The replayed bots' own lines (a trial's halts) are the report's figures, not news.
        configure_logging(fmt=args.log_format, level=args.log_level or "critical")

        joining = args.join is not None
        return run_optimize(
            None if joining else load_config(args.config),
            OptimizeArgs(
                candles=args.candles,
                funding=args.funding,
                bot=args.bot,
                trials=args.trials,
                jobs=args.jobs,
                params=tuple(args.param),
                objective=args.objective,
                walk_forward=args.walk_forward,
                fill_model=args.fill_model,
                study=args.study,
                storage=args.storage,
                join=args.join,
                json=args.json,
                write_config=args.write_config,
                plot=args.plot,
                seed=args.seed,
            ),
        )
    if args.command == "attach":
        from gridtui.tui.attach import run_attached

        control = args.socket or socket_path(load_config(args.config).data_dir)
        return run_attached(
            control, theme=args.theme, log_format=args.log_format, level=args.log_level or "info"
        )
    # A run writes journals: prove its files usable first. Reading them (status, fills, audit)
    # must work on a read-only copy too.
    runs = args.command in (None, "serve")
    # An engine that cockpits attach to gives them its config: its paths must not depend on
    # the folder a cockpit was started from.
    shared = args.command == "serve" or args.headless
    path = args.config.absolute() if shared else args.config
    config = _with_venue_flags(load_config(path, check_files=runs), args)
    if args.command == "backtest":
        from gridtui.backtest.command import BacktestArgs, run_backtest

        configure_logging(fmt=args.log_format, level=args.log_level or "critical")

        return run_backtest(
            config,
            BacktestArgs(
                candles=args.candles,
                funding=args.funding,
                bot=args.bot,
                fill_model=args.fill_model,
                path=args.path,
                sz_decimals=args.sz_decimals,
                json=args.json,
                fills_out=args.fills_out,
                start=args.start,
                end=args.end,
                plot=args.plot,
                chart=args.chart,
                equity_out=args.equity_out,
                progress_lines=args.progress == "lines",
            ),
        )
    if args.command == "alerts":
        return _alerts_test(config)
    if args.command in ("status", "fills", "audit"):
        from gridtui import books

        if args.command == "status":
            return books.print_status(config, as_json=args.json)
        if args.command == "fills":
            return books.print_fills(config, as_json=args.json, bot=args.bot)
        return asyncio.run(books.audit(config))
    level = args.log_level or config.log_level
    if args.command == "serve":
        from gridtui.control.web import new_token
        from gridtui.headless import ServeError, WebOptions, run_headless

        token = os.environ.get(TOKEN_ENV) or new_token()
        configure_logging(fmt=args.log_format, level=level)
        web = WebOptions(args.host, args.port, token)
        try:
            return asyncio.run(run_headless(config, metrics_port=args.metrics_port, web=web))
        except ServeError as exc:
            raise UsageError(str(exc)) from exc
    if args.headless:
        from gridtui.headless import run_headless

        configure_logging(fmt=args.log_format, level=level)
        return asyncio.run(run_headless(config, metrics_port=args.metrics_port))
    from gridtui.tui.run import run_tui

    return run_tui(config, theme=args.theme, log_format=args.log_format, level=level)


def _with_venue_flags(config: AppConfig, args: argparse.Namespace) -> AppConfig:
    """Command-line venue choices win over the file; real funds always need --mainnet."""
    venue = config.venue
    if args.venue:
        venue = attrs.evolve(venue, kind=VenueKind(args.venue))
    if args.api_url:  # the venue's, and the paper venue's real prices' (a mock serves both)
        venue = attrs.evolve(
            venue, api_url=args.api_url, paper=attrs.evolve(venue.paper, api_url=args.api_url)
        )
    if args.mainnet:
        venue = attrs.evolve(venue, network="mainnet")
    elif venue.kind is VenueKind.HYPERLIQUID and venue.network == "mainnet":
        raise UsageError(
            f"{config.source}: venue.network is mainnet (real funds); add --mainnet to confirm"
        )
    return attrs.evolve(config, venue=venue)


def _data_fetch(args: argparse.Namespace) -> int:
    """``gridtui data fetch``: the venue as a run would choose it (the config's network and
    api_url when there is a config, the command line's flags over them); no key is needed."""
    from gridtui.backtest.fetch import FetchArgs, run_fetch

    if args.config != DEFAULT_CONFIG or args.config.exists():
        venue = _with_venue_flags(load_config(args.config), args).venue
    else:
        venue = VenueSettings(
            network="mainnet" if args.mainnet else "testnet", api_url=args.api_url
        )
    configure_logging(fmt=args.log_format, level=args.log_level or "critical")
    return run_fetch(
        venue,
        FetchArgs(
            coin=args.coin,
            interval=args.interval,
            out=args.out,
            start=args.start,
            end=args.end,
            funding=args.funding,
        ),
    )


def _check_port_free(host: str, port: int) -> None:
    """The mock's port, tried before the server starts, so a port in use is one line with the
    fix. (The server still reports a bind error itself if the port is taken in between.)"""
    where = f"mock-exchange --port {port}: {host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family = infos[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except socket.gaierror as exc:
        raise UsageError(
            f"mock-exchange --host {host}: {exc.strerror} (expected a local address such as "
            "127.0.0.1)"
        ) from exc
    except OSError as exc:
        reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"{exc.strerror}"
        raise UsageError(
            f"{where} {reason} (choose another --port, or stop the process using it)"
        ) from exc


def _alerts_test(config: AppConfig) -> int:
    """One message to every alert URL; says which failed (exit 1 if any did)."""
    from gridtui.monitoring.notifier import send_test

    if not config.alerts.urls:
        print(
            f"gridtui: no alert URLs in {config.source}: add [alerts] urls = "
            '["ntfy://ntfy.sh/your-topic"] (any Apprise URL)',
            file=sys.stderr,
        )
        return 2
    results = asyncio.run(send_test(config.alerts.urls))
    for label, delivered in results:
        print(f"{label}: {'sent' if delivered else 'FAILED'}")
    failed = sum(not delivered for _, delivered in results)
    print(f"{len(results) - failed} of {len(results)} alert URLs took the test message")
    return 1 if failed else 0


def _check_config(path: Path) -> int:
    try:
        config = load_config(path, check_files=True)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(summary(config))
    return 0


def dumps(obj: object) -> str:
    return json.dumps(obj, default=str)
