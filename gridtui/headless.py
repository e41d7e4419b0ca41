"""``gridtui --headless`` and ``gridtui serve``: the bots without a terminal UI, stopped cleanly
by a signal.

The engine opens its control socket (gridtui.control), so ``gridtui attach`` shows and steers
these bots from any terminal of this machine; ``gridtui serve`` also serves that cockpit to
browsers (gridtui.control.web). Never imports Textual (an import-linter contract), so a server
without a terminal runs it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import shlex
import sys
from pathlib import Path
from urllib.parse import quote

import attrs
from aiohttp import web_runner

from gridtui import stop_signals
from gridtui.config.schema import AppConfig
from gridtui.control.engine import LocalEngine
from gridtui.control.server import ControlServer
from gridtui.control.web import CockpitServer, is_loopback, start_web
from gridtui.control.wire import SocketPathTooLong, socket_path
from gridtui.core.heap import tune_gc_for_a_long_run
from gridtui.monitoring.logs import EventLogger, log_event
from gridtui.state.data_dir import DataDirLock
from gridtui.supervisor import Supervisor

log = logging.getLogger("gridtui")

PAGES_CLOSE_S = 10.0
"""The pages' server is given this long to close (each page's cockpit closes once the control
socket does) before the bots stop regardless."""


@attrs.frozen(slots=True)
class WebOptions:
    """Where ``gridtui serve`` listens, and the token a browser must bring."""

    host: str
    port: int
    token: str


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
        tune_gc_for_a_long_run()
        return await _run(supervisor, stop, metrics_port, web)


async def _run(
    supervisor: Supervisor, stop: asyncio.Event, metrics_port: int | None, web: WebOptions | None
) -> int:
    supervisor.bus.subscribe(EventLogger())
    server = None
    control = ControlServer(LocalEngine(supervisor))
    pages = None
    # The ways in first: a port in use ends the run before any bot starts or the venue is
    # asked anything (there is nothing to stop yet).
    try:
        path = await _open_control(control, supervisor.config, required=web is not None)
        if web is not None and path is not None:
            pages = await _open_pages(web, path)
    except ServeError:
        await _close_cockpits(control, pages)
        await supervisor.exchange.close()
        raise
    try:
        await asyncio.sleep(0)  # a signal that came while building or opening is handled here
        if not stop.is_set():
            server = supervisor.metrics.serve(metrics_port) if metrics_port else None
            await supervisor.start()
            log.info("running %d bots; Ctrl-C stops them cleanly", len(supervisor.slots))
            if path is not None:
                log.info(
                    "gridtui attach --config %s shows and steers these bots",
                    supervisor.config.source,
                )
            if web is not None:
                log.info("serving the cockpit at %s", _address(web, with_token=False))
                if not is_loopback(web.host):
                    log.warning(
                        "the cockpit is reachable from other machines, over plain HTTP: put it "
                        "behind an SSH tunnel or a TLS proxy to keep its token secret"
                    )
                print(f"gridtui: the cockpit is at {_address(web)}", flush=True)
            await stop.wait()
    finally:
        # No cockpit steers the bots while they stop: the attached ones (each page's among
        # them) see the engine go and close, then the pages' server ends.
        await _close_cockpits(control, pages)
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


class ServeError(Exception):
    """``gridtui serve`` cannot open its ways in (socket, port): one line, before any bot
    starts."""


async def _open_control(
    control: ControlServer, config: AppConfig, *, required: bool
) -> Path | None:
    """The control socket (its path). Without one (a data dir too deep for a socket path, a
    folder that refuses it) ``--headless`` runs its bots all the same, only ``gridtui attach``
    cannot reach them; ``gridtui serve`` cannot serve and stops there."""
    try:
        path = socket_path(config.data_dir)
        await control.start(path)
    except (SocketPathTooLong, OSError) as exc:
        if required:
            raise ServeError(f"no control socket for the pages' cockpits: {exc}") from exc
        log.warning("no control socket, gridtui attach cannot reach these bots: %s", exc)
        return None
    return path


async def _open_pages(web: WebOptions, path: Path) -> web_runner.AppRunner:
    try:
        return await start_web(CockpitServer(_attach_command(path), **attrs.asdict(web)))
    except OSError as exc:
        reason = "is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or exc
        raise ServeError(
            f"serve --host {web.host} --port {web.port}: {reason} (choose another --port or "
            "--host, or stop the process using it)"
        ) from exc


async def _close_cockpits(control: ControlServer, pages: web_runner.AppRunner | None) -> None:
    """Each step on its own: a failure here must never keep the bots from their stop."""
    try:
        await control.close()
    except Exception:
        log.exception("the control socket did not close cleanly")
    if pages is None:
        return
    try:
        await asyncio.wait_for(pages.cleanup(), PAGES_CLOSE_S)
    except Exception:
        log.exception("the pages' server did not close cleanly")


def _attach_command(path: Path) -> str:
    """What a browser page runs: a cockpit attached to this engine."""
    return shlex.join([sys.executable, "-m", "gridtui", "attach", "--socket", str(path)])


def _address(web: WebOptions, *, with_token: bool = True) -> str:
    """The page's address; with the token for the terminal, never for the log."""
    host = f"[{web.host}]" if ":" in web.host else web.host
    url = f"http://{host}:{web.port}/"
    if not with_token:
        return f"{url} (token required)"
    return f"{url}?token={quote(web.token, safe='')}"
