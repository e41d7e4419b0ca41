"""``gridtui optimize``: Optuna searches a bot's grid and risk settings over historical candles,
walk-forward, scoring each trial with a compiled mirror of the backtest replay where it models
the settings (``fast_replay``, held to the replay by a differential test) and with the replay
itself (the live engine) elsewhere; the best trials are always re-run by the replay."""

from __future__ import annotations

from typing import Literal

Value = int | float | str | bool
"""A setting's value as TOML holds it (enum settings as their words)."""

SettingPath = tuple[Literal["grid", "risk"], str]
"""Where a setting lives in a bot's config: ``("grid", "spacing_pct")``."""

Edit = Value | None
"""A setting as written into a bot's config: a value, or None to remove the key."""


class OptimizeError(Exception):
    """Bad input to ``gridtui optimize``: the message is one line naming the place and the fix."""
