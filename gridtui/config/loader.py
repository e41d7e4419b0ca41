"""Reads config.toml into an ``AppConfig``, or fails with every problem named in one place.

Bad input must never produce a traceback (DESIGN §7): a missing or unreadable file, a TOML syntax
error and every schema problem all become a ``ConfigError`` whose text is one line per problem,
prefixed by the file name, each saying where and how to fix it. Only a document the validator has
accepted is converted, so the building code below can trust every value it reads.
"""

from __future__ import annotations

import logging
import re
import stat
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import attrs

from gridtui.config.fields import (
    ALERT_FIELDS,
    BOT_FIELDS,
    BREAKER_FIELDS,
    DEAD_MAN_FIELDS,
    ENGINE_FIELDS,
    GRID_FIELDS,
    MARKET_FIELDS,
    PAPER_FIELDS,
    RISK_FIELDS,
    TOP_FIELDS,
    VENUE_FIELDS,
    Field,
)
from gridtui.config.files import file_problems, resolve_path
from gridtui.config.per_coin import merge
from gridtui.config.schema import (
    AlertSettings,
    AppConfig,
    BotSettings,
    BreakerSettings,
    DeadManSettings,
    EngineSettings,
    GridSettings,
    PaperMarket,
    PaperPrices,
    PaperSettings,
    RiskLimits,
    VenueKind,
    VenueSettings,
)
from gridtui.config.validator import validate

log = logging.getLogger(__name__)

_T = TypeVar("_T")
MAX_CONFIG_BYTES = 1 << 20
"""1 MiB: the commented starter is about 10 KiB. Anything bigger is the wrong file (a log, a
database, a device), refused before it is read into memory."""

_TOML_POSITION = re.compile(r"(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)")
_TOML_AT_END = re.compile(r"(?P<msg>.*) \(at end of document\)")


class ConfigError(Exception):
    """The config cannot be used; ``problems`` lists every reason, ``source`` names the file."""

    def __init__(self, problems: list[str], source: str) -> None:
        super().__init__(problems, source)
        self.problems = list(problems)
        self.source = source

    def __str__(self) -> str:
        return "\n".join(f"{self.source}: {problem}" for problem in self.problems)


def load_config(path: Path, *, check_files: bool = False) -> AppConfig:
    """Reads, validates and builds the config at ``path``; relative paths inside it resolve
    against the file's own folder, so the bot behaves the same from any working directory.
    ``check_files`` also proves every file and folder it names usable (check-config and the
    start of a run); reading the journals (status, fills) must not need a writable disk."""
    text = _read(path)
    return load_config_text(
        text, base_dir=path.absolute().parent, source=str(path), check_files=check_files
    )


def load_config_text(
    text: str, *, base_dir: Path, source: str, check_files: bool = False
) -> AppConfig:
    """Parses and validates ``text`` as if it were the file ``source`` in folder ``base_dir``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        log.debug("TOML syntax error in %s", source, exc_info=True)
        raise ConfigError([_syntax_problem(exc, text)], source) from exc
    return load_config_data(raw, base_dir=base_dir, source=source, check_files=check_files)


def load_config_data(
    raw: dict[str, Any], *, base_dir: Path, source: str, check_files: bool = False
) -> AppConfig:
    """Validates and builds a parsed config (``tomllib``'s dict): the optimizer's trials, which
    change a parsed config rather than parse a new text each time."""
    problems = validate(raw, source=source)
    if check_files:
        problems += file_problems(raw, base_dir)
    if problems:
        raise ConfigError(problems, source)
    return _build(raw, base_dir, Path(source))


def _read(path: Path) -> str:
    """The file's text. Only a regular file of config size is opened at all: a device
    (/dev/zero), a pipe or a huge file would hang or fill memory before any check ran."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                ["not a regular file (expected the path of a .toml config file)"], str(path)
            )
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError([_too_large(info.st_size)], str(path))
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:  # it grew after the stat
            raise ConfigError([_too_large(len(data))], str(path))
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        log.debug("cannot read config %s", path, exc_info=True)
        raise ConfigError([_read_problem(exc)], str(path)) from exc


def _too_large(size: int) -> str:
    return (
        f"{size} bytes is too large for a config file (limit {MAX_CONFIG_BYTES}; expected the "
        "path of a .toml config file)"
    )


def summary(config: AppConfig) -> str:
    """One line for `gridtui check-config` and the log: venue and what each bot will trade."""
    where = str(config.source) if config.source is not None else "config"
    paper = config.venue.paper
    if config.venue.kind is VenueKind.PAPER and paper.prices is PaperPrices.HYPERLIQUID:
        venue = f"paper venue on Hyperliquid {paper.network} prices"
    elif config.venue.kind is VenueKind.PAPER:
        venue = "paper venue"
    elif config.venue.network == "mainnet":
        venue = "hyperliquid mainnet venue (real funds)"
    else:
        venue = f"hyperliquid {config.venue.network} venue"
    bots = ", ".join(
        f"{bot.name}: {bot.coin} {bot.grid.levels}×2 levels{'' if bot.enabled else ' (disabled)'}"
        for bot in config.bots
    )
    count = f"{len(config.bots)} bot{'' if len(config.bots) == 1 else 's'}"
    return f"{where}: OK — {venue}, {count} ({bots})"


