"""The search space of ``gridtui optimize``: which settings a ``--param`` may search, over what.

The allowed names and their hard limits come from the config's own rules (``GRID_FIELDS``,
``RISK_FIELDS``), so a searched value is always one the config would accept, and the limits
quoted in an error are the ones the validator enforces. Bounds and steps are kept as Decimals
(exactly as typed) and every stepped value is rebuilt from them, so a suggested 0.35 is 0.35 and
not 0.35000000000000003 when it is written back to a TOML file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation

import attrs
import optuna

from gridtui.config.edit import Edit, SettingPath, Value
from gridtui.config.fields import (
    GRID_FIELDS,
    RISK_FIELDS,
    BoolField,
    ChoiceField,
    Field,
    IntField,
    NumberField,
)
from gridtui.config.schema import GridMode
from gridtui.optimize import OptimizeError

_EXCLUDED = frozenset(
    {"lower", "upper", "max_orders_per_second", "order_burst", "max_open_orders"}
    | {"stop_loss_price", "take_profit_price", "stop_loss_pnl", "max_slippage_pct"}
    | {"leverage", "margin", "min_liquidation_distance_pct", "initial_position"}
)
"""Not searchable. ``lower``/``upper`` are prices of a bounded grid: absolute levels of the
replayed history, which a search would fit to that window (and they only work as a pair, with
``mode = "bounded"``). The rate-limit plumbing protects the exchange connection, not the
strategy: a replay would only learn to loosen it, since more orders fill more, and the live
exchange would refuse the result. The exits are the trader's own limits (prices of the window,
again, and a loss the trader accepts), not a grid's shape; leverage, margin and the liquidation
distance are the account's, and the inventory a bot starts from is the trader's choice."""

_FIELDS: dict[str, tuple[SettingPath, Field]] = {
    **{name: (("grid", name), field) for name, field in GRID_FIELDS.items()},
    **{name: (("risk", name), field) for name, field in RISK_FIELDS.items()},
}
"""Every grid and risk key with its rule. A param is named by its bare key, so grid and risk keys
must not collide (a test checks they do not)."""

ALLOWED: dict[str, SettingPath] = {
    name: path for name, (path, _) in _FIELDS.items() if name not in _EXCLUDED
}
"""Every name ``--param`` accepts, with where the setting lives in a bot's config. ``mode`` is
searchable, but the config wants ``lower``/``upper`` with "bounded" and forbids them with
"rolling": ``check_space`` asks for the bot's range in its own table, ``config_values`` drops
it from a rolling trial."""

_MODE = ("grid", "mode")
_RANGE = (("grid", "lower"), ("grid", "upper"))

_ALLOWED_TEXT = ", ".join(ALLOWED)


@attrs.frozen(slots=True)
class Param:
    """One searched setting: a numeric range, or a set of choices (enum words, true/false).

    Bounds and step are Decimals as the user typed them, so checks against the config's limits
    are exact and stepped values can be rebuilt exactly. ``step`` None means any value in the
    range (for an integer setting: every integer).
    """

    name: str
    path: SettingPath
    low: Decimal | None = None
    high: Decimal | None = None
    step: Decimal | None = None
    integer: bool = False
    """The setting is an integer (``levels``): searched with ``suggest_int``, values are ints."""
    choices: tuple[Value, ...] = ()
    """Non-empty for a categorical setting, which then has no range."""

    def __attrs_post_init__(self) -> None:
        if bool(self.choices) == (self.low is not None and self.high is not None):
            raise ValueError(f"param {self.name}: give either low and high, or choices")


def parse_params(specs: Sequence[str]) -> tuple[Param, ...]:
    """The params of ``--param`` specs (``NAME=LOW:HIGH[:STEP]`` or ``NAME=A,B[,C]``), in order.

    No specs give ``DEFAULT_PARAMS``; any spec replaces the defaults entirely. Raises
    ``OptimizeError`` with a one-line message starting ``--param <spec>: `` on bad input.
    """
    if not specs:
        return DEFAULT_PARAMS
    params: list[Param] = []
    for spec in specs:
        param = _parse_one(spec)
        if any(seen.name == param.name for seen in params):
            raise _error(spec, f"{param.name} is given twice (one --param per name)")
        params.append(param)
    return tuple(params)


def suggest(trial: optuna.trial.Trial, params: Sequence[Param]) -> dict[SettingPath, Value]:
    """One trial's values, as plain int/float/str/bool the way a TOML file holds them."""
    values: dict[SettingPath, Value] = {}
    for param in params:
        values[param.path] = _suggest_one(trial, param)
    return values


