"""Quit = a clean shutdown the trader can watch: every bot cancels, the dead-man switch is disarmed,
and the count of orders still open on the exchange is shown before the app exits."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, ProgressBar

from gridtui.control.engine import Engine
from gridtui.core.events import BotStopped, Event, OrderCanceled
from gridtui.supervisor import ShutdownReport


class ShutdownScreen(ModalScreen[ShutdownReport | None]):
    """Dismissed with the engine's report (None if stopping itself failed)."""

    BINDINGS = []  # noqa: RUF012 - nothing may interrupt a shutdown

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self._engine = engine
        self._canceled = 0
        self._stopped = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="shutdown-dialog"):
            yield Label("Stopping every bot…", id="shutdown-title")
            yield ProgressBar(total=len(self._engine.names), show_eta=False, id="shutdown-bar")
            yield Label("canceling orders", id="shutdown-status")

    def on_mount(self) -> None:
        self._unsubscribe = self._engine.subscribe(self._on_event)
        self.stop_bots()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, OrderCanceled):
            self._canceled += 1
        elif isinstance(event, BotStopped):
            self._stopped += 1
            self.query_one(ProgressBar).advance(1)
        self.query_one("#shutdown-status", Label).update(
            f"{self._stopped} bots stopped, {self._canceled} orders canceled"
        )

    @work(group="shutdown", exit_on_error=False)
    async def stop_bots(self) -> None:
        """The supervisor's clean stop; its report (or None if it failed) dismisses the
        screen."""
        try:
            report = await self._engine.stop()
        except Exception as exc:
            self.query_one("#shutdown-status", Label).update(f"shutdown failed: {exc}")
            self.dismiss(None)
            return
        finally:
            self._unsubscribe()
        self.query_one("#shutdown-title", Label).update(
            f"Stopped: {report.open_orders} orders left open, dead-man switch "
            f"{'disarmed' if report.dead_man_disarmed else 'NOT disarmed'}"
        )
        self.dismiss(report)
