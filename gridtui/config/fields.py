"""The rule of every config key: what it accepts and how the loader reads it.

The validator reports with these rules and the loader converts with them, so "what is valid" and
"how it is read" cannot drift apart. Decimal fields go through ``Decimal(str(value))`` — never
float arithmetic — so "0.1" in the file is exactly Decimal("0.1") in the engine.
"""

from __future__ import annotations

import enum
import operator
import os
import re
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import attrs

from gridtui.config.schema import (
    CandlePath,
    Direction,
    EngineSettings,
    GridMode,
    Margin,
    PaperPrices,
    Spacing,
    VenueKind,
)
from gridtui.core.events import Severity

_HEX64 = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_SECRET_WORDS = frozenset(
    {"secret", "secrets", "private", "privkey", "privatekey", "apikey", "secretkey"}
    | {"mnemonic", "password", "passwd", "passphrase", "seedphrase"}
)
_KEY_WORDS = frozenset({"key", "keys"})
_KEY_OWNERS = frozenset(
    {"private", "priv", "api", "wallet", "agent", "secret", "signing", "signer"}
)
"""A "key" is a secret only when its owner says so: private_key, api_key, wallet_key are; a
typo such as bogus_key or a made-up some_key is an unknown key, reported as such."""
SECRET_FIX = (
    "secrets are not allowed in the config file (expected the API wallet key in an environment "
    "variable or in a 0600 file named by venue.key_file)"
)
MAX_PRICE = Decimal(10**9)
"""Highest price a market or a grid bound may have. A simulated path moves within a factor 1000
of its start, and the rounding rules quantize with 28 significant digits: far above this a price
no longer fits them (1e30 made the paper venue die on its first tick)."""
MAX_MAKER_REBATE = Decimal("-0.00003")
"""Hyperliquid's largest maker rebate (-0.003%): a more negative maker fee is a typo."""
MAX_FEE = Decimal("0.01")
"""1%: fees are fractions (0.00015 = 0.015%); a fee this high is a percent written as a
fraction, and would eat every grid's spacing."""
MAX_SPEED = 100_000
"""About a simulated day per real second (`gridtui bench soak --speed` allows the same): beyond
that a tick spans days and the path is noise."""
COIN_PATTERN = re.compile(r"[A-Z0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


class Field(Protocol):
    """One key's rule: what it accepts (``problem``) and how the loader reads it (``convert``)."""

    @property
    def rule(self) -> str: ...

    def problem(self, value: Any) -> str | None: ...

    def convert(self, value: Any) -> Any: ...


def show(value: Any) -> str:
    """How a value is quoted in a message: as it would be written in TOML, secrets redacted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "<redacted>" if looks_secret(value) else repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


def looks_secret(value: Any) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value.strip()) is not None


def is_secret_name(key: str) -> bool:
    """private_key, apiKey, secret, wallet_key, ... — named like a secret (key_file is a path)."""
    if key == "key_file":
        return False
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower())
    words = [word for word in words if word]
    if any(word in _SECRET_WORDS for word in words) or words in (["key"], ["keys"]):
        return True
    pairs = list(pairwise(words))
    return ("seed", "phrase") in pairs or any(
        owner in _KEY_OWNERS and word in _KEY_WORDS for owner, word in pairs
    )


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an http(s) URL with a host (and a valid port), or None."""
    expected = "an http:// or https:// URL with a host, such as http://127.0.0.1:3001"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return f"must be {expected}, got {show(value)}"
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        return f"must be {expected}, got {show(value)}"
    if any(char.isspace() for char in value):
        return f"must be {expected} (no spaces), got {show(value)}"
    return None


def to_decimal(value: Any) -> Decimal | None:
    """A TOML number or numeric string as an exact Decimal (via ``str``, never float arithmetic)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


@attrs.frozen(slots=True)
class IntField:
    low: int | None = None
    high: int | None = None

    @property
    def rule(self) -> str:
        if self.low is not None and self.high is not None:
            return f"an integer from {self.low} to {self.high}"
        if self.low is not None:
            return f"an integer >= {self.low}"
        return "an integer"

    def problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be {self.rule}, got {show(value)}"
        if self.low is not None and value < self.low:
            return f"must be an integer >= {self.low}, got {value}"
        if self.high is not None and value > self.high:
            return f"must be an integer <= {self.high}, got {value}"
        return None

    def convert(self, value: Any) -> int:
        return int(value)


@attrs.frozen(slots=True)
class NumberField:
    """A Decimal (money, sizes, percents) or, with ``as_float``, a float (durations, volatility)."""

    gt: Decimal | None = None
    ge: Decimal | None = None
    lt: Decimal | None = None
    le: Decimal | None = None
    as_float: bool = False
    note: str = ""
    """Why the bounds are what they are, appended to an out-of-range message."""

    def _bounds(self) -> list[tuple[str, Decimal]]:
        pairs = ((">", self.gt), (">=", self.ge), ("<", self.lt), ("<=", self.le))
        return [(op, bound) for op, bound in pairs if bound is not None]

    @property
    def rule(self) -> str:
        parts = [f"{op} {bound}" for op, bound in self._bounds()]
        return " ".join(["a number", " and ".join(parts)]).strip()

    def problem(self, value: Any) -> str | None:
        number = to_decimal(value)
        if number is None:
            return f"must be {self.rule}, got {show(value)}"
        for op, bound in self._bounds():
            if not _COMPARE[op](number, bound):
                why = f" ({self.note})" if self.note else ""
                return f"must be a number {op} {bound}, got {show(value)}{why}"
        return None

    def convert(self, value: Any) -> Decimal | float:
        number = to_decimal(value)
        if number is None:
            raise ValueError(f"not a number: {value!r}")
        return float(number) if self.as_float else number


@attrs.frozen(slots=True)
class BoolField:
    rule: str = "true or false"

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else f"must be true or false, got {show(value)}"

    def convert(self, value: Any) -> bool:
        return bool(value)


@attrs.frozen(slots=True)
class ChoiceField:
    """One of a fixed set of strings; ``kind`` (an Enum) makes the loader return its member."""

    choices: tuple[str, ...]
    noun: str
    kind: type[enum.Enum] | None = None

    @property
    def rule(self) -> str:
        return " or ".join(self.choices) if len(self.choices) < 3 else _one_of(self.choices)

    def problem(self, value: Any) -> str | None:
        if value in self.choices:
            return None
        if not isinstance(value, str):
            return f"must be {self.rule} in quotes, got {show(value)}"
        return f"unknown {self.noun} {show(value)} (expected {self.rule})"

    def convert(self, value: Any) -> Any:
        return self.kind(value) if self.kind is not None else value


@attrs.frozen(slots=True)
class UrlField:
    """An http(s) URL with a host: a bare word would otherwise reach the HTTP client."""

    rule: str = "an http:// or https:// URL with a host"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be {self.rule} in quotes, got {show(value)}"
        return url_problem(value)

    def convert(self, value: Any) -> str:
        return str(value)


@attrs.frozen(slots=True)
class TextField:
    """A string matching ``pattern`` (whole string)."""

    pattern: re.Pattern[str]
    rule: str

    def problem(self, value: Any) -> str | None:
        if isinstance(value, str) and self.pattern.fullmatch(value):
            return None
        return f"must be {self.rule}, got {show(value)}"

    def convert(self, value: Any) -> Any:
        return value


@attrs.frozen(slots=True)
class PathField:
    """A file or folder path; the loader returns it as a Path with ``~`` expanded.

    Refused here rather than at the first file operation: control characters (a NUL cannot
    reach the OS at all) and ``~user`` for a user this machine does not have.
    """

    rule: str = "a file path in quotes"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value or value[0].isspace():
            return f"must be {self.rule}, got {show(value)}"
        if _CONTROL.search(value):
            return f"must be {self.rule} without control characters, got {show(value)}"
        try:
            Path(value).expanduser()
        except RuntimeError:
            user = value.split("/", 1)[0]
            return (
                f"cannot expand {user!r}: no such user (expected a full path, or ~/... for "
                "your own home folder)"
            )
        return None

    def convert(self, value: Any) -> Path:
        return Path(value).expanduser()


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_environment(text: str) -> tuple[str, list[str]]:
    """``text`` with each ``${NAME}`` replaced by that environment variable, and the names
    that are not set (left as written)."""
    missing: list[str] = []

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            missing.append(name)
            return match.group(0)
        return os.environ[name]

    return _ENV_REFERENCE.sub(value, text), missing


def environment_references(text: str) -> set[str]:
    """The names ``text`` refers to as ``${NAME}``."""
    return set(_ENV_REFERENCE.findall(text))


def service_of(url: str) -> str:
    """How a message names an alert URL: its scheme only (the rest may be a token)."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://…" if sep and scheme.isalnum() else "a URL"


@attrs.frozen(slots=True)
class AlertUrlsField:
    """Apprise URLs (``tgram://…``, ``discord://…``, ``ntfy://…``, ``json://…``); a token may
    come from the environment as ``${NAME}``. Checked by Apprise itself, and named in messages
    by position and service only: the rest of a URL is often a secret."""

    rule: str = 'an array of Apprise URLs such as ["ntfy://ntfy.sh/my-topic"]'

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, list) or not all(isinstance(url, str) for url in value):
            kind = "a string" if isinstance(value, str) else show(value)
            return f"must be {self.rule}, got {kind}"
        for index, url in enumerate(value):
            expanded, missing = expand_environment(url)
            if missing:
                return f"[{index}] uses ${{{missing[0]}}}, which is not set in the environment"
            if not _apprise_accepts(expanded):
                return (
                    f"[{index}] ({service_of(expanded)}) is not a URL Apprise can send to "
                    "(see https://github.com/caronc/apprise/wiki for each service's form)"
                )
        return None

    def convert(self, value: Any) -> tuple[str, ...]:
        return tuple(expand_environment(url)[0] for url in value)


