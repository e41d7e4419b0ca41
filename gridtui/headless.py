"""``gridtui --headless``: the bots without a UI, stopped cleanly by a signal.

Never imports Textual (an import-linter contract), so a server without a terminal runs it.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from gridtui.config.schema import AppConfig
from gridtui.monitoring.logs import EventLogger, log_event

log = logging.getLogger("gridtui")


async def run_headless(config: AppConfig, *, metrics_port: int | None = None) -> int:
    """Run until SIGINT/SIGTERM, then stop cleanly: orders canceled, dead-man switch disarmed."""
    from gridtui.supervisor import Supervisor

    supervisor = Supervisor(config)
    supervisor.bus.subscribe(EventLogger())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = supervisor.metrics.serve(metrics_port) if metrics_port else None
    try:
        await supervisor.start()
        log.info("running %d bots; Ctrl-C stops them cleanly", len(supervisor.slots))
        await stop.wait()
    finally:
        report = await supervisor.stop()
        if server is not None:
            server.close()
        log_event(
            "shutdown_complete",
            open_orders=report.open_orders,
            bots=report.bots,
            dead_man_disarmed=report.dead_man_disarmed,
            duration_s=round(report.duration_s, 3),
        )
    return 0 if report.open_orders == 0 and report.dead_man_disarmed else 1
