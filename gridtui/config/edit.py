"""Puts a bot's settings into a config's text: the optimizer's trials and ``--write-config``,
and the cockpit's edit screen (change a bot's settings, add, enable, disable or remove a bot).

The settings go into the bot's own ``[bots.grid]`` / ``[bots.risk]`` table: those win over the
``[grid]`` defaults and ``[coins.COIN]``, so the other bots and the coin defaults stay as they are.
The result is config *text*, loaded by ``load_config_text`` like any file, so a trial's settings
are validated exactly as ``gridtui check-config`` would validate them.

tomlkit edits the document rather than re-serialising it: every comment, blank line, key order and
quoting outside the changed lines stays byte for byte, because the file is the trader's. A blank
line and a comment at the end of a table open, to a reader, what follows (TOML parsers file them
under the table above): keys and tables added at the end of a bot go above them. After each edit
the text is parsed again and compared with the intended settings, so a layout tomlkit handles
oddly (dotted keys, inline tables, scattered ``[[bots]]``) can never put a value somewhere else
unnoticed.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping, MutableMapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import tomlkit
from tomlkit.container import Container
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Comment, Item, Null, Table, Whitespace

from gridtui.config.fields import GRID_FIELDS, RISK_FIELDS
from gridtui.core.files import write_atomically

Value = int | float | str | bool
"""A setting's value as TOML holds it (enum settings as their words)."""

SettingPath = tuple[Literal["grid", "risk"], str]
"""Where a setting lives in a bot's config: ``("grid", "spacing_pct")``."""

Edit = Value | None
"""A setting as written into a bot's config: a value, or None to remove the key."""


class ConfigEditError(Exception):
    """The change cannot be written into this config: one line naming the place and the fix."""


_FIELDS = {"grid": GRID_FIELDS, "risk": RISK_FIELDS}
_TRIVIA = (Whitespace, Comment, Null)


def with_bot_settings(text: str, bot: str, values: Mapping[SettingPath, Edit]) -> str:
    """``text`` with ``values`` set in bot ``bot``'s own ``[bots.grid]`` / ``[bots.risk]``:
    a key already there is changed in place, a missing one added at the end of its table, a
    missing table created after the bot's entry; a None value removes its key from the bot's
    table. Nothing else in the text changes."""
    for section, key in values:
        _check_setting(section, key)
    doc = _parse(text)
    entries = _bot_entries(doc)
    index = _find_bot(entries, bot)
    entry = entries[index]
    newline = _newline(text)
    by_section: dict[str, dict[str, Item]] = {}
    for (section, key), value in values.items():
        if value is None:
            table = entry.get(section)
            if isinstance(table, MutableMapping) and key in table:
                del table[key]
            continue
        item = _item(section, key, value)
        item.trivia.trail = newline
        by_section.setdefault(section, {})[key] = item
    for section, items in by_section.items():
        table = entry.get(section)
        if table is None:
            last = index == len(entries) - 1
            _add_table(doc, entry, section, items, is_last=last, newline=newline)
        elif isinstance(table, MutableMapping):  # a table, inline table or dotted keys
            for key, item in items.items():
                _set_key(table, key, item)
        else:
            raise ConfigEditError(
                f"bots[{index}].{section}: must be a table ([bots.{section}]); "
                "run gridtui check-config on the config"
            )
    out = doc.as_string()
    _check_edit(text, out, index, values)
    return out