def _apprise_accepts(url: str) -> bool:
    import apprise  # ~0.2 s to import: only configs with alert URLs pay it

    return apprise.Apprise.instantiate(url) is not None


def _one_of(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + " or " + choices[-1]


_POSITIVE = NumberField(gt=Decimal(0))
_NON_NEGATIVE = NumberField(ge=Decimal(0))
_SECONDS = NumberField(gt=Decimal(0), as_float=True)
_PATH = PathField()
_COIN = TextField(COIN_PATTERN, "an upper-case coin symbol such as 'BTC'")
_PRICE = NumberField(
    gt=Decimal(0), le=MAX_PRICE, note="prices beyond that do not fit the venue's rounding rules"
)
_FEE_NOTE = "fees are fractions: 0.00015 = 0.015%"
_CANDLE_PATH = ChoiceField(tuple(p.value for p in CandlePath), "candle path", CandlePath)

ALERT_FIELDS: dict[str, Field] = {
    "urls": AlertUrlsField(),
    "min_severity": ChoiceField(tuple(s.value for s in Severity), "severity", Severity),
    "digest_minutes": NumberField(ge=Decimal(0), as_float=True),
    "max_attempts": IntField(low=1, high=100),
}
TOP_FIELDS: dict[str, Field] = {
    "data_dir": _PATH,
    "log_level": ChoiceField(("debug", "info", "warning", "error"), "log level"),
    "theme": TextField(re.compile(r"\S+"), "a theme name in quotes"),
}
ENGINE_FIELDS: dict[str, Field] = {name: _SECONDS for name in attrs.fields_dict(EngineSettings)}
BREAKER_FIELDS: dict[str, Field] = {
    "error_threshold": IntField(1),
    "cooldown_s": _SECONDS,
    "max_cooldown_s": _SECONDS,
}
DEAD_MAN_FIELDS: dict[str, Field] = {
    "enabled": BoolField(),
    "timeout_s": NumberField(ge=Decimal(5), as_float=True),
}
VENUE_FIELDS: dict[str, Field] = {
    "kind": ChoiceField(tuple(k.value for k in VenueKind), "venue", VenueKind),
    "network": ChoiceField(("testnet", "mainnet"), "network"),
    "api_url": UrlField(),
    "account_address": TextField(
        re.compile(r"0x[0-9a-fA-F]{40}"), "your public account address: 0x and 40 hex digits"
    ),
    "key_file": _PATH,
}
PAPER_FIELDS: dict[str, Field] = {
    "seed": IntField(0),
    "state_file": _PATH,
    "starting_balance": _POSITIVE,
    "maker_fee": NumberField(
        ge=MAX_MAKER_REBATE,
        lt=MAX_FEE,
        note=f"{_FEE_NOTE}; Hyperliquid's largest maker rebate is -0.003%",
    ),
    "taker_fee": NumberField(ge=Decimal(0), lt=MAX_FEE, note=_FEE_NOTE),
    "tick_interval_s": _SECONDS,
    "speed": NumberField(
        gt=Decimal(0),
        le=Decimal(MAX_SPEED),
        as_float=True,
        note="simulated seconds per real second; 86400 = one day per second",
    ),
    "candle_path": _CANDLE_PATH,
    "prices": ChoiceField(tuple(p.value for p in PaperPrices), "price source", PaperPrices),
    "funding_rate": NumberField(
        ge=Decimal("-0.04"), le=Decimal("0.04"), note="per hour; Hyperliquid caps it at 4%"
    ),
    "network": ChoiceField(("testnet", "mainnet"), "network"),
    "api_url": UrlField(),
}
MARKET_FIELDS: dict[str, Field] = {
    "coin": _COIN,
    "start_price": _PRICE,
    "sz_decimals": IntField(0, 6),
    "volatility": NumberField(ge=Decimal(0), as_float=True),
    "candles_file": _PATH,
    "candle_path": _CANDLE_PATH,
}
GRID_FIELDS: dict[str, Field] = {
    "levels": IntField(2, 200),
    "spacing": ChoiceField(tuple(s.value for s in Spacing), "spacing", Spacing),
    "spacing_pct": NumberField(gt=Decimal(0), lt=Decimal(50)),
    "volatility_scaled": BoolField(),
    "volatility_multiplier": _POSITIVE,
    "size": _POSITIVE,
    "size_scaling_pct": _NON_NEGATIVE,
    "mode": ChoiceField(tuple(m.value for m in GridMode), "grid mode", GridMode),
    "lower": _PRICE,
    "upper": _PRICE,
    "recenter_threshold_pct": _NON_NEGATIVE,
    "trend_bias": NumberField(ge=Decimal(0), le=Decimal(1)),
    "direction": ChoiceField(tuple(d.value for d in Direction), "direction", Direction),
    "initial_position": NumberField(note="coin units: > 0 bought, < 0 sold at the first start"),
}
RISK_FIELDS: dict[str, Field] = {
    "max_position": _POSITIVE,
    "max_notional": _POSITIVE,
    "max_open_orders": IntField(1),
    "max_orders_per_second": _POSITIVE,
    "order_burst": IntField(1),
    "max_drawdown": _POSITIVE,
    "daily_loss_limit": _POSITIVE,
    "stop_loss_price": _PRICE,
    "take_profit_price": _PRICE,
    "stop_loss_pnl": _POSITIVE,
    "leverage": IntField(1, 100),
    "margin": ChoiceField(tuple(m.value for m in Margin), "margin mode", Margin),
    "max_slippage_pct": NumberField(
        gt=Decimal(0), le=Decimal(10), note="an exit that accepts worse is a market order"
    ),
    "min_liquidation_distance_pct": NumberField(
        gt=Decimal(0), lt=Decimal(100), note="percent of the price between it and liquidation"
    ),
}
BOT_FIELDS: dict[str, Field] = {
    "name": TextField(re.compile(r"[a-z0-9_-]+"), "lower-case letters, digits, _ or -"),
    "coin": _COIN,
    "enabled": BoolField(),
}
