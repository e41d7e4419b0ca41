"""User-editable colour themes: TOML files mapped onto Textual's ``Theme``.

Themes live in files so a trader can restyle the cockpit without touching code. A broken file
must never stop the cockpit opening, so ``load_themes`` reports it as one line and goes on.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

log = logging.getLogger(__name__)

BUNDLED_THEMES_DIR = Path(__file__).resolve().parents[2] / "themes"

COLOUR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "warning",
    "error",
    "success",
)
ALLOWED_KEYS = frozenset({"name", "dark", "variables", *COLOUR_KEYS})


class ThemeError(Exception):
    """One line naming the theme file and what is wrong with it."""


def load_theme(path: Path) -> Theme:
    """Read and validate one theme file; every problem is a ``ThemeError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeError(f"{path}: cannot read: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{path}: TOML syntax error: {exc}") from exc
    return _theme(path, data)


def load_themes(dirs: Sequence[Path]) -> tuple[list[Theme], list[str]]:
    """Every good theme in every ``*.toml`` of ``dirs`` (sorted by name) and one error line per
    broken file. A theme in a later folder replaces one of the same name from an earlier folder,
    so a user's folder can override a bundled theme."""
    themes: dict[str, Theme] = {}
    errors: list[str] = []
    for folder in dirs:
        seen_here: dict[str, Path] = {}
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = load_theme(path)
            except ThemeError as exc:
                log.warning("theme skipped: %s", exc)
                errors.append(str(exc))
                continue
            if theme.name in seen_here:
                message = (
                    f"{path}: theme name {theme.name!r} is already used by "
                    f"{seen_here[theme.name].name}; rename one of them"
                )
                log.warning("theme skipped: %s", message)
                errors.append(message)
                continue
            seen_here[theme.name] = path
            themes[theme.name] = theme
    return sorted(themes.values(), key=lambda t: t.name), errors


def _theme(path: Path, data: dict[str, Any]) -> Theme:
    unknown = sorted(set(data) - ALLOWED_KEYS)
    if unknown:
        raise ThemeError(
            f"{path}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(ALLOWED_KEYS))})"
        )
    for required in ("name", "primary"):
        if required not in data:
            raise ThemeError(f"{path}: missing required key {required!r}")
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise ThemeError(f"{path}: 'name' must be a non-empty string, got {name!r}")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeError(f"{path}: 'dark' must be true or false, got {dark!r}")
    colours = {key: _colour(path, key, data[key]) for key in COLOUR_KEYS if key in data}
    return Theme(name=name, dark=dark, variables=_variables(path, data), **colours)


def _colour(path: Path, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ThemeError(f"{path}: {key!r} must be a colour string, got {value!r}")
    try:
        Color.parse(value)
    except ColorParseError as exc:
        raise ThemeError(
            f"{path}: bad colour for {key!r}: {value!r} (use #rrggbb, rgb(r,g,b) or a name)"
        ) from exc
    return value


def _variables(path: Path, data: dict[str, Any]) -> dict[str, str]:
    """Textual CSS variables (e.g. footer-key-foreground); values are CSS text, not only colours."""
    table = data.get("variables", {})
    if not isinstance(table, dict):
        raise ThemeError(f'{path}: [variables] must be a table of name = "value"')
    for key, value in table.items():
        if not isinstance(value, str):
            raise ThemeError(f"{path}: variable {key!r} must be a string, got {value!r}")
    return dict(table)
