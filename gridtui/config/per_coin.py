"""Layering of grid and risk settings: ``[grid]`` defaults < ``[coins.COIN]`` < the bot's own.

Why three layers: sizes and limits are naturally per coin (0.0005 BTC and 0.01 ETH are both about
$32), while most knobs are shared; a bot only states what makes it different. The merge is pure
and key by key, so an override never has to repeat a whole table and never mutates its inputs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def merge(
    defaults: Mapping[str, Any],
    coin_overrides: Mapping[str, Any],
    bot_overrides: Mapping[str, Any],
) -> dict[str, Any]:
    """A new table where each key comes from the most specific layer that sets it.

    Nested tables merge recursively; any other value (arrays included) is replaced whole.
    """
    merged: dict[str, Any] = {}
    for layer in (defaults, coin_overrides, bot_overrides):
        merged = _overlay(merged, layer)
    return merged


def _overlay(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in top.items():
        below = result.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            result[key] = _overlay(below, value)
        elif isinstance(value, Mapping):
            result[key] = _overlay({}, value)
        else:
            result[key] = copy.deepcopy(value)
    return result
