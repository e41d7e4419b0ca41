"""``gridtui optimize``: Optuna searches a bot's grid and risk settings over historical candles,
scoring each trial with the backtest replay (the live engine), walk-forward."""

from __future__ import annotations

from typing import Literal

Value = int | float | str | bool
"""A setting's value as TOML holds it (enum settings as their words)."""

SettingPath = tuple[Literal["grid", "risk"], str]
"""Where a setting lives in a bot's config: ``("grid", "spacing_pct")``."""


class OptimizeError(Exception):
    """Bad input to ``gridtui optimize``: the message is one line naming the place and the fix."""