def with_bot_added(text: str, name: str, coin: str) -> str:
    """``text`` with a new ``[[bots]]`` entry for ``coin`` named ``name`` after the last bot
    (and above the comments that open whatever follows it), after a blank line; it takes every
    setting from ``[grid]``, ``[risk]`` and ``[coins.COIN]`` until it is given its own."""
    doc = _parse(text)
    newline = _newline(text)
    bots = doc.get("bots")
    if bots is None or isinstance(bots, AoT):
        entry = tomlkit.table()
        for key, value in (("name", name), ("coin", coin)):
            item = tomlkit.string(value)
            item.trivia.trail = newline
            entry.append(key, item)
        entry.trivia.indent = entry.trivia.trail = newline
        if bots is None:
            doc.append("bots", tomlkit.aot())
            bots = doc["bots"]
        tail: list[Item] = []
        if bots.body:
            closing = _closing_container(bots.body[-1])
            tail = _take_trailing_trivia(closing, from_blank_line=True)
            last = _last_value(closing)
            if last is not None and newline not in last.trivia.trail:
                last.trivia.trail += newline  # the file ended without a newline
        bots.append(entry)
        for trivia in tail:
            entry.add(trivia)
    elif isinstance(bots, list):
        inline = tomlkit.inline_table()
        inline.update({"name": name, "coin": coin})
        bots.append(inline)
    else:
        raise ConfigEditError("bots: must be a list of [[bots]] tables; run gridtui check-config")
    out = doc.as_string()
    _check_change(
        text,
        out,
        lambda raw: raw.setdefault("bots", []).append({"name": name, "coin": coin}),
        f"could not add bot {name} safely: write the bots as [[bots]] tables",
    )
    return out


def with_bot_enabled(text: str, bot: str, enabled: bool) -> str:
    """``text`` with bot ``bot``'s ``enabled`` set, in place when the key is there."""
    doc = _parse(text)
    entries = _bot_entries(doc)
    index = _find_bot(entries, bot)
    entry = entries[index]
    last = _last_key(entry)
    if "enabled" in entry or last is None:
        entry["enabled"] = enabled  # in place (its comment kept), or tomlkit's own layout
    else:  # right after the entry's own keys, above the comment opening its first table
        item = tomlkit.boolean("true" if enabled else "false")
        item.trivia.trail = _newline(text)
        entry.value._insert_after(last, "enabled", item)
    out = doc.as_string()

    def change(raw: dict[str, Any]) -> None:
        raw["bots"][index]["enabled"] = enabled

    verb = "enable" if enabled else "disable"
    _check_change(
        text, out, change, f"could not {verb} bot {bot} safely: write it as a [[bots]] table"
    )
    return out


def without_bot(text: str, bot: str) -> str:
    """``text`` without bot ``bot``'s ``[[bots]]`` entry and its own tables. The comments above
    the entry go with it; the ones that open what follows it (the next bot, the next section)
    stay, above that."""
    doc = _parse(text)
    entries = _bot_entries(doc)
    index = _find_bot(entries, bot)
    bots = doc["bots"]
    if isinstance(bots, AoT):
        # TOML parsers file a comment under the table above it: the removed entry's last lines
        # describe what follows it, the previous entry's last lines describe the removed one.
        tail = _take_trailing_trivia(_closing_container(entries[index]), from_blank_line=True)
        above = _closing_container(entries[index - 1]) if index else _container_before(doc, bots)
        if index:
            _take_trailing_trivia(above, from_blank_line=True)
        for trivia in tail if above is not None else ():
            above.add(trivia)
    del bots[index]
    out = doc.as_string()
    _check_change(
        text,
        out,
        lambda raw: raw["bots"].pop(index),
        f"could not remove bot {bot} safely: write the bots as [[bots]] tables",
    )
    return out


def _container_before(doc: tomlkit.TOMLDocument, item: Item) -> Container | None:
    """The container holding the last lines above ``item`` in the document: the innermost last
    table of what precedes it (None: no table precedes it)."""
    before = None
    for _key, value in doc.body:
        if value is item:
            break
        if not isinstance(value, _TRIVIA):
            before = value
    container = None
    while True:
        if isinstance(before, AoT) and before.body:
            before = before.body[-1]
        if not isinstance(before, Table):
            return container
        container = before.value
        before = _last_entry(container.body)


def _last_key(entry: Any) -> str | None:
    """The last plain key of a ``[[bots]]`` table (None: an inline table, or no key)."""
    if not isinstance(entry, Table):
        return None
    keys = [
        key.key
        for key, value in entry.value.body
        if key is not None and not isinstance(value, (*_TRIVIA, Table, AoT))
    ]
    return keys[-1] if keys else None