def config_values(values: Mapping[SettingPath, Value]) -> dict[SettingPath, Edit]:
    """A trial's values as they go into the bot's config: a rolling grid carries no range,
    so a rolling ``mode`` also removes the bot's ``lower``/``upper``."""
    edits: dict[SettingPath, Edit] = dict(values)
    if values.get(_MODE) == GridMode.ROLLING.value:
        edits.update(dict.fromkeys(_RANGE))
    return edits


def check_space(params: Sequence[Param], bot: str, own_grid: Mapping[str, object]) -> None:
    """Every trial of ``params`` can be a valid config for bot ``bot``, whose own
    ``[bots.grid]`` table is ``own_grid``: searching ``mode`` needs the bounded grid's range
    there (a rolling trial drops it; a range inherited from [grid] or [coins] could not be)."""
    for param in params:
        if param.path == _MODE and not all(key in own_grid for _, key in _RANGE):
            raise OptimizeError(
                f"--param {param.name}: a bounded trial needs bot {bot}'s range: give it "
                f'mode = "bounded" with lower and upper in its own [bots.grid] table (the '
                f"rolling trials drop them)"
            )


def describe(params: Iterable[Param]) -> str:
    """One short line per param: ``levels 3..20``, ``spacing_pct 0.05..2 step 0.01``,
    ``spacing arithmetic|geometric``."""
    return "\n".join(_describe_one(param) for param in params)


def describe_allowed() -> str:
    """One line per allowed name with what the config accepts, for help text."""
    lines = []
    for name in ALLOWED:
        field = _FIELDS[name][1]
        rule = "|".join(_choices(field)) if _is_categorical(field) else field.rule
        lines.append(f"{name}: {rule}")
    return "\n".join(lines)


def _suggest_one(trial: optuna.trial.Trial, param: Param) -> Value:
    if param.choices:
        return trial.suggest_categorical(param.name, param.choices)
    assert param.low is not None and param.high is not None
    if param.integer:
        step = int(param.step) if param.step is not None else 1
        return int(trial.suggest_int(param.name, int(param.low), int(param.high), step=step))
    if param.step is None:
        return float(trial.suggest_float(param.name, float(param.low), float(param.high)))
    raw = trial.suggest_float(
        param.name, float(param.low), float(param.high), step=float(param.step)
    )
    # Rebuild the value on the exact Decimal grid: low + k * step, so its repr is short.
    k = ((Decimal(repr(raw)) - param.low) / param.step).to_integral_value()
    exact = min(max(param.low + k * param.step, param.low), param.high)
    return float(exact)


def _describe_one(param: Param) -> str:
    if param.choices:
        return f"{param.name} " + "|".join(_word(choice) for choice in param.choices)
    assert param.low is not None and param.high is not None
    text = f"{param.name} {_number(param.low)}..{_number(param.high)}"
    return text if param.step is None else f"{text} step {_number(param.step)}"


def _parse_one(spec: str) -> Param:
    name, sep, rest = spec.partition("=")
    name = name.strip()
    if not sep:
        raise _error(spec, f"expected NAME=LOW:HIGH[:STEP] or NAME=A,B (allowed: {_ALLOWED_TEXT})")
    if name not in ALLOWED:
        raise _error(spec, f"unknown name {name!r} (allowed: {_ALLOWED_TEXT})")
    path, field = _FIELDS[name]
    if _is_categorical(field):
        return _parse_choices(spec, name, path, field, rest)
    return _parse_range(spec, name, path, field, rest)


