"""The ``gridtui`` command: argument parsing and the one place errors become one-line messages."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

import attrs

from gridtui.config.loader import ConfigError, load_config, summary
from gridtui.config.schema import AppConfig, VenueKind
from gridtui.config.starter import write_starter
from gridtui.exchanges.base import VenueUnavailable
from gridtui.exchanges.sim.candles import CandleFileError
from gridtui.exchanges.sim.persistence import StateFileError
from gridtui.monitoring.logs import configure_logging
from gridtui.state.store import StoreCorrupted

DEFAULT_CONFIG = Path("config.toml")

log = logging.getLogger("gridtui")


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


# Bad input the user can fix: each carries a one-line message naming the file and the problem.
USER_ERRORS = (
    ConfigError,
    UsageError,
    StoreCorrupted,
    FileExistsError,
    CandleFileError,
    StateFileError,
    VenueUnavailable,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridtui", description="Grid trading bots for Hyperliquid perpetuals."
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="config file")
    parser.add_argument("--headless", action="store_true", help="run the bots without the UI")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics (headless)")
    parser.add_argument("--theme", help="TUI theme name (default: the config's theme)")
    parser.add_argument(
        "--venue", choices=("paper", "hyperliquid"), help="override the config's venue.kind"
    )
    parser.add_argument("--api-url", help="Hyperliquid API base URL (e.g. a local mock exchange)")
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
    mock = sub.add_parser(
        "mock-exchange", help="serve Hyperliquid's REST protocol on localhost over the paper engine"
    )
    mock.add_argument("--host", default="127.0.0.1")
    mock.add_argument("--port", type=int, default=3001)
    mock.add_argument("--seed", type=int, help="seed of the simulated prices")
    mock.add_argument(
        "--faults",
        help="seeded fault injection, e.g. 'seed=7,http_429_rate=0.1,ws_drop_rate=0.01,"
        "timeout_after_accept_rate=0.05,duplicate_fill_rate=0.1,reorder_fills=true,ack_delay_s=0.2'",
    )
    bench = sub.add_parser("bench", help="benchmarks that print figures")
    bench.add_argument("what", choices=("fills", "tick", "keys", "orders"))
    bench.add_argument("--count", type=int, help="how many fills / ticks to measure")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except USER_ERRORS as exc:
        print(f"gridtui: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "check-config":
        return _check_config(args.file or args.config)
    if args.command == "init":
        write_starter(args.file)
        print(f"wrote {args.file}; check it with: gridtui check-config {args.file}")
        return 0
    if args.command == "mock-exchange":
        from gridtui.exchanges.hyperliquid.mock_server import run_mock_exchange

        configure_logging(fmt=args.log_format, level=args.log_level or "info")
        return run_mock_exchange(args)
    if args.command == "bench":
        if args.what == "orders":
            from gridtui.exchanges.hyperliquid.bench import run_orders_bench

            return run_orders_bench(args.count, sys.stdout)
        if args.what == "keys":
            from gridtui.tui.bench import run_keys_bench

            return run_keys_bench(args.count, sys.stdout)
        from gridtui.bench import run_bench

        return run_bench(args.what, count=args.count)
    config = _with_venue_flags(load_config(args.config), args)
    if args.command in ("status", "fills", "audit"):
        from gridtui import books

        if args.command == "status":
            return books.print_status(config, as_json=args.json)
        if args.command == "fills":
            return books.print_fills(config, as_json=args.json, bot=args.bot)
        return asyncio.run(books.audit(config))
    level = args.log_level or config.log_level
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
    if args.api_url:
        venue = attrs.evolve(venue, api_url=args.api_url)
    if args.mainnet:
        venue = attrs.evolve(venue, network="mainnet")
    elif venue.kind is VenueKind.HYPERLIQUID and venue.network == "mainnet":
        raise UsageError(
            f"{config.source}: venue.network is mainnet (real funds); add --mainnet to confirm"
        )
    return attrs.evolve(config, venue=venue)


def _check_config(path: Path) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(summary(config))
    return 0


def dumps(obj: object) -> str:
    return json.dumps(obj, default=str)
