"""The commented starter config that `gridtui init` writes (and that ships as config.toml).

tomli-w cannot write comments, so the document is built table by table and key by key: every
value line comes from tomli-w (correct TOML quoting and number syntax), with the explanation a
trader needs written as comment lines just before it. The result is a paper-venue setup that runs
without keys and shows fills within a minute; a test proves it loads and validates cleanly.
"""

from __future__ import annotations

import logging
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import tomli_w

from gridtui.config.files import folder_problem

log = logging.getLogger(__name__)


@attrs.frozen(slots=True)
class _Key:
    name: str
    value: Any
    note: str = ""
    example: bool = False
    """Written commented out: shows an optional knob without setting it."""


@attrs.frozen(slots=True)
class _Table:
    header: str
    """"" for the top-level keys, else the table name."""
    note: str
    keys: tuple[_Key, ...]
    array: bool = False


_INTRO = (
    "gridtui configuration: grid-trading bots for Hyperliquid perpetuals.\n"
    "As written, this runs two bots (BTC and ETH) on the built-in paper exchange: simulated "
    "prices, no keys, no real money. Prices, sizes and money may be written as numbers (0.0005) "
    'or as strings ("0.0005"); both are read exactly. Check your edits with '
    "`gridtui check-config`."
)

_DOCUMENT = (
    _Table(
        "",
        "",
        (
            _Key(
                "data_dir",
                "data",
                "Folder for each bot's journal (fills, orders, state). Relative paths in this "
                "file are relative to the folder this file is in.",
            ),
            _Key("log_level", "info", "How much the log says: debug, info, warning or error."),
            _Key("theme", "gridtui-dark", "Colour theme of the terminal UI."),
        ),
    ),
    _Table(
        "engine",
        "How often each bot does its work. All times are in seconds.",
        (
            _Key(
                "cycle_interval_s",
                1.0,
                "Each bot checks its grid, its risk limits and refreshes the dead-man switch "
                "this often.",
            ),
            _Key(
                "reconcile_interval_s",
                30.0,
                "Compare our records (orders, fills, position) with the exchange's this often "
                "and repair any difference.",
            ),
            _Key(
                "stream_stale_after_s",
                10.0,
                "If the live price/fill stream is silent this long, poll the exchange instead.",
            ),
            _Key(
                "stuck_order_after_s",
                30.0,
                "An order the exchange has not confirmed after this long is cancelled as stuck.",
            ),
            _Key(
                "restart_backoff_s",
                1.0,
                "A crashed bot restarts after this delay, doubling on each crash ...",
            ),
            _Key("restart_backoff_max_s", 60.0, "... up to this delay."),
            _Key(
                "shutdown_deadline_s",
                30.0,
                "On stop, keep canceling until the exchange confirms no order is left, at most "
                "this long (then the dead-man switch stays armed and the exit code says so).",
            ),
        ),
    ),
    _Table(
        "circuit_breaker",
        "Stops a bot and cancels its orders when the exchange API keeps failing, then probes "
        "until the API answers again.",
        (
            _Key("error_threshold", 5, "Consecutive API errors that trip the breaker."),
            _Key("cooldown_s", 5.0, "Wait this long before the first probe; doubles each time ..."),
            _Key("max_cooldown_s", 120.0, "... up to this."),
        ),
    ),
    _Table(
        "dead_man_switch",
        "Safety net: if gridtui stops (crash, lost network, closed laptop), the exchange itself "
        "cancels all of our orders timeout_s seconds after the last refresh. Each bot refreshes "
        "it every cycle and disarms it on a clean shutdown.",
        (
            _Key("enabled", True, "Strongly recommended; turn off only for experiments."),
            _Key("timeout_s", 60.0, "Seconds without a refresh before it fires (at least 5)."),
        ),
    ),
    _Table(
        "alerts",
        "Messages to your phone or chat: halts, breaker trips, position corrections, dead-man "
        "failures, crashes and orders a stop left behind, at once; fills as one digest. Any "
        "Apprise URL (tgram://, discord://, ntfy://, json://, ...); a token may come from the "
        "environment as ${NAME}. Try them with: gridtui alerts test",
        (
            _Key("urls", ["ntfy://ntfy.sh/my-gridtui-topic"], "", True),
            _Key("min_severity", "warning", "info, warning or critical.", True),
            _Key("digest_minutes", 60, "A fill digest this often (0 = none).", True),
            _Key("max_attempts", 5, "Tries per message before it is dropped (logged).", True),
        ),
    ),
    _Table(
        "venue",
        "Where orders go.",
        (
            _Key(
                "kind",
                "paper",
                '"paper" = the built-in simulated exchange (no keys, no real money); '
                '"hyperliquid" = the real Hyperliquid exchange (then uncomment and fill '
                "in the three settings below). Never put a private key in this file: gridtui "
                "reads the API wallet key from an environment variable or from key_file (a file "
                "only you can read, 0600).",
            ),
            _Key("network", "testnet", "testnet = play money; mainnet = real funds.", True),
            _Key(
                "account_address",
                "0x0000000000000000000000000000000000000000",
                "Your main wallet's public address (0x and 40 hex digits).",
                True,
            ),
            _Key(
                "key_file", "~/.config/gridtui/agent.key", "File holding the API wallet key.", True
            ),
        ),
    ),
    _Table(
        "venue.paper",
        "The simulated exchange. Its orders, balance and fills persist in state_file, so a "
        "restarted bot finds everything as it left it.",
        (
            _Key("seed", 7, "Seed of the simulated prices: the same seed replays the same prices."),
            _Key("state_file", "data/paper.db"),
            _Key("starting_balance", 100000, "Simulated account balance, in USD."),
            _Key("maker_fee", Decimal("0.00015"), "Fee on orders that rest on the book (0.015%)."),
            _Key("taker_fee", Decimal("0.00045"), "Fee on orders that cross the book (0.045%)."),
            _Key("tick_interval_s", 0.25, "Real seconds between simulated price updates."),
            _Key(
                "speed",
                60.0,
                "Simulated seconds per real second: 60 = one simulated hour per real minute, so "
                "a fresh grid sees fills within seconds.",
            ),
            _Key(
                "candle_path",
                "adaptive",
                "How a market's candles_file replays each candle: adaptive = open, the extreme "
                "nearer to the open, the other extreme, close; ohlc = high before low; olhc = "
                "low before high. A market may set its own.",
            ),
            _Key(
                "prices",
                "generated",
                'generated = each market below invents its prices; "hyperliquid" = paper '
                "trading on Hyperliquid's real prices (its public stream, no key): a resting "
                "order fills only when a real trade prints through it. The markets are then the "
                "bots' coins with the venue's size rules, the markets below are not read, and "
                "the account is another one: give it its own state_file (data/paper-live.db).",
            ),
            _Key("network", "mainnet", 'Whose real prices, with prices = "hyperliquid".'),
            _Key(
                "funding_rate",
                Decimal("0.0000125"),
                "Hourly funding the simulated markets charge on open positions (positive: "
                "longs pay): Hyperliquid's interest part, 0.01% per 8 hours. Real prices pay the "
                "venue's own rate.",
            ),
            _Key("api_url", "http://127.0.0.1:3001", "Read them from here instead (a mock).", True),
        ),
    ),
    *(
        _Table(
            "venue.paper.markets",
            "One simulated market per coin the paper venue trades." if coin == "BTC" else "",
            (
                _Key("coin", coin),
                _Key("start_price", price, "First price of the simulated path, in USD."),
                _Key(
                    "sz_decimals",
                    decimals,
                    "Size precision, as on Hyperliquid: sizes have at most this many decimals; "
                    "prices at most 5 significant figures and 6 - sz_decimals decimals.",
                ),
                _Key("volatility", 0.8, "Annualised volatility of the simulated price: 0.8 = 80%."),
                _Key(
                    "candles_file",
                    candles,
                    "Replay real candles instead (CSV: time_ms,open,high,low,close,volume).",
                    True,
                ),
            ),
            array=True,
        )
        for coin, price, decimals, candles in (
            ("BTC", 64000, 5, "data/btc-1m.csv"),
            ("ETH", 3200, 4, "data/eth-1m.csv"),
        )
    ),
    _Table(
        "grid",
        "Grid defaults for every bot. A bot rests `levels` buy orders below the center price and "
        "`levels` sell orders above it, spacing_pct apart. When a buy fills, a sell goes one "
        "level above it (and vice versa), so each round trip earns about one spacing minus fees. "
        "The order size is set per coin below. Override any of these per coin in "
        "[coins.COIN.grid] or per bot in [bots.grid].",
        (
            _Key("levels", 8, "Orders per side (2 to 200)."),
            _Key(
                "spacing",
                "arithmetic",
                "arithmetic = equal price steps; geometric = equal percentage steps.",
            ),
            _Key(
                "spacing_pct",
                Decimal("0.15"),
                "Distance between neighbouring levels, in percent of the center price. Keep it "
                "well above the round-trip fee (2 x maker_fee = 0.03%).",
            ),
            _Key(
                "volatility_scaled",
                False,
                "true = widen the spacing in volatile markets (spacing_pct becomes the minimum).",
            ),
            _Key(
                "volatility_multiplier",
                Decimal("1.0"),
                "With volatility_scaled: spacing = multiplier x realized volatility.",
            ),
            _Key(
                "size_scaling_pct",
                0,
                "Extra size per level away from the center, in percent of size (0 = all equal).",
            ),
            _Key(
                "mode",
                "rolling",
                "rolling = the grid follows the price; bounded = fixed range: set "
                'mode = "bounded" with lower and upper prices (in [bots.grid]).',
            ),
            _Key(
                "recenter_threshold_pct",
                Decimal("0.5"),
                "Rolling mode: re-center once the price is this many percent beyond the "
                "outermost level.",
            ),
            _Key(
                "trend_bias",
                0,
                "0 = symmetric grid; up to 1 = shift the center by one spacing in the direction "
                "of the trend.",
            ),
            _Key(
                "direction",
                "neutral",
                "neutral = buys below, sells above; long = holds only inventory >= 0 (every sell "
                "takes profit on a buy); short = the mirror (inventory <= 0).",
            ),
            _Key(
                "initial_position",
                0,
                "Coin units to hold before the grid trades (< 0: short), bought or sold "
                "post-only at the first start; a long grid then sells them up its levels.",
            ),
        ),
    ),
    _Table(
        "risk",
        "Risk limits for every bot. Breaching one halts the bot: its orders are cancelled and no "
        "new ones go out until you resume it (the daily loss limit lifts itself on the next UTC "
        "day). Position limits are per coin below.",
        (
            _Key("max_open_orders", 40, "Most orders a bot may have resting at once."),
            _Key("max_orders_per_second", 5, "Sustained order rate ..."),
            _Key("order_burst", 40, "... and the burst allowed (a new grid places 2 x levels)."),
            _Key(
                "max_drawdown",
                200,
                "USD a bot may lose from its best equity (realized + unrealized PnL).",
            ),
            _Key("daily_loss_limit", 100, "USD a bot may lose in one UTC day."),
            _Key(
                "stop_loss_pnl",
                150,
                "Exit when a session has lost this many USD: cancel the grid, close the position "
                "with reduce-only orders, halt. Per coin, stop_loss_price and take_profit_price "
                "exit at a mark price (f in the cockpit flattens by hand).",
                True,
            ),
            _Key("max_slippage_pct", 0.5, "An exit's orders take no price worse than this."),
            _Key(
                "leverage",
                5,
                "Set on the exchange before a bot's first order (per coin below if you like); "
                "unset: the account's own setting.",
                True,
            ),
            _Key("margin", "cross", "cross or isolated, with leverage.", True),
            _Key(
                "min_liquidation_distance_pct",
                20,
                "Refuse an order that, once it and the resting orders on its side filled, would "
                "leave the liquidation price closer than this many percent to the price then.",
                True,
            ),
        ),
    ),
    *(
        table
        for coin, size, value, position, notional, levels in (
            ("BTC", "0.0005", "$32", "0.02", 1500, 10),
            ("ETH", "0.01", "$32", "0.3", 1200, 8),
        )
        for table in (
            _Table(
                f"coins.{coin}.grid",
                f"Settings for every bot trading {coin}: they win over [grid] and [risk] and "
                "lose to a bot's own [bots.grid] and [bots.risk].",
                (
                    _Key(
                        "size",
                        Decimal(size),
                        f"Order size in {coin}: about {value} per order (Hyperliquid's minimum "
                        "order value is $10).",
                    ),
                ),
            ),
            _Table(
                f"coins.{coin}.risk",
                f"Position limits of every bot trading {coin}.",
                (
                    _Key(
                        "max_position",
                        Decimal(position),
                        f"Largest position, long or short, in {coin}; {levels} levels x {size} = "
                        f"{(Decimal(size) * levels).normalize()} if every order on one side "
                        "fills.",
                    ),
                    _Key(
                        "max_notional",
                        notional,
                        "Largest position value in USD, counting the order being placed.",
                    ),
                ),
            ),
        )
    ),
    _Table(
        "bots",
        "One bot per coin. name: unique, lower-case (defaults to the coin); enabled = false "
        "keeps a bot configured but idle.",
        (_Key("name", "btc"), _Key("coin", "BTC"), _Key("enabled", True)),
        array=True,
    ),
    _Table(
        "bots.grid",
        "This bot's own settings win over everything above.",
        (_Key("levels", 10), _Key("spacing_pct", Decimal("0.12"))),
    ),
    _Table(
        "bots",
        "",
        (_Key("name", "eth"), _Key("coin", "ETH"), _Key("enabled", True)),
        array=True,
    ),
)


def render_starter() -> str:
    """The starter document: every table and key preceded by what it means."""
    lines = _comment(_INTRO)
    for table in _DOCUMENT:
        lines.append("")
        lines.extend(_comment(table.note))
        if table.header:
            lines.append(f"[[{table.header}]]" if table.array else f"[{table.header}]")
        for key in table.keys:
            lines.extend(_comment(key.note))
            if isinstance(key.value, list):  # on one line, so an example is one to uncomment
                items = ", ".join(tomli_w.dumps({"v": v})[4:].rstrip("\n") for v in key.value)
                line = f"{key.name} = [{items}]"
            else:
                line = tomli_w.dumps({key.name: key.value}).rstrip("\n")
            lines.append(f"# {line}" if key.example else line)
    return "\n".join(lines) + "\n"


class StarterError(Exception):
    """The starter cannot be written where asked; the text is one line: path, reason, fix."""


def write_starter(path: Path) -> None:
    """Writes the starter to ``path``; never overwrites, because it may hold a trader's work."""
    fix = "choose a path in a folder you can write"
    try:
        _write(path, fix)
    except OSError as exc:  # FileExistsError is already one line; anything else becomes one
        if isinstance(exc, FileExistsError):
            raise
        log.debug("starter config not written to %s", path, exc_info=True)
        raise StarterError(f"{path}: cannot write: {exc.strerror or exc} ({fix})") from exc


def _write(path: Path, fix: str) -> None:
    if path.is_dir():
        raise StarterError(
            f"{path}: is a folder (choose a file path such as {path / 'config.toml'})"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = folder_problem(path.parent) or f"cannot create {path.parent}: {exc.strerror}"
        raise StarterError(f"{path}: {reason} ({fix})") from exc
    try:
        with path.open("x", encoding="utf-8") as out:
            out.write(render_starter())
    except FileExistsError as exc:
        log.debug("starter config not written: %s exists", path)
        raise FileExistsError(
            f"{path} already exists; refusing to overwrite it (choose another path for the new "
            "config, or move the existing file away first)"
        ) from exc
    log.debug("starter config written to %s", path)


def _comment(text: str) -> list[str]:
    return [
        f"# {line}" if line else "#"
        for paragraph in text.splitlines()
        for line in (textwrap.wrap(paragraph, width=96) or [""])
    ]
