"""``gridtui bench keys``: key press → action done, under load, in the real cockpit.

Four bots of 50 levels a side trade on a file-backed paper venue ticking 100 times a second while
the app refreshes at 4 Hz. Each sample presses a key through Textual's Pilot and stops the clock
when the engine shows the effect (``h``: the bot is halted and the exchange holds none of its
orders; ``u``: resumed; ``tab``: the panels show the next bot). CPU is the process's CPU time over
the wall time of the run.
"""

from __future__ import annotations

import asyncio
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from textual import events

from gridtui.bench.report import SYSTEM, machine_line, percentile
from gridtui.config.loader import load_config_text
from gridtui.control.engine import LocalEngine
from gridtui.core.heap import tune_gc_for_a_long_run
from gridtui.supervisor import Supervisor
from gridtui.tui.app import GridApp

COINS = (("BTC", 64000, 5, "0.0005"), ("ETH", 3200, 4, "0.01"),
         ("SOL", 150, 2, "0.1"), ("AVAX", 30, 2, "0.5"))  # fmt: skip
TICKS_PER_SECOND = 100
LEVELS_PER_SIDE = 50
THINK_S = 0.25
"""Pause before each key press: the app keeps trading and refreshing meanwhile."""


def bench_config(data_dir: Path) -> str:
    markets = "\n".join(
        f'[[venue.paper.markets]]\ncoin = "{c}"\nstart_price = {p}\nsz_decimals = {d}\n'
        for c, p, d, _ in COINS
    )
    bots = "\n".join(
        f'[[bots]]\nname = "{c.lower()}"\ncoin = "{c}"\n[bots.grid]\nsize = {s}\n'
        for c, _, _, s in COINS
    )
    return f"""
data_dir = "{data_dir}"
[engine]
cycle_interval_s = 0.5
[venue.paper]
state_file = "{data_dir / "paper.db"}"
tick_interval_s = {1 / TICKS_PER_SECOND}
speed = 60.0
[grid]
levels = {LEVELS_PER_SIDE}
spacing_pct = 0.05
[risk]
max_position = 1000
max_notional = 100000000
max_open_orders = 500
max_orders_per_second = 1000
order_burst = 1000
max_drawdown = 1000000
daily_loss_limit = 1000000
{markets}
{bots}
"""


def _press(app: GridApp, key: str) -> None:
    """Queue the key exactly as the terminal driver does. (Pilot.press would also wait for the
    process to go idle, which a loaded app never does: that wait is not the app's latency.)"""
    app.post_message(events.Key(key, "\t" if key == "tab" else key))


async def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the action never took effect")
        await asyncio.sleep(0.0005)


async def _measure(count: int) -> tuple[dict[str, list[float]], float, float, int]:
    with tempfile.TemporaryDirectory(prefix="gridtui-bench-keys-") as tmp:
        config = load_config_text(bench_config(Path(tmp)), base_dir=Path(tmp), source="bench")
        sup = Supervisor(config)
        app = GridApp(LocalEngine(sup))
        tune_gc_for_a_long_run()  # as the cockpit's process does (gridtui.tui.run)
        samples: dict[str, list[float]] = {"h": [], "u": [], "tab": []}
        async with app.run_test(size=(160, 48)):
            await _until(lambda: len(sup.bots_running()) == len(COINS), 30)
            await _until(lambda: all(v.open_orders > 0 for v in sup.views()), 30)
            ticks0 = sum(b.c.feed.message_count for b in sup.bots_running())
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for _ in range(count):
                bot = sup.running(app.selected or "")
                assert bot is not None
                state, ledger = bot.c.state, bot.c.ledger

                def halted(state=state, ledger=ledger) -> bool:  # type: ignore[no-untyped-def]
                    return state.get_snapshot().halted and ledger.live_count() == 0

                def resumed(state=state) -> bool:  # type: ignore[no-untyped-def]
                    return not state.get_snapshot().halted

                def moved(before=app.selected) -> bool:  # type: ignore[no-untyped-def]
                    return app.selected != before

                for key, done in (("h", halted), ("u", resumed), ("tab", moved)):
                    await asyncio.sleep(THINK_S)  # a fast human, not a key-repeat burst
                    started = time.perf_counter()
                    _press(app, key)
                    await _until(done)
                    samples[key].append(time.perf_counter() - started)
            wall = time.perf_counter() - wall0
            cpu = time.process_time() - cpu0
            ticks = sum(b.c.feed.message_count for b in sup.bots_running()) - ticks0
            await sup.stop()
        return samples, wall, cpu, ticks


def run_keys_bench(count: int | None, out: TextIO) -> int:
    count = count or 100
    samples, wall, cpu, ticks = asyncio.run(_measure(count))
    print("gridtui bench keys: key press -> action taken, in the cockpit under load", file=out)
    print(machine_line(SYSTEM), file=out)
    print(
        f"load: {len(COINS)} bots x {2 * LEVELS_PER_SIDE} levels, paper feed "
        f"{ticks / wall / len(COINS):.0f} ticks/s per coin ({ticks / wall:.0f} mids/s in all), "
        f"panels refreshed at 4 Hz; keys pressed {THINK_S * 1000:.0f} ms apart",
        file=out,
    )
    print(f"{'key':<6}{'samples':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}", file=out)
    every: list[float] = []
    for key, values in samples.items():
        every += values
        print(
            f"{key:<6}{len(values):>8}{percentile(values, 50) * 1000:>10.2f}"
            f"{percentile(values, 99) * 1000:>10.2f}{max(values) * 1000:>10.2f}",
            file=out,
        )
    print(
        f"{'all':<6}{len(every):>8}{percentile(every, 50) * 1000:>10.2f}"
        f"{percentile(every, 99) * 1000:>10.2f}{max(every) * 1000:>10.2f}",
        file=out,
    )
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"cpu: {cpu / wall * 100:.0f}% of one core over {wall:.1f} s; peak memory "
        f"{peak_kb / 1024:.0f} MiB",
        file=out,
    )
    return 0
