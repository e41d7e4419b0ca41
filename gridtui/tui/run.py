"""The cockpit's process: logs to a file beside the journals, the app, the one-line report.

However the app ends — ``q``, a stop signal, or an unhandled exception — the bots are stopped here
on the app's own event loop (their exchange client and locks live on it), and the terminal gets
one line: the stop's outcome, or the error with the log's path. Never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from gridtui import stop_signals
from gridtui.config.schema import AppConfig
from gridtui.core.heap import tune_gc_for_a_long_run
from gridtui.monitoring.logs import EventLogger, configure_logging, log_event
from gridtui.state.data_dir import DataDirLock

if TYPE_CHECKING:
    from gridtui.supervisor import ShutdownReport, Supervisor
    from gridtui.tui.app import GridApp

log = logging.getLogger("gridtui")

MAX_ERROR_CHARS = 200
"""The error's message is cut to this in the terminal line; the log has all of it."""


def run_tui(config: AppConfig, *, theme: str | None, log_format: str, level: str) -> int:
    """The cockpit. Logs go to a file beside the journals: the terminal belongs to the app.
    Exit code 0 only for a clean stop (no order left, dead-man switch disarmed)."""
    # Held pending again until the app's handlers are in (``GridApp.on_mount`` releases them):
    # until then a SIGTERM or SIGHUP would end the process on its default action.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals.STOP_SIGNALS)
    from gridtui.control.engine import LocalEngine
    from gridtui.supervisor import Supervisor
    from gridtui.tui.app import GridApp

    config.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = config.data_dir / "gridtui.log"
    with DataDirLock(config.data_dir), log_path.open("a", encoding="utf-8") as log_file:
        supervisor = Supervisor(config)
        configure_logging(fmt=log_format, level=level, stream=log_file)
        supervisor.bus.subscribe(EventLogger())
        app = GridApp(LocalEngine(supervisor), theme=theme)
        tune_gc_for_a_long_run()
        crash: BaseException | None = None
        try:
            code = asyncio.run(_cockpit(app, supervisor))
        except Exception as exc:  # Textual itself failed (e.g. no terminal): same one line
            details = "".join(traceback.format_exception(exc)).rstrip()
            log.critical("the cockpit could not run\n%s", details)
            crash, code = exc, 1
        crash = app.crash or crash
        report = supervisor.report
    if crash is not None:
        _say(_crash_line(crash, report, config.dead_man.enabled, log_path), sys.stderr)
        return 1
    if report is None:
        _say(f"gridtui: the bots could not be stopped cleanly; details in {log_path}", sys.stderr)
        return 1
    _say(
        f"gridtui: stopped {report.bots} bots; {report.open_orders} orders left open; "
        f"dead-man switch {'disarmed' if report.dead_man_disarmed else 'NOT disarmed'}; "
        f"log: {log_path}"
    )
    if not report.clean:
        return 1
    return code if code is not None else 0


async def _cockpit(app: GridApp, supervisor: Supervisor) -> int | None:
    """The app, then the bots' stop, on one loop. After ``q`` the stop is done and returns its
    report at once; after a crash it is the only stop the bots get."""
    try:
        return await app.run_async()
    finally:
        await _stop_bots(supervisor)


async def _stop_bots(supervisor: Supervisor) -> ShutdownReport | None:
    """Stop every bot (orders canceled until the exchange confirms none is left) and log
    ``shutdown_complete``, as the headless runner does. A stop signal meanwhile says what the
    stop waits for; the stop goes on. None if the stop itself failed (logged)."""

    def again(name: str) -> None:
        log.warning("%s: still stopping, waiting for %s", name, supervisor.stop_progress())

    loop = asyncio.get_running_loop()
    for sig in stop_signals.STOP_SIGNALS:
        loop.add_signal_handler(sig, again, sig.name)
    stop_signals.release()  # still blocked if the app died before its own handlers went in
    try:
        report = await supervisor.stop()
    except Exception as exc:
        details = "".join(traceback.format_exception(exc)).rstrip()
        log.critical("the bots could not be stopped cleanly\n%s", details)
        return None
    finally:
        for sig in stop_signals.STOP_SIGNALS:
            loop.remove_signal_handler(sig)
    for order in report.left:
        log.error("left open on the exchange: %s", order)
    log_event(
        "shutdown_complete",
        level=logging.INFO if report.clean else logging.ERROR,
        open_orders=report.open_orders,
        bots=report.bots,
        dead_man_disarmed=report.dead_man_disarmed,
        duration_s=round(report.duration_s, 3),
    )
    return report


def _crash_line(
    error: BaseException, report: ShutdownReport | None, dead_man: bool, log_path: Path
) -> str:
    """One line: the error, what became of the bots' orders, where the details are."""
    message = " ".join(str(error).split())
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 1] + "…"
    what = type(error).__name__ + (f": {message}" if message else "")
    guard = (
        "the dead-man switch will cancel them"
        if dead_man
        else "the dead-man switch is off: cancel them by hand"
    )
    if report is None:
        bots = f"the bots could not be stopped cleanly; {guard}"
    elif report.clean:
        bots = "bots stopped, no order left open"
    elif report.open_orders < 0:
        bots = f"bots stopped, open orders unknown; {guard}"
    else:
        bots = f"bots stopped, {report.open_orders} orders left open; {guard}"
    return f"gridtui: the cockpit stopped on an error ({what}); {bots}; details in {log_path}"


def _say(line: str, stream: TextIO | None = None) -> None:
    """The closing line, if the terminal is still there: after a hangup (SIGHUP) writing fails
    with EIO, and the stream goes to /dev/null so the exit's own flush cannot fail either. The
    log has the same facts."""
    stream = stream or sys.stdout
    try:
        print(line, file=stream, flush=True)
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
