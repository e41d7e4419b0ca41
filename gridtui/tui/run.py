"""The cockpit's process: logs to a file beside the journals, the app, the one-line report."""

from __future__ import annotations

from gridtui.config.schema import AppConfig
from gridtui.monitoring.logs import EventLogger, configure_logging
from gridtui.state.data_dir import DataDirLock


def run_tui(config: AppConfig, *, theme: str | None, log_format: str, level: str) -> int:
    """The cockpit. Logs go to a file beside the journals: the terminal belongs to the app."""
    from gridtui.supervisor import Supervisor
    from gridtui.tui.app import GridApp

    config.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = config.data_dir / "gridtui.log"
    with DataDirLock(config.data_dir), log_path.open("a", encoding="utf-8") as log_file:
        supervisor = Supervisor(config)
        configure_logging(fmt=log_format, level=level, stream=log_file)
        supervisor.bus.subscribe(EventLogger())
        app = GridApp(config, supervisor=supervisor, theme=theme)
        code = app.run()
    report = app.shutdown_report
    if report is not None:
        print(
            f"gridtui: stopped {report.bots} bots; {report.open_orders} orders left open; "
            f"dead-man switch {'disarmed' if report.dead_man_disarmed else 'NOT disarmed'}; "
            f"log: {log_path}"
        )
    return code if code is not None else 0
