"""Checks a raw TOML document against the configuration schema and reports every problem at once.

A trader fixing a config should see the whole list in one run, not one error per attempt, and a
typo must never pass silently (an unknown key is an error, not an ignored line). Every message has
the shape ``path: problem (expected …)`` and names the offending value, so it can be found in the
file. Secrets are the one thing never echoed: a key that looks like a private key is reported by
its path only.
"""

from __future__ import annotations

import difflib
import logging
import re
from decimal import Decimal
from typing import Any, TypeVar

from gridtui.config.fields import (
    ALERT_FIELDS,
    BOT_FIELDS,
    BREAKER_FIELDS,
    COIN_PATTERN,
    DEAD_MAN_FIELDS,
    ENGINE_FIELDS,
    GRID_FIELDS,
    MARKET_FIELDS,
    PAPER_FIELDS,
    RISK_FIELDS,
    SECRET_FIX,
    TOP_FIELDS,
    VENUE_FIELDS,
    Field,
    is_secret_name,
    looks_secret,
    show,
)
from gridtui.config.per_coin import merge
from gridtui.config.schema import (
    BreakerSettings,
    DeadManSettings,
    EngineSettings,
    GridMode,
    GridSettings,
    PaperPrices,
    PaperSettings,
    RiskLimits,
    VenueKind,
)
from gridtui.config.semantics import FeeReference, Market, Place, bot_problems, market_problems

log = logging.getLogger(__name__)

_S = TypeVar("_S", GridSettings, RiskLimits)
_MARKET_REQUIRED = ("coin", "start_price", "sz_decimals")
_TOP_TABLES = (
    "engine",
    "circuit_breaker",
    "dead_man_switch",
    "alerts",
    "venue",
    "grid",
    "risk",
    "coins",
)


def validate(raw: dict[str, Any], *, source: str) -> list[str]:
    """Every problem in ``raw`` (a parsed TOML document), section by section; empty = valid."""
    problems: list[str] = []
    _find_secrets(raw, "", problems)
    _check_keys(raw, "", TOP_FIELDS, problems, (*_TOP_TABLES, "bots"))
    for key, fields in (
        ("engine", ENGINE_FIELDS),
        ("circuit_breaker", BREAKER_FIELDS),
        ("dead_man_switch", DEAD_MAN_FIELDS),
        ("alerts", ALERT_FIELDS),
        ("grid", GRID_FIELDS),
        ("risk", RISK_FIELDS),
    ):
        _check_keys(_table(raw, key, key, problems), key, fields, problems)
    _check_ordering(raw, problems)
    markets, fee = _check_venue(_table(raw, "venue", "venue", problems), problems)
    coins = _check_coins(_table(raw, "coins", "coins", problems), problems)
    _check_bots(raw, coins, markets, fee, problems)
    log.debug("%s: %d config problem(s)", source, len(problems))
    return problems


def _join(path: str, key: str) -> str:
    shown = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'
    return f"{path}.{shown}" if path else shown


def _find_secrets(node: Any, path: str, problems: list[str]) -> None:
    """Walks the whole document (unknown tables too): a secret anywhere is refused."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = _join(path, key)
            if is_secret_name(key):
                problems.append(f"{here}: {SECRET_FIX}")
            else:
                _find_secrets(value, here, problems)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _find_secrets(item, f"{path}[{index}]", problems)
    elif looks_secret(node):
        problems.append(f"{path}: looks like a private key; {SECRET_FIX}")


def _table(parent: dict[str, Any], key: str, path: str, problems: list[str]) -> dict[str, Any]:
    """``parent[key]`` as a table; a missing one is empty, a non-table is reported and empty."""
    value = parent.get(key, {})
    if isinstance(value, dict):
        return value
    header = re.sub(r"\[\d+\]", "", path)
    problems.append(f"{path}: must be a table ([{header}]), got {show(value)}")
    return {}


def _tables(
    parent: dict[str, Any], key: str, path: str, problems: list[str]
) -> list[tuple[str, dict[str, Any]]]:
    """``parent[key]`` as an array of tables (``[[path]]``), each with its own path; entries that
    are not tables are reported and dropped."""
    value = parent.get(key, [])
    if not isinstance(value, list):
        problems.append(f"{path}: must be an array of tables ([[{path}]]), got {show(value)}")
        return []
    good = []
    for index, item in enumerate(value):
        if isinstance(item, dict):
            good.append((f"{path}[{index}]", item))
        else:
            problems.append(f"{path}[{index}]: must be a table ([[{path}]]), got {show(item)}")
    return good


def _check_keys(
    table: dict[str, Any],
    path: str,
    fields: dict[str, Field],
    problems: list[str],
    subtables: tuple[str, ...] = (),
    required: tuple[str, ...] = (),
) -> None:
    allowed = (*fields, *subtables)
    for key, value in table.items():
        here = _join(path, key)
        if is_secret_name(key) or looks_secret(value):
            continue  # reported once by _find_secrets, without the value
        if key in fields:
            problem = fields[key].problem(value)
            if problem is not None:
                problems.append(f"{here}: {problem}")
        elif key not in subtables:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            problems.append(f"{here}: unknown key (expected one of: {', '.join(allowed)}{hint})")
    for key in required:
        if key not in table:
            problems.append(
                f"{_join(path, key)}: required key missing (expected {fields[key].rule})"
            )


def _valid(table: dict[str, Any], key: str, fields: dict[str, Field], default: Any) -> Any:
    """The converted value of ``key`` (or ``default``), or None when it is invalid."""
    if key not in table:
        return default
    value = table[key]
    return None if fields[key].problem(value) is not None else fields[key].convert(value)


def _check_ordering(raw: dict[str, Any], problems: list[str]) -> None:
    """Pairs of settings that are each valid but contradict each other."""
    pairs = (
        ("engine", ENGINE_FIELDS, EngineSettings(), "restart_backoff_s", "restart_backoff_max_s"),
        ("circuit_breaker", BREAKER_FIELDS, BreakerSettings(), "cooldown_s", "max_cooldown_s"),
    )
    for section, fields, defaults, low_key, high_key in pairs:
        table = raw.get(section)
        table = table if isinstance(table, dict) else {}
        low = _valid(table, low_key, fields, getattr(defaults, low_key))
        high = _valid(table, high_key, fields, getattr(defaults, high_key))
        if low is not None and high is not None and high < low:
            problems.append(
                f"{section}.{high_key}: must be >= {section}.{low_key} ({low}), got {high}"
            )
    engine, dead_man = raw.get("engine"), raw.get("dead_man_switch")
    engine = engine if isinstance(engine, dict) else {}
    dead_man = dead_man if isinstance(dead_man, dict) else {}
    cycle = _valid(engine, "cycle_interval_s", ENGINE_FIELDS, EngineSettings().cycle_interval_s)
    timeout = _valid(dead_man, "timeout_s", DEAD_MAN_FIELDS, DeadManSettings().timeout_s)
    if cycle is not None and timeout is not None and timeout <= cycle:
        problems.append(
            f"dead_man_switch.timeout_s: must be > engine.cycle_interval_s ({cycle}), got "
            f"{timeout} (expected several cycles, or the exchange cancels between refreshes)"
        )


def _check_venue(
    venue: dict[str, Any], problems: list[str]
) -> tuple[dict[str, Market | None] | None, FeeReference]:
    """Checks [venue]. Returns the paper markets by coin (None for one whose prices are not
    usable), or None when the venue is not paper; and the maker fee a round trip pays."""
    _check_keys(venue, "venue", VENUE_FIELDS, problems, ("paper",))
    kind = _valid(venue, "kind", VENUE_FIELDS, VenueKind.PAPER)
    if kind is VenueKind.HYPERLIQUID and "account_address" not in venue:
        problems.append(
            "venue.account_address: required for the hyperliquid venue (expected your public "
            "account address: 0x and 40 hex digits)"
        )
    paper = _table(venue, "paper", "venue.paper", problems)
    _check_keys(paper, "venue.paper", PAPER_FIELDS, problems, ("markets",))
    seen: dict[str, str] = {}
    markets: dict[str, Market | None] = {}
    for here, market in _tables(paper, "markets", "venue.paper.markets", problems):
        _check_keys(market, here, MARKET_FIELDS, problems, required=_MARKET_REQUIRED)
        coin = _valid(market, "coin", MARKET_FIELDS, None)
        if coin in seen:
            problems.append(
                f"{here}.coin: duplicate market '{coin}' (expected one entry per coin; "
                f"also {seen[coin]})"
            )
        elif coin is not None:
            seen[coin] = here
            markets[coin] = _market(here, coin, market, problems)
    if kind is VenueKind.HYPERLIQUID:
        return None, FeeReference.hyperliquid()
    if kind is None:  # an unknown venue, already reported: no market or fee rule applies
        return None, FeeReference.paper(Decimal(0))
    maker_fee = _valid(paper, "maker_fee", PAPER_FIELDS, PaperSettings().maker_fee)
    fee = FeeReference.paper(maker_fee) if maker_fee is not None else None
    # A bad maker_fee is already reported; no round-trip rule can be checked against it.
    fee = fee or FeeReference.paper(Decimal(0))
    if _valid(paper, "prices", PAPER_FIELDS, PaperPrices.GENERATED) is not PaperPrices.GENERATED:
        # The venue lists the markets (every coin, at real prices), or the source is unknown
        # (already reported): no market rule applies.
        return None, fee
    return markets, fee


def _market(here: str, coin: str, market: dict[str, Any], problems: list[str]) -> Market | None:
    """The market's prices, when they are valid and usable for the rules that need a price."""
    start_price = _valid(market, "start_price", MARKET_FIELDS, None)
    sz_decimals = _valid(market, "sz_decimals", MARKET_FIELDS, None)
    if start_price is None or sz_decimals is None:
        return None
    found = market_problems(here, Market(coin, start_price, sz_decimals))
    problems.extend(found)
    return None if found else Market(coin, start_price, sz_decimals)