def _read_problem(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (bad byte at offset {exc.start}; save the file as UTF-8)"
    if isinstance(exc, FileNotFoundError):
        return (
            "file not found (run `gridtui init` to write a starter config, or give the path of one)"
        )
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file (expected the path of a .toml config file)"
    if isinstance(exc, PermissionError):
        return "permission denied (make the file readable by this user, e.g. chmod u+r)"
    return f"cannot read the file: {exc.strerror or exc} (check the path and the disk)"


def _syntax_problem(exc: tomllib.TOMLDecodeError, text: str) -> str:
    """TOML's error as ``line L, column C: invalid TOML: …`` plus the usual fix."""
    message = str(exc)
    fix = 'strings need "quotes", tables [brackets], one key = value per line'
    if match := _TOML_POSITION.fullmatch(message):
        line, column, what = match["line"], match["col"], match["msg"]
    elif match := _TOML_AT_END.fullmatch(message):
        lines = text.split("\n")
        line, column, what = str(len(lines)), str(len(lines[-1]) + 1), match["msg"]
        fix = "something is left open at the end: close every string, [table] and array"
    else:
        return f"invalid TOML: {message} ({fix})"
    return f"line {line}, column {column}: invalid TOML: {what} ({fix})"


def _make(
    cls: type[_T], table: dict[str, Any], fields: dict[str, Field], base_dir: Path, **extra: Any
) -> _T:
    """``cls`` from a validated table: known keys converted, the rest left to their defaults;
    every relative Path (given or default) resolved against ``base_dir``."""
    values = {key: fields[key].convert(value) for key, value in table.items() if key in fields}
    built = cls(**values, **extra)
    paths = {
        field.name: resolve_path(base_dir, getattr(built, field.name))
        for field in attrs.fields(cls)
        if isinstance(getattr(built, field.name), Path)
    }
    return attrs.evolve(built, **paths) if paths else built


def _build(raw: dict[str, Any], base_dir: Path, source: Path) -> AppConfig:
    venue = raw.get("venue", {})
    paper = venue.get("paper", {})
    paper_settings = _make(PaperSettings, paper, PAPER_FIELDS, base_dir)
    markets = tuple(
        _market(market, paper_settings, base_dir) for market in paper.get("markets", [])
    )
    top = {key: TOP_FIELDS[key].convert(value) for key, value in raw.items() if key in TOP_FIELDS}
    return AppConfig(
        data_dir=resolve_path(base_dir, top.get("data_dir", Path("data"))),
        venue=_make(
            VenueSettings,
            venue,
            VENUE_FIELDS,
            base_dir,
            paper=attrs.evolve(paper_settings, markets=markets),
        ),
        engine=_make(EngineSettings, raw.get("engine", {}), ENGINE_FIELDS, base_dir),
        breaker=_make(BreakerSettings, raw.get("circuit_breaker", {}), BREAKER_FIELDS, base_dir),
        dead_man=_make(DeadManSettings, raw.get("dead_man_switch", {}), DEAD_MAN_FIELDS, base_dir),
        alerts=_make(AlertSettings, raw.get("alerts", {}), ALERT_FIELDS, base_dir),
        bots=tuple(_bot(bot, raw, base_dir) for bot in raw.get("bots", [])),
        log_level=top.get("log_level", "info"),
        theme=top.get("theme", "gridtui-dark"),
        source=source,
    )


def _market(market: dict[str, Any], paper: PaperSettings, base_dir: Path) -> PaperMarket:
    """One paper market; it replays its candles in [venue.paper]'s candle_path unless it names
    its own (the replay sees only its market, not the paper settings)."""
    built = _make(PaperMarket, market, MARKET_FIELDS, base_dir)
    return built if "candle_path" in market else attrs.evolve(built, candle_path=paper.candle_path)


def _bot(bot: dict[str, Any], raw: dict[str, Any], base_dir: Path) -> BotSettings:
    """One bot's settings: [grid]/[risk] defaults < [coins.COIN] < the bot's own tables."""
    coin = bot["coin"]
    per_coin = raw.get("coins", {}).get(coin, {})
    grid = merge(raw.get("grid", {}), per_coin.get("grid", {}), bot.get("grid", {}))
    risk = merge(raw.get("risk", {}), per_coin.get("risk", {}), bot.get("risk", {}))
    return BotSettings(
        name=BOT_FIELDS["name"].convert(bot.get("name", coin.lower())),
        coin=coin,
        grid=_make(GridSettings, grid, GRID_FIELDS, base_dir),
        risk=_make(RiskLimits, risk, RISK_FIELDS, base_dir),
        enabled=BOT_FIELDS["enabled"].convert(bot.get("enabled", True)),
    )