def _parse_choices(spec: str, name: str, path: SettingPath, field: Field, rest: str) -> Param:
    valid = _choices(field)
    example = f"{name}={','.join(valid)}"
    words = [word.strip() for word in rest.split(",")]
    if len(words) < 2:
        raise _error(
            spec,
            f"{name} takes at least two choices separated by commas, such as {example} "
            "(to fix a setting, set it in the config)",
        )
    for word in words:
        if word not in valid:
            raise _error(spec, f"unknown {name} choice {word!r} (expected {', '.join(valid)})")
    if len(set(words)) < len(words):
        raise _error(spec, f"a {name} choice is given twice (expected each once, like {example})")
    choices: tuple[Value, ...] = (
        tuple(word == "true" for word in words) if isinstance(field, BoolField) else tuple(words)
    )
    return Param(name=name, path=path, choices=choices)


def _parse_range(spec: str, name: str, path: SettingPath, field: Field, rest: str) -> Param:
    integer = isinstance(field, IntField)
    parts = [part.strip() for part in rest.split(":")]
    numbers = [_decimal(part) for part in parts]
    if len(parts) not in (2, 3) or any(number is None for number in numbers):
        example = f"{name}=3:20" if integer else f"{name}=0.1:1:0.05"
        raise _error(spec, f"expected {name}=LOW:HIGH[:STEP] with numbers, such as {example}")
    for label, part, number in zip(("LOW", "HIGH", "STEP"), parts, numbers, strict=False):
        if number is not None and Decimal(repr(float(number))) != number:
            # The value goes to Optuna and to TOML as a float: it must survive the trip.
            raise _error(spec, f"{label} {part} has more digits or range than a float holds")
    low, high = numbers[0], numbers[1]
    step = numbers[2] if len(numbers) == 3 else None
    assert low is not None and high is not None
    if low >= high:
        raise _error(spec, f"LOW {_number(low)} must be below HIGH {_number(high)}")
    if step is not None and step <= 0:
        raise _error(spec, f"STEP {_number(step)} must be above 0")
    if step is not None and step > high - low:
        raise _error(spec, f"STEP {_number(step)} is larger than the range {_number(high - low)}")
    if integer:
        for label, number in (("LOW", low), ("HIGH", high), ("STEP", step)):
            if number is not None and number != number.to_integral_value():
                raise _error(spec, f"{name} is an integer setting: {label} must be an integer")
    for label, number in (("LOW", low), ("HIGH", high)):
        value: int | str = int(number) if integer else str(number)
        if field.problem(value) is not None:
            note = f" ({field.note})" if isinstance(field, NumberField) and field.note else ""
            raise _error(
                spec,
                f"{label} {_number(number)} is outside what the config accepts: "
                f"{name} must be {field.rule}{note}",
            )
    if step is not None and not _whole_steps(high - low, step):
        last = low + ((high - low) // step) * step
        raise _error(
            spec,
            f"HIGH - LOW ({_number(high - low)}) must be a whole number of STEPs "
            f"(expected e.g. {name}={_number(low)}:{_number(last)}:{_number(step)})",
        )
    return Param(name=name, path=path, low=low, high=high, step=step, integer=integer)


def _whole_steps(span: Decimal, step: Decimal) -> bool:
    """Whether ``span`` is a whole number of STEPs (Optuna would cut HIGH down, with a warning)."""
    count = span / step
    return count == count.to_integral_value()


def _is_categorical(field: Field) -> bool:
    return isinstance(field, ChoiceField | BoolField)


def _choices(field: Field) -> tuple[str, ...]:
    return field.choices if isinstance(field, ChoiceField) else ("true", "false")


def _decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _number(number: Decimal) -> str:
    """A Decimal as a person writes it: 2, 0.05 (not 2.00 or 5E-2)."""
    text = format(number.normalize(), "f")
    return "0" if text == "-0" else text


def _word(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error(spec: str, message: str) -> OptimizeError:
    shown = spec if spec.isprintable() else repr(spec)
    return OptimizeError(f"--param {shown}: {message}")


DEFAULT_PARAMS: tuple[Param, ...] = parse_params(("levels=3:20", "spacing_pct=0.05:2:0.01"))
"""Searched when no ``--param`` is given: the two settings that shape a grid the most."""
