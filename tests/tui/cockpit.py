"""Helpers for a deterministic cockpit in tests: fixed clock, a seeded venue that moves when told.

The paper market's own loop never ticks (its clock's sleep never returns), bots cycle only when a
test calls ``cycle()``, and the app refreshes its panels only when ``refresh_views()`` is called —
so every screen is the same on every run and machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from config_kit import PAPER_CONFIG

from gridtui.config.loader import load_config
from gridtui.config.schema import AppConfig
from gridtui.control.engine import LocalEngine
from gridtui.core.clock import SimClock
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.supervisor import Supervisor
from gridtui.tui.app import GridApp

FIXED_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class FrozenClock(SimClock):
    """Moves only by ``advance``; the paper market loop's sleep never returns."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()


COCKPIT_CONFIG = (
    PAPER_CONFIG.replace("cycle_interval_s = 1.0", "cycle_interval_s = 3600.0")
    .replace("reconcile_interval_s = 30.0", "reconcile_interval_s = 86400.0")
    .replace("timeout_s = 60.0", "timeout_s = 7200.0")
)
"""The tests' own paper config (config_kit.py), with bots that cycle only when told; as a file
(its comments and layout kept), since the edit screen reads and writes it."""


def cockpit_config(tmp_path: Path) -> AppConfig:
    path = tmp_path / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(COCKPIT_CONFIG, encoding="utf-8")
    return load_config(path)


async def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


async def settle(app: GridApp, *, steps: int = 1) -> None:
    """Bring every bot to a quoted grid at a known price, one bot at a time, then refresh."""
    sup = app.engine.supervisor
    names = list(sup.slots)
    await wait_for(
        lambda: all((b := sup.running(n)) is not None and b.cycles >= 1 for n in names),
        "every bot's first cycle",
    )
    for _ in range(steps):
        sup.exchange.step()  # type: ignore[attr-defined]
    await wait_for(
        lambda: all(b.c.feed.mid is not None for b in sup.bots_running()), "mids on the stream"
    )
    for bot in sup.bots_running():
        await bot.cycle()
    app.refresh_views()
    await asyncio.sleep(0)


MakeApp = Callable[..., GridApp]


def build_app(
    tmp_path: Path, *, theme: str | None = None, config: AppConfig | None = None
) -> GridApp:
    config = config or cockpit_config(tmp_path)
    clock = FrozenClock(FIXED_MS)
    exchange = SimExchange.in_memory(config.venue.paper, clock)
    supervisor = Supervisor(config, clock=clock, exchange=exchange)
    return GridApp(LocalEngine(supervisor), theme=theme, refresh_hz=0)
