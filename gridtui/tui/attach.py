"""``gridtui attach``: the cockpit on bots that run in another process (``gridtui serve`` or
``gridtui --headless``), reached over that engine's control socket.

Closing it leaves the bots running. When the engine goes away the cockpit closes and says so.
This is also what a browser page of ``gridtui serve`` runs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from gridtui.control.remote import NoEngine, RemoteEngine
from gridtui.core.heap import tune_gc_for_a_long_run
from gridtui.monitoring.logs import configure_logging

log = logging.getLogger("gridtui")

LOG_NAME = "gridtui-attach.log"
"""Attached cockpits log beside the engine's journals (the terminal belongs to the app)."""


def run_attached(socket: Path, *, theme: str | None, log_format: str, level: str) -> int:
    """Exit code 0 when the trader closed the cockpit, 1 when the engine went away (or never
    answered)."""
    return asyncio.run(_attached(socket, theme=theme, log_format=log_format, level=level))


async def _attached(socket: Path, *, theme: str | None, log_format: str, level: str) -> int:
    from gridtui.tui.app import GridApp

    engine = RemoteEngine(socket)
    try:
        await engine.connect()
    except NoEngine as exc:
        print(f"gridtui: {exc}", file=sys.stderr)
        return 1
    log_path = engine.config.data_dir / LOG_NAME
    with log_path.open("a", encoding="utf-8") as log_file:
        configure_logging(fmt=log_format, level=level, stream=log_file)
        app = GridApp(engine, theme=theme)
        tune_gc_for_a_long_run()

        async def close_when_lost() -> None:
            await engine.lost.wait()
            app.exit(1)

        watcher = asyncio.create_task(close_when_lost())
        try:
            code = await app.run_async()
            lost = engine.lost.is_set()
        finally:
            watcher.cancel()
            await engine.stop()
    if lost:
        print(f"gridtui: the engine at {socket} went away; this cockpit closed", file=sys.stderr)
        return 1
    if app.crash is not None:
        print(f"gridtui: the cockpit stopped on an error; details in {log_path}", file=sys.stderr)
        return 1
    print(f"gridtui: detached; the bots go on in the engine at {socket}")
    return code if code is not None else 0