def _check_coins(coins: dict[str, Any], problems: list[str]) -> dict[str, dict[str, Any]]:
    """Checks [coins.X.grid] / [coins.X.risk]; returns the well-formed coin tables."""
    good: dict[str, dict[str, Any]] = {}
    for coin, entry in coins.items():
        here = _join("coins", coin)
        if is_secret_name(coin):
            continue
        if not COIN_PATTERN.fullmatch(coin):
            problems.append(
                f"{here}: coin symbols are upper-case, got '{coin}' (expected '{coin.upper()}')"
            )
            continue
        if not isinstance(entry, dict):
            problems.append(
                f"{here}: must be a table ([{here}.grid] or [{here}.risk]), got {show(entry)}"
            )
            continue
        _check_keys(entry, here, {}, problems, ("grid", "risk"))
        _check_keys(
            _table(entry, "grid", f"{here}.grid", problems), f"{here}.grid", GRID_FIELDS, problems
        )
        _check_keys(
            _table(entry, "risk", f"{here}.risk", problems), f"{here}.risk", RISK_FIELDS, problems
        )
        good[coin] = entry
    return good


def _check_bots(
    raw: dict[str, Any],
    coins: dict[str, dict[str, Any]],
    markets: dict[str, Market | None] | None,
    fee: FeeReference,
    problems: list[str],
) -> None:
    if raw.get("bots") in (None, []):
        problems.append("bots: no bots configured (expected at least one [[bots]] entry)")
        return
    names: dict[str, str] = {}
    enabled_coins: dict[str, str] = {}
    traded: set[str] = set()
    defaults = raw.get("grid") if isinstance(raw.get("grid"), dict) else {}
    risk_defaults = raw.get("risk") if isinstance(raw.get("risk"), dict) else {}
    for here, bot in _tables(raw, "bots", "bots", problems):
        _check_keys(bot, here, BOT_FIELDS, problems, ("grid", "risk"), required=("coin",))
        grid = _table(bot, "grid", f"{here}.grid", problems)
        _check_keys(grid, f"{here}.grid", GRID_FIELDS, problems)
        risk = _table(bot, "risk", f"{here}.risk", problems)
        _check_keys(risk, f"{here}.risk", RISK_FIELDS, problems)
        coin = _valid(bot, "coin", BOT_FIELDS, None)
        if coin is None:
            continue
        traded.add(coin)
        name = _valid(bot, "name", BOT_FIELDS, coin.lower())
        if name in names:
            problems.append(
                f"{here}.name: duplicate bot name '{name}' (expected unique names; "
                f"also {names[name]})"
            )
        elif name is not None:
            names[name] = here
        if _valid(bot, "enabled", BOT_FIELDS, True):
            if coin in enabled_coins:
                problems.append(
                    f"{here}.coin: '{coin}' is already traded by enabled bot "
                    f"'{enabled_coins[coin]}' (expected one enabled bot per coin)"
                )
            else:
                enabled_coins[coin] = name or coin.lower()
        if markets is not None and coin not in markets:
            problems.append(
                f"{here}.coin: the paper venue has no market for '{coin}' (expected a "
                f'[[venue.paper.markets]] entry with coin = "{coin}")'
            )
        coin_grid = coins.get(coin, {}).get("grid", {})
        merged = merge(defaults, coin_grid if isinstance(coin_grid, dict) else {}, grid)
        if _check_grid_mode(merged, f"{here}.grid", problems):
            layers = {
                "grid": (("grid", defaults), (f"coins.{coin}.grid", coin_grid), ("", grid)),
                "risk": (
                    ("risk", risk_defaults),
                    (f"coins.{coin}.risk", coins.get(coin, {}).get("risk", {})),
                    ("", risk),
                ),
            }
            _check_economics(here, coin, layers, markets, fee, problems)
    for coin in coins:
        if traded and coin not in traded:
            problems.append(
                f"coins.{coin}: no [[bots]] entry trades '{coin}' (expected one of: "
                f"{', '.join(sorted(traded))})"
            )