def _parse(text: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigEditError(
            f"the config is not valid TOML ({exc}); run gridtui check-config on it"
        ) from None


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"  # a Windows file stays a Windows file


def _check_change(
    before: str, after: str, change: Callable[[dict[str, Any]], object], failure: str
) -> None:
    """The edited text means the original with exactly ``change`` made to it; else
    ``ConfigEditError(failure)``."""
    try:
        expected = tomllib.loads(before)
        got = tomllib.loads(after)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigEditError(
            f"the config is not valid TOML ({exc}); run gridtui check-config on it"
        ) from None
    change(expected)
    if got != expected:
        raise ConfigEditError(failure)


def set_bot_values(entry: dict[str, Any], values: Mapping[SettingPath, Edit]) -> None:
    """``values`` set in (None: removed from) a parsed ``[[bots]]`` entry: what the text
    ``with_bot_settings`` writes parses to (``_check_edit`` holds every edit to it)."""
    for (section, key), value in values.items():
        if value is None:
            entry.get(section, {}).pop(key, None)
        else:
            entry.setdefault(section, {})[key] = value


def bot_index(raw: dict[str, Any], bot: str) -> int:
    """Where bot ``bot`` is among a parsed config's ``[[bots]]``."""
    return _find_bot(_bot_entries(raw), bot)


def write_config(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` whole or not at all."""
    try:
        write_atomically(path, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigEditError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _check_setting(section: str, key: str) -> None:
    fields = _FIELDS.get(section)
    if fields is None:
        raise ConfigEditError(
            f"{section}.{key}: unknown section '{section}' (expected grid or risk)"
        )
    if key not in fields:
        raise ConfigEditError(
            f"{section}.{key}: not a {section} setting (expected one of: {', '.join(fields)})"
        )


def _bot_entries(doc: Mapping[str, Any]) -> list[Any]:
    """The ``[[bots]]`` entries in file order (tables, or inline tables of ``bots = [...]``)."""
    bots = doc.get("bots")
    if isinstance(bots, AoT):
        return list(bots.body)
    if isinstance(bots, list):
        return [entry for entry in bots if isinstance(entry, dict)]
    return []


def _bot_name(entry: Any) -> str | None:
    """A bot's name as the loader reads it: its ``name``, else its coin in lower case."""
    name = entry.get("name")
    if isinstance(name, str):
        return str(name)
    coin = entry.get("coin")
    return str(coin).lower() if isinstance(coin, str) else None


def _find_bot(entries: list[Any], bot: str) -> int:
    names = [_bot_name(entry) for entry in entries]
    found = [index for index, name in enumerate(names) if name == bot]
    if not found:
        known = ", ".join(name for name in names if name is not None) or "none"
        raise ConfigEditError(f"bot {bot}: no such bot in the config (its bots: {known})")
    if len(found) > 1:
        raise ConfigEditError(
            f"bot {bot}: {len(found)} [[bots]] entries are named '{bot}' (expected unique "
            "names; run gridtui check-config on the config)"
        )
    return found[0]


def _item(section: str, key: str, value: Value) -> Item:
    """``value`` as TOML writes it: ints as ints, floats in their short decimal form (0.00001,
    not 1e-05), strings quoted, bools as true/false."""
    if isinstance(value, bool):
        return tomlkit.boolean("true" if value else "false")
    if isinstance(value, int):
        return tomlkit.integer(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigEditError(f"{section}.{key}: {value} is not a finite number")
        return tomlkit.value(_short_float(float(value)))
    if isinstance(value, str):
        return tomlkit.string(value)
    raise TypeError(f"{section}.{key}: cannot write a {type(value).__name__} into the config")


def _short_float(value: float) -> str:
    """The shortest text that reads back as exactly ``value``, without an exponent in the
    range settings live in (TOML reads both, people read the plain one)."""
    text = repr(value)
    if ("e" in text or "E" in text) and 1e-9 <= abs(value) < 1e15:
        text = format(Decimal(text), "f")
    if not any(mark in text for mark in ".eEn"):
        text += ".0"  # a float stays a float: "2" would read back as an int
    return text


def _set_key(table: Any, key: str, item: Item) -> None:
    """``table[key] = item``; a new key of a ``[header]`` table goes right after its last key,
    above any comment or blank line below that (a commented-out setting, the next header's
    comment), wherever the file has them."""
    if key in table or not (isinstance(table, Table) and _is_header(table)):
        table[key] = item  # in place (its comment kept), or tomlkit's own layout
        return
    tail = _take_trailing_trivia(table.value, from_blank_line=False)
    last = _last_value(table.value)
    if last is not None and " " not in table.trivia.indent:
        item.trivia.indent = last.trivia.indent  # (an indented header indents its keys itself)
    table.append(key, item)
    for trivia in tail:
        table.add(trivia)


def _add_table(
    doc: tomlkit.TOMLDocument,
    entry: Any,
    section: str,
    items: Mapping[str, Item],
    *,
    is_last: bool,
    newline: str,
) -> None:
    """A new ``[bots.SECTION]`` table at the end of the bot's entry, after a blank line; the
    comments and blank lines that closed the entry (the next header's) stay below it."""
    if not isinstance(entry, Table):  # bots = [{ ... }]: an inline table in an inline table
        inline = tomlkit.inline_table()
        for key, item in items.items():
            inline[key] = item
        entry[section] = inline
        return
    closing = _closing_container(entry)
    tail = _take_trailing_trivia(closing, from_blank_line=True)
    last = _last_value(closing)
    if last is not None and "\n" not in last.trivia.trail:
        last.trivia.trail += newline  # the file ended without a newline
    table = tomlkit.table()
    table.trivia.indent = newline
    table.trivia.trail = newline
    for key, item in items.items():
        table.append(key, item)
    follows = bool(tail) or not is_last or _last_entry(doc.body) is not doc.get("bots")
    if follows and not (tail and isinstance(tail[0], Whitespace)):
        table.add(tomlkit.ws(newline))
    for trivia in tail:
        table.add(trivia)
    entry.append(section, table)


def _is_header(table: Table) -> bool:
    """A table written as its own ``[header]`` (not implied by dotted keys)."""
    return not table.is_super_table()


def _closing_container(entry: Table) -> Container:
    """The container holding the last lines of the bot's entry: its last ``[bots.x]`` table's
    if it has one, else its own."""
    container = entry.value
    while True:
        last = _last_entry(container.body)
        if not (isinstance(last, Table) and _is_header(last) and _is_table_key(container, last)):
            return container
        container = last.value


def _is_table_key(container: Container, table: Table) -> bool:
    return any(
        value is table and key is not None and not key.is_dotted() for key, value in container.body
    )


def _last_entry(body: list[tuple[Any, Item]]) -> Item | None:
    for _key, value in reversed(body):
        if not isinstance(value, _TRIVIA):
            return value
    return None


def _last_value(container: Container) -> Item | None:
    last = _last_entry(container.body)
    return None if last is None or isinstance(last, Table | AoT) else last


def _take_trailing_trivia(container: Container, *, from_blank_line: bool) -> list[Item]:
    """Removes and returns the comments and blank lines after the container's last entry
    (TOML parsers file them under the table above; to a reader they open what follows).
    ``from_blank_line``: only from the first blank line on, so comments right below the last
    key (a commented-out setting) stay with their table; with no blank line at all, they sit
    on the next header and are all taken."""
    body = container.body
    cut = len(body)
    while cut and body[cut - 1][0] is None and isinstance(body[cut - 1][1], _TRIVIA):
        cut -= 1
    if from_blank_line:
        cut = next((at for at in range(cut, len(body)) if isinstance(body[at][1], Whitespace)), cut)
    tail = [item for _key, item in body[cut:] if not isinstance(item, Null)]
    del body[cut:]
    return tail


def _check_edit(before: str, after: str, index: int, values: Mapping[SettingPath, Edit]) -> None:
    """The edited text means the original plus exactly ``values`` for the bot at ``index``."""
    name = _bot_name(tomllib.loads(before)["bots"][index])
    _check_change(
        before,
        after,
        lambda raw: set_bot_values(raw["bots"][index], values),
        f"could not set {_names(values)} in bot {name}'s own tables safely; write its settings "
        "as [bots.grid] / [bots.risk] tables right after its [[bots]] entry",
    )


def _names(values: Mapping[SettingPath, Edit]) -> str:
    return ", ".join(f"{section}.{key}" for section, key in values)
