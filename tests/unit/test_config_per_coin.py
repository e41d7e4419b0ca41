"""per_coin.merge: the most specific layer wins key by key, and nothing is shared or mutated."""

from __future__ import annotations

import copy

from gridtui.config.per_coin import merge


def test_bot_beats_coin_beats_defaults_key_by_key() -> None:
    defaults = {"levels": 5, "size": "0.001", "spacing_pct": 0.2}
    coin = {"levels": 7, "size": "0.0005"}
    bot = {"levels": 10}
    assert merge(defaults, coin, bot) == {"levels": 10, "size": "0.0005", "spacing_pct": 0.2}


def test_empty_layers_keep_what_is_below() -> None:
    assert merge({"a": 1}, {}, {}) == {"a": 1}
    assert merge({}, {"a": 2}, {}) == {"a": 2}
    assert merge({}, {}, {"a": 3}) == {"a": 3}
    assert merge({}, {}, {}) == {}


def test_nested_tables_merge_and_arrays_are_replaced_whole() -> None:
    defaults = {"t": {"x": 1, "y": 2}, "arr": [1, 2, 3]}
    bot = {"t": {"y": 20}, "arr": [9]}
    assert merge(defaults, {"t": {"z": 3}}, bot) == {"t": {"x": 1, "y": 20, "z": 3}, "arr": [9]}


def test_inputs_are_untouched_and_not_aliased() -> None:
    defaults = {"t": {"x": 1}, "arr": [1]}
    coin = {"t": {"y": 2}}
    bot = {"arr": [2]}
    before = copy.deepcopy((defaults, coin, bot))
    merged = merge(defaults, coin, bot)
    merged["t"]["x"] = 99
    merged["arr"].append(3)
    assert (defaults, coin, bot) == before
    assert merge(defaults, {}, {})["t"] is not defaults["t"]