def _check_grid_mode(grid: dict[str, Any], path: str, problems: list[str]) -> bool:
    """Bounded needs lower < upper; rolling must not carry a range. Checked after the merge,
    because the range may come from [grid] or [coins.X.grid] and the mode from the bot.
    Returns whether the mode and range agree (the rules that build levels need that)."""
    before = len(problems)
    mode = _valid(grid, "mode", GRID_FIELDS, GridMode.ROLLING)
    lower = _valid(grid, "lower", GRID_FIELDS, None)
    upper = _valid(grid, "upper", GRID_FIELDS, None)
    if mode is GridMode.BOUNDED:
        if "lower" not in grid or "upper" not in grid:
            problems.append(
                f"{path}: bounded mode needs lower and upper (expected lower < upper prices)"
            )
        elif lower is not None and upper is not None and lower >= upper:
            problems.append(
                f"{path}: bounded mode needs lower < upper, got lower={lower}, upper={upper}"
            )
    elif mode is GridMode.ROLLING and ("lower" in grid or "upper" in grid):
        given = ", ".join(f"{k}={show(grid[k])}" for k in ("lower", "upper") if k in grid)
        problems.append(
            f"{path}: rolling mode forbids lower/upper, got {given} "
            '(expected mode = "bounded" for a fixed range, or remove them)'
        )
    return len(problems) == before


def _check_economics(
    here: str,
    coin: str,
    layers: dict[str, tuple[tuple[str, Any], ...]],
    markets: dict[str, Market | None] | None,
    fee: FeeReference,
    problems: list[str],
) -> None:
    """The rules on how one bot's merged values combine (semantics.py), when every value they
    read is valid and, on the paper venue, its market's prices are usable."""
    merged = {
        section: merge(*(table if isinstance(table, dict) else {} for _, table in stack))
        for section, stack in layers.items()
    }
    grid = _settings(GridSettings, merged["grid"], GRID_FIELDS)
    risk = _settings(RiskLimits, merged["risk"], RISK_FIELDS)
    market = markets.get(coin) if markets is not None else None
    if grid is None or risk is None or (markets is not None and market is None):
        return
    problems.extend(bot_problems(here, grid, risk, market, fee, _placer(here, layers)))


def _placer(here: str, layers: dict[str, tuple[tuple[str, Any], ...]]) -> Place:
    """Where each merged value of bot ``here`` came from: its own table, [coins.X] or the
    defaults (then "for bots[i]", since other bots share that line)."""

    def place(section: str, key: str) -> str:
        for path, table in reversed(layers[section]):
            if isinstance(table, dict) and key in table:
                return f"{here}.{section}.{key}" if not path else f"{path}.{key} for {here}"
        return f"{here}.{section}.{key} (default)"

    return place


def _settings(cls: type[_S], table: dict[str, Any], fields: dict[str, Field]) -> _S | None:
    """``cls`` from a merged table, or None when any of its values is invalid (already
    reported: a rule about how values combine would only repeat the same mistake)."""
    values = {}
    for key, value in table.items():
        if key not in fields:
            continue
        if fields[key].problem(value) is not None:
            return None
        values[key] = fields[key].convert(value)
    return cls(**values)
