"""A bot's settings as a trader is editing them: checked as check-config checks a file, and the
ladder they would build around the live mid, before anything is applied.

The cockpit's edit screen holds text fields; this module turns them into a config *text* (the
file with the changed keys written into the bot's own tables, comments kept: config.edit), loads
it with the same loader and validator as ``gridtui check-config``, files each problem under the
field it names, and asks the real grid calculator for the ladder the applied settings would
build. Nothing here imports Textual or touches a running bot.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path

import attrs

from gridtui.config.edit import (
    ConfigEditError,
    SettingPath,
    Value,
    bot_index,
    with_bot_settings,
)
from gridtui.config.loader import ConfigError, load_config_text
from gridtui.config.schema import AppConfig, BotSettings, Direction, VenueKind
from gridtui.config.semantics import HYPERLIQUID_BASE_MAKER_FEE
from gridtui.core.types import AssetMeta, Side
from gridtui.strategy.grid_calculator import GridError, calculate_grid

EDITABLE: tuple[tuple[SettingPath, str], ...] = (
    (("grid", "levels"), "Levels per side"),
    (("grid", "spacing"), "Spacing"),
    (("grid", "spacing_pct"), "Spacing %"),
    (("grid", "size"), "Size (coin)"),
    (("grid", "size_scaling_pct"), "Size scaling %"),
    (("grid", "mode"), "Mode"),
    (("grid", "lower"), "Lower price"),
    (("grid", "upper"), "Upper price"),
    (("grid", "recenter_threshold_pct"), "Recenter beyond %"),
    (("grid", "direction"), "Direction"),
    (("risk", "take_profit_price"), "Take-profit price"),
    (("risk", "stop_loss_price"), "Stop-loss price"),
    (("risk", "stop_loss_pnl"), "Stop-loss PnL (USD)"),
    (("risk", "max_position"), "Max position (coin)"),
    (("risk", "max_notional"), "Max notional (USD)"),
    (("risk", "max_drawdown"), "Max drawdown (USD)"),
    (("risk", "daily_loss_limit"), "Daily loss limit (USD)"),
)
"""The settings the edit screen offers, in its order, with their labels."""

CHOICES: dict[SettingPath, tuple[str, ...]] = {
    ("grid", "spacing"): ("arithmetic", "geometric"),
    ("grid", "mode"): ("rolling", "bounded"),
    ("grid", "direction"): ("neutral", "long", "short"),
}
"""Settings picked from a list rather than typed."""

_PROBLEM_AT = re.compile(r"^bots\[(?P<index>\d+)\]\.(?P<section>grid|risk)(\.(?P<key>\w+))?: ")


def shown(settings: BotSettings, path: SettingPath) -> str:
    """A setting's current value as the edit field shows it ('' for none)."""
    section, key = path
    value = getattr(settings.grid if section == "grid" else settings.risk, key)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(getattr(value, "value", value))


def typed_value(text: str) -> Value:
    """What a field's text is written into the config as: a number when it reads as one (an
    integer without a point), else the text itself, which the validator then names."""
    text = text.strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if not number.is_finite():
        return text
    if re.fullmatch(r"[+-]?\d+", text):
        return int(number)
    return float(number)


@attrs.frozen(slots=True)
class SettingsDraft:
    """The config with the trader's changes, and whether it can be applied."""

    text: str
    """The config file's text with the changes, as it would be written."""
    config: AppConfig | None
    """The loaded config (None while a problem stands)."""
    problems: Mapping[SettingPath, str]
    """The first problem of each field that has one."""
    general: tuple[str, ...]
    """Problems that name no field of this bot (another bot, the file, the layout)."""
    changed: tuple[SettingPath, ...]

    @property
    def ok(self) -> bool:
        return self.config is not None

    def settings(self, bot: str) -> BotSettings | None:
        if self.config is None:
            return None
        return next((b for b in self.config.bots if b.name == bot), None)


def draft_settings(
    text: str, source: Path, bot: str, current: BotSettings, typed: Mapping[SettingPath, str]
) -> SettingsDraft:
    """``text`` (the config file) with each field of ``typed`` that differs from ``current``
    written into bot ``bot``'s own tables (an emptied field removes the bot's own key), loaded
    as check-config loads the file."""
    values: dict[SettingPath, Value | None] = {}
    for path, raw in typed.items():
        if _same(raw, shown(current, path)):
            continue
        values[path] = typed_value(raw) if raw.strip() else None
    changed = tuple(values)
    try:
        new_text = with_bot_settings(text, bot, values) if values else text
    except ConfigEditError as exc:
        return SettingsDraft(text, None, {}, (str(exc),), changed)
    try:
        config = load_config_text(new_text, base_dir=source.absolute().parent, source=str(source))
    except ConfigError as exc:
        problems, general = _file_problems(exc.problems, new_text, bot)
        return SettingsDraft(new_text, None, problems, general, changed)
    settings = next((b for b in config.bots if b.name == bot), None)
    inherited = {
        path: f"cleared here, but {shown(settings, path)} still applies (from [{path[0]}], "
        f"[coins.{current.coin}.{path[0]}] or the default): type the value this bot should use"
        for path, value in values.items()
        if value is None and settings is not None and shown(settings, path) != ""
    }
    if inherited:
        return SettingsDraft(new_text, None, inherited, (), changed)
    return SettingsDraft(new_text, config, {}, (), changed)


def _same(typed: str, current: str) -> bool:
    """The field still says what is set ("10.0" for 10 too: writing it would change nothing
    but pin an inherited value into the bot's own table)."""
    typed = typed.strip()
    if typed == current:
        return True
    try:
        return Decimal(typed) == Decimal(current)
    except InvalidOperation:
        return False


def running_drift(text: str, source: Path, running: AppConfig) -> str | None:
    """Why the file's bots are not the ones running (a hand edit since the start, a write that
    failed): editing from it would apply those too, unasked. None when they agree. The venue is
    left out: the command line may override it."""
    try:
        on_disk = load_config_text(text, base_dir=source.absolute().parent, source=str(source))
    except ConfigError as exc:
        return f"{source} does not pass check-config ({exc.problems[0]})"
    on_disk = attrs.evolve(on_disk, venue=running.venue)
    if on_disk == running:
        return None
    if attrs.evolve(on_disk, bots=running.bots) != running:
        return f"{source} changed since the start outside [[bots]]: restart gridtui to take it"
    disk = {b.name: b for b in on_disk.bots}
    run = {b.name: b for b in running.bots}
    names = sorted(name for name in disk.keys() | run.keys() if disk.get(name) != run.get(name))
    return (
        f"{source} says otherwise than the running bots ({', '.join(names)}): restart gridtui "
        "to take the file, or put it back, before editing here"
    )


def draft_bot_change(text: str, source: Path, edit: Callable[[str], str]) -> SettingsDraft:
    """``text`` changed by ``edit`` (add, enable, disable or remove a bot: config.edit), loaded
    as check-config loads the file; its problems are all general."""
    try:
        new_text = edit(text)
        config = load_config_text(new_text, base_dir=source.absolute().parent, source=str(source))
    except ConfigEditError as exc:
        return SettingsDraft(text, None, {}, (str(exc),), ())
    except ConfigError as exc:
        return SettingsDraft(new_text, None, {}, tuple(exc.problems), ())
    return SettingsDraft(new_text, config, {}, (), ())


def _file_problems(
    problems: list[str], text: str, bot: str
) -> tuple[dict[SettingPath, str], tuple[str, ...]]:
    """Each problem under the field of ``bot`` it names; the rest as they are."""
    index = _bot_position(text, bot)
    fields: dict[SettingPath, str] = {}
    general: list[str] = []
    for problem in problems:
        match = _PROBLEM_AT.match(problem)
        if match is None or int(match["index"]) != index:
            general.append(problem)
            continue
        key = match["key"]
        path: SettingPath = ("grid" if match["section"] == "grid" else "risk", key or "")
        if key is None or path not in dict(EDITABLE):
            general.append(problem)
            continue
        fields.setdefault(path, problem[match.end() :])
    return fields, tuple(general)


def _bot_position(text: str, bot: str) -> int | None:
    try:
        return bot_index(tomllib.loads(text), bot)
    except (tomllib.TOMLDecodeError, ConfigEditError):
        return None


@attrs.frozen(slots=True)
class PreviewLevel:
    price: Decimal
    side: Side | None
    """None for the gap: where the mid is, no order."""
    size: Decimal


@attrs.frozen(slots=True)
class LadderPreview:
    """The ladder settings build around ``mid``, highest price first, and what one round trip
    next to the mid earns after the maker fee on both legs."""

    mid: Decimal
    levels: tuple[PreviewLevel, ...]
    round_trip_usd: Decimal
    round_trip_pct: Decimal
    """Of the buy's value: the spacing less both fees."""
    fee_pct: Decimal
    """Both legs' maker fees, in percent."""


def maker_fee(config: AppConfig) -> Decimal:
    """The maker fee the bots pay: the paper venue's, or Hyperliquid's base tier."""
    if config.venue.kind is VenueKind.PAPER:
        return config.venue.paper.maker_fee
    return HYPERLIQUID_BASE_MAKER_FEE


def preview_ladder(
    settings: BotSettings,
    meta: AssetMeta,
    mid: Decimal,
    position: Decimal,
    fee: Decimal,
    now_ms: int,
) -> LadderPreview | str:
    """The grid a bot with ``settings`` builds at its start around ``mid`` (a fresh strategy:
    no volatility or trend yet), or why none can be built."""
    try:
        snapshot = calculate_grid(
            coin=settings.coin, mid=mid, settings=settings.grid, meta=meta, now_ms=now_ms
        )
    except GridError as exc:
        return str(exc)
    gap = snapshot.nearest_index(mid)
    direction = settings.grid.direction
    held = position if direction is not Direction.NEUTRAL else Decimal(0)
    wanted = snapshot.initial_levels(gap, direction=direction, inventory=held)
    placed = {lvl.index: lvl for lvl in wanted}
    levels = [
        PreviewLevel(
            snapshot.price_of(i),
            placed[i].side if i in placed else None,
            placed[i].size if i in placed else Decimal(0),
        )
        for i in snapshot.indexes
        if i in placed or i == gap
    ]
    n = snapshot.levels_per_side
    buy = min(max(gap - 1, -n), n - 1)  # the buy next to the mid, and its sell one level up
    low, high = snapshot.price_of(buy), snapshot.price_of(buy + 1)
    size = snapshot.size_of(buy)
    profit = size * (high - low) - fee * size * (low + high)
    return LadderPreview(
        mid=mid,
        levels=tuple(reversed(levels)),
        round_trip_usd=profit,
        round_trip_pct=profit / (size * low) * 100,
        fee_pct=fee * 2 * 100,
    )
