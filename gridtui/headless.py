"""``gridtui --headless`` and ``gridtui serve``: the bots without a terminal UI, stopped cleanly
by a signal.

The engine opens its control socket (gridtui.control), so ``gridtui attach`` shows and steers
these bots from any terminal of this machine; ``gridtui serve`` also serves that cockpit to
browsers (gridtui.control.web). Never imports Textual (an import-linter contract), so a server
without a terminal runs it.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import sys
from pathlib import Path

import attrs

from gridtui import stop_signals
from gridtui.config.schema import AppConfig
from gridtui.control.engine import LocalEngine
from gridtui.control.server import ControlServer
from gridtui.control.web import CockpitServer, start_web
from gridtui.control.wire import SocketPathTooLong, socket_path
from gridtui.monitoring.logs import EventLogger, log_event
from gridtui.state.data_dir import DataDirLock
from gridtui.supervisor import Supervisor

log = logging.getLogger("gridtui")


@attrs.frozen(slots=True)
class WebOptions:
    """Where ``gridtui serve`` listens, and the token a browser must bring (None: loopback,
    no token)."""

    host: str
    port: int
    token: str | None


async def run_headless(
    config: AppConfig, *, metrics_port: int | None = None, web: WebOptions | None = None
) -> int:
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
        return await _run(supervisor, stop, metrics_port, web)


async def _run(
    supervisor: Supervisor, stop: asyncio.Event, metrics_port: int | None, web: WebOptions | None
) -> int:
    supervisor.bus.subscribe(EventLogger())
    server = None
    control = ControlServer(LocalEngine(supervisor))
    pages = None
    try:
        await asyncio.sleep(0)  # a signal that came while building is handled here
        if not stop.is_set():
            server = supervisor.metrics.serve(metrics_port) if metrics_port else None
            await supervisor.start()
            log.info("running %d bots; Ctrl-C stops them cleanly", len(supervisor.slots))
            path = await _open_control(control, supervisor.config)
            if web is not None and path is not None:
                pages = await start_web(CockpitServer(_attach_command(path), **attrs.asdict(web)))
                log.info("serving the cockpit at %s", _address(web, with_token=False))
                print(f"gridtui: the cockpit is at {_address(web)}", flush=True)
            await stop.wait()
    finally:
        # No cockpit steers the bots while they stop: pages and attached cockpits end first.
        if pages is not None:
            await pages.cleanup()
        await control.close()
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


async def _open_control(control: ControlServer, config: AppConfig) -> Path | None:
    """The control socket (its path), or None when the data dir's path is too long for one:
    the bots still run, only ``gridtui attach`` cannot reach them (``gridtui serve`` checks
    this before it starts)."""
    try:
        path = socket_path(config.data_dir)
    except SocketPathTooLong as exc:
        log.warning("no control socket, gridtui attach cannot reach these bots: %s", exc)
        return None
    await control.start(path)
    log.info("gridtui attach --config %s shows and steers these bots", config.source)
    return path


def _attach_command(path: Path) -> str:
    """What a browser page runs: a cockpit attached to this engine."""
    return shlex.join([sys.executable, "-m", "gridtui", "attach", "--socket", str(path)])


def _address(web: WebOptions, *, with_token: bool = True) -> str:
    """The page's address; with the token for the terminal, never for the log."""
    host = f"[{web.host}]" if ":" in web.host else web.host
    url = f"http://{host}:{web.port}/"
    if web.token is None:
        return url
    return f"{url}?token={web.token}" if with_token else f"{url} (token required)"
