"""``gridtui --headless``: the bots without a UI, stopped cleanly by a signal.

Never imports Textual (an import-linter contract), so a server without a terminal runs it.
"""

from __future__ import annotations

import asyncio
import logging

from gridtui import stop_signals
from gridtui.config.schema import AppConfig
from gridtui.monitoring.logs import EventLogger, log_event
from gridtui.state.data_dir import DataDirLock
from gridtui.supervisor import Supervisor

log = logging.getLogger("gridtui")


async def run_headless(config: AppConfig, *, metrics_port: int | None = None) -> int:
    """Run until SIGINT, SIGTERM or SIGHUP (a closed terminal, a dropped SSH session), then stop
    cleanly: orders canceled until the exchange confirms none is left, dead-man switch disarmed.
    Exit code 0 only for such a clean stop.

    The signal handlers go in before anything else is built, so a signal during start-up stops
    the start-up instead of being lost; a second signal while stopping says what the stop is
    waiting for instead of abandoning orders on the exchange."""
    stop = asyncio.Event()
    supervisor: Supervisor | None = None

    def on_signal(name: str) -> None:
        if not stop.is_set():
            log.info("%s: stopping every bot cleanly (their orders are canceled first)", name)
            stop.set()
            return
        waiting = supervisor.stop_progress() if supervisor is not None else "start-up"
        log.warning("%s: still stopping, waiting for %s", name, waiting)

    loop = asyncio.get_running_loop()
    for sig in stop_signals.STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig.name)
    stop_signals.release()  # a signal sent during start-up is handled now
    with DataDirLock(config.data_dir):
        supervisor = Supervisor(config)
        return await _run(supervisor, stop, metrics_port)


async def _run(supervisor: Supervisor, stop: asyncio.Event, metrics_port: int | None) -> int:
    supervisor.bus.subscribe(EventLogger())
    server = None
    try:
        await asyncio.sleep(0)  # a signal that came while building is handled here
        if not stop.is_set():
            server = supervisor.metrics.serve(metrics_port) if metrics_port else None
            await supervisor.start()
            log.info("running %d bots; Ctrl-C stops them cleanly", len(supervisor.slots))
            await stop.wait()
    finally:
        report = await supervisor.stop()
        if server is not None:
            server.close()
        for order in report.left:
            log.error("left open on the exchange: %s", order)
        log_event(
            "shutdown_complete",
            open_orders=report.open_orders,
            bots=report.bots,
            dead_man_disarmed=report.dead_man_disarmed,
            duration_s=round(report.duration_s, 3),
        )
    return 0 if report.clean else 1
