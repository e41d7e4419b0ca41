"""The config the tests run with: a known TOML text owned by the tests, never the repository's
config.toml (that file is the trader's to edit: a changed ``levels`` there must not fail a test)
nor the starter that ``gridtui init`` writes (user-facing text that may change).

Importable from every test folder: tests/conftest.py puts this folder on ``sys.path``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

PAPER_CONFIG = """\
data_dir = "data"
log_level = "info"
theme = "gridtui-dark"

[engine]
cycle_interval_s = 1.0
reconcile_interval_s = 30.0
stream_stale_after_s = 10.0
stuck_order_after_s = 30.0
restart_backoff_s = 1.0
restart_backoff_max_s = 60.0

[circuit_breaker]
error_threshold = 5
cooldown_s = 5.0
max_cooldown_s = 120.0

[dead_man_switch]
enabled = true
timeout_s = 60.0

[venue]
kind = "paper"

[venue.paper]
seed = 7
state_file = "data/paper.db"
starting_balance = 100000
maker_fee = 0.00015
taker_fee = 0.00045
tick_interval_s = 0.25
speed = 60.0

[[venue.paper.markets]]
coin = "BTC"
start_price = 64000
sz_decimals = 5
volatility = 0.8

[[venue.paper.markets]]
coin = "ETH"
start_price = 3200
sz_decimals = 4
volatility = 0.8

[grid]
levels = 8
spacing = "arithmetic"
spacing_pct = 0.15
volatility_scaled = false
volatility_multiplier = 1.0
size_scaling_pct = 0
mode = "rolling"
recenter_threshold_pct = 0.5
trend_bias = 0

[risk]
max_open_orders = 40
max_orders_per_second = 5
order_burst = 40
max_drawdown = 200
daily_loss_limit = 100

[coins.BTC.grid]
size = 0.0005

[coins.BTC.risk]
max_position = 0.02
max_notional = 1500

[coins.ETH.grid]
size = 0.01

[coins.ETH.risk]
max_position = 0.3
max_notional = 1200

[[bots]]
name = "btc"
coin = "BTC"
enabled = true

[bots.grid]
levels = 10
spacing_pct = 0.12

[[bots]]
name = "eth"
coin = "ETH"
enabled = true
"""
"""Two bots (btc: 10 levels a side at 0.12%, eth: 8 at 0.15%) on the seeded paper venue, with
journals in ``data/`` next to the file. The cockpit snapshots are drawn from exactly this."""


def paper_config_text(**overrides: Any) -> str:
    """``PAPER_CONFIG`` as written, or with top-level ``overrides``: a dict is merged into the
    table of that name (recursively), anything else replaces the value, e.g.
    ``venue={"kind": "hyperliquid", "api_url": url}`` or ``bots=[{"coin": "BTC"}]``."""
    if not overrides:
        return PAPER_CONFIG
    return tomli_w.dumps(_merged(tomllib.loads(PAPER_CONFIG), overrides))


def status_table(out: str) -> list[str]:
    """The rows of `gridtui status`'s table (its header and the account block below left out)."""
    table = out.split("\n\n", 1)[0]
    return table.splitlines()[1:]


def write_paper_config(path: Path, **overrides: Any) -> Path:
    """Writes ``paper_config_text(**overrides)`` to ``path`` (its folder is created); returns
    ``path``. Relative paths in it (journals, paper state) resolve next to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(paper_config_text(**overrides), encoding="utf-8")
    return path


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged
