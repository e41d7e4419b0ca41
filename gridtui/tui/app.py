"""The cockpit: a Textual app that shows an engine's bots and steers them.

The app decides nothing about trading and holds no bot: it reaches them by name through an
``Engine`` (gridtui.control.engine) — the supervisor in this process, its bots run as the app's
workers, or the one of a ``gridtui serve`` process, shared with every other cockpit attached to
it. On a timer (≤ 4 Hz) it samples every bot's immutable ``BotView`` through the view model
(gridtui.orchestrator.view), which also keeps each bot's equity series and queues engine events,
so a bot never touches a widget. The samples land in
reactive attributes (``views``, and ``selected``, the bot the panels show); the panels are bound to
them (``data_bind``) and repaint themselves. Every key that touches the engine starts a worker
(``@work``, group "commands") that calls orchestrator commands and reports each outcome as a
notification; a command that fails says so and the app carries on.

A stop signal (SIGTERM, SIGHUP from a closed terminal or dropped SSH session, SIGINT from
``kill``) takes the same clean path as ``q``. An unhandled exception anywhere in the app is logged
with its traceback and ends the app with return code 1; ``run.py`` then stops the bots and prints
one line.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import traceback
from collections import deque
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import Worker

from gridtui import stop_signals
from gridtui.config.schema import AppConfig, BotSettings
from gridtui.control.engine import Engine
from gridtui.core.events import Event
from gridtui.orchestrator.view import BotView, EquityPoint, ViewModel
from gridtui.state.accounting import HaltKind
from gridtui.supervisor import ShutdownReport
from gridtui.tui.edit_flow import edit_once
from gridtui.tui.screens.account import AccountScreen
from gridtui.tui.screens.confirm import ConfirmScreen
from gridtui.tui.screens.event_log import KEEP as EVENT_LOG_KEEP
from gridtui.tui.screens.event_log import EventLogScreen
from gridtui.tui.screens.help import HelpScreen
from gridtui.tui.screens.shutdown import ShutdownScreen
from gridtui.tui.themes import BUNDLED_THEMES_DIR, load_themes
from gridtui.tui.widgets.bots_table import BotsTable
from gridtui.tui.widgets.event_log import EventLog
from gridtui.tui.widgets.grid_ladder import GridLadder
from gridtui.tui.widgets.pnl_panel import PnlPanel
from gridtui.tui.widgets.risk_panel import RiskPanel
from gridtui.venues import badge_of

log = logging.getLogger(__name__)

DEFAULT_THEME = "gridtui-dark"
MAIN_SCREEN_ACTIONS = frozenset(
    {
        "halt",
        "halt_all",
        "resume",
        "cancel_all",
        "cancel_all_bots",
        "flatten",
        "reconcile",
        "next_bot",
        "previous_bot",
        "edit",
        "account",
        "event_log",
        "next_theme",
    }
)
"""Actions of keys that steer the bots (or open a screen over them): main screen only."""
COMPACT_BELOW = 100
"""Columns under which the cockpit lays itself out for a small terminal (80x24)."""
DETACHED_QUIT = "Close this view; the bots go on in gridtui serve (H halts them all)"
"""What q does in a cockpit attached to ``gridtui serve``."""


class GridApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "gridtui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "h", "halt", "Halt", tooltip="Halt the selected bot: cancel its orders, place none"
        ),
        Binding(
            "H",
            "halt_all",
            "Halt all",
            show=False,  # the footer must fit 80 columns with ? and q: ? and the palette list it
            tooltip="Halt every bot",
        ),
        Binding(
            "u",
            "resume",
            "Resume",
            tooltip="Resume the selected halted bot: its grid is placed again on the next cycle "
            "(around the last center while the mid is inside it, else around the mid)",
        ),
        Binding(
            "c",
            "cancel_all",
            "Cancel",
            tooltip="Cancel every order of the selected bot (asks first)",
        ),
        Binding(
            "C",
            "cancel_all_bots",
            "Cancel all",
            show=False,  # the footer's room goes to f; ? and the palette list it
            tooltip="Cancel every order of every bot (asks first)",
        ),
        Binding(
            "f",
            "flatten",
            "Flatten",
            tooltip="Halt the selected bot and close its position now (asks first)",
        ),
        Binding(
            "r",
            "reconcile",
            "Reconcile",
            tooltip="Reconcile the selected bot with the exchange now",
        ),
        Binding(
            "tab",
            "next_bot",
            "Next",
            priority=True,
            show=False,  # the bots table shows the selection; ? and the palette list it
            tooltip="Select the next bot",
        ),
        Binding(
            "shift+tab",
            "previous_bot",
            "Previous",
            priority=True,
            show=False,
            tooltip="Select the previous bot",
        ),
        Binding(
            "e",
            "edit",
            "Edit",
            tooltip="Edit the selected bot's grid and risk settings live, or add, disable, "
            "enable or remove a bot (checked as check-config checks; written into config.toml)",
        ),
        Binding(
            "a",
            "account",
            "Account",
            show=False,  # the footer's room goes to the bot keys; ? and the palette list it
            tooltip="The account: value, margin, withdrawable; each position's leverage, "
            "liquidation price and funding",
        ),
        Binding(
            "l",
            "event_log",
            "Log",
            show=False,  # the footer's room goes to the bot keys; ? and the palette list it
            tooltip="Every event of the session, full screen: scroll, filter by bot, kind and "
            "severity",
        ),
        Binding("t", "next_theme", "Theme", show=False, tooltip="Next colour theme"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="This list of keys"),
        Binding("q", "quit", "Quit", tooltip="Stop every bot cleanly (orders canceled) and exit"),
    ]

    views: var[tuple[BotView, ...]] = var(())
    """Every bot's view at the last refresh, in config order."""
    selected: var[str | None] = var(None)
    """The bot the ladder, PnL and risk panels show."""
    selected_view: var[BotView | None] = var(None)
    """The selected bot's view (computed)."""
    compact: var[bool] = var(False)
    """A small terminal (under ``COMPACT_BELOW`` columns): fewer columns, a tighter footer."""
    selected_equity: var[tuple[EquityPoint, ...]] = var(())
    """The selected bot's equity series, from the view model (computed)."""

    def __init__(
        self,
        engine: Engine,
        *,
        theme: str | None = None,
        refresh_hz: float = 4.0,
        theme_dirs: Sequence[Path] | None = None,
    ) -> None:
        self.engine = engine  # before Textual's own set-up, which asks for the driver class
        super().__init__()
        self.refresh_hz = refresh_hz
        self.model = ViewModel(engine.views, history=engine.history)
        """What the panels show, sampled by ``refresh_views``."""
        config = engine.config
        first = next((b.name for b in config.bots if b.enabled), None)
        self.set_reactive(GridApp.selected, first)
        self.shutdown_report: ShutdownReport | None = None
        self._requested_theme = theme or config.theme
        self._theme_dirs = list(theme_dirs) if theme_dirs is not None else self._default_dirs()
        self._theme_names: list[str] = []
        self.crash: Exception | None = None
        """The unhandled exception that ended the app, if one did."""
        self._signals: dict[signal.Signals, Any] = {}
        """Stop signals handled by the app, with the handler each had before."""
        self._stop_asked = False
        self._quitting = False
        self._editing = False
        self._session_events: deque[Event] = deque(maxlen=EVENT_LOG_KEEP)
        """The session's newest events, for the full event log (the panel keeps fewer)."""

    @property
    def config(self) -> AppConfig:
        """The config the bots run with now (an edit from any cockpit changes it)."""
        return self.engine.config

    def _default_dirs(self) -> list[Path]:
        dirs = [BUNDLED_THEMES_DIR]
        if self.config.source is not None:
            dirs.append(self.config.source.parent / "themes")
        return dirs

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            yield BotsTable(id="bots").data_bind(
                views=GridApp.views, selected=GridApp.selected, compact=GridApp.compact
            )
            with Horizontal(id="middle"):
                yield GridLadder(id="ladder").data_bind(view=GridApp.selected_view)
                with Vertical(id="side"):
                    yield PnlPanel(id="pnl").data_bind(
                        view=GridApp.selected_view, equity=GridApp.selected_equity
                    )
                    yield RiskPanel(id="risk").data_bind(view=GridApp.selected_view)
            yield EventLog(id="log")
        yield Footer().data_bind(compact=GridApp.compact)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The bot keys act only on the main screen: on the edit screen Tab moves between its
        fields and 'h' on a focused button halts nothing."""
        if action in MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1:
            return False
        return True

    async def on_mount(self) -> None:
        self.sub_title = badge_of(self.config.venue)  # in the header, always visible
        self._register_themes()
        self._install_stop_signals()
        self.engine.subscribe(self.model.add_event)
        await self.engine.start(self._run_bot)
        # A stop signal sent during start-up was held pending (gridtui.__main__ blocks them):
        # delivered now, it stops the bots just started, like any later one.
        stop_signals.release()
        if self.refresh_hz > 0:
            self.set_interval(1 / self.refresh_hz, self.refresh_views)
        self.refresh_views()

    def on_resize(self, event: events.Resize) -> None:
        self.compact = event.size.width < COMPACT_BELOW

    def on_unmount(self) -> None:
        self._remove_stop_signals()

    def _run_bot(self, coro: Coroutine[Any, Any, None], name: str) -> Worker[None]:
        return self.run_worker(coro, name=name, group="bots", exit_on_error=False)

    # ---- stop signals and crashes -----------------------------------------------------------

    def _install_stop_signals(self) -> None:
        """SIGTERM, SIGHUP and SIGINT must not kill the process with orders resting: each
        starts the clean stop of ``q``. Handlers on the running loop, so they run between two
        messages, never inside one."""
        loop = asyncio.get_running_loop()
        for sig in sorted(stop_signals.STOP_SIGNALS):
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, self._on_stop_signal, sig.name)
            except (ValueError, RuntimeError) as exc:  # not the main thread: nothing to catch
                log.debug("stop signals not handled by the cockpit: %s", exc)
                return
            self._signals[sig] = previous

    def _remove_stop_signals(self) -> None:
        """Back to what was there before (the default, or a host's own handler)."""
        loop = asyncio.get_running_loop()
        for sig, previous in self._signals.items():
            loop.remove_signal_handler(sig)
            if previous is not None:
                signal.signal(sig, previous)
        self._signals.clear()

    def _on_stop_signal(self, name: str) -> None:
        """The first signal quits as ``q`` does; a later one says what the stop waits for
        instead of abandoning orders on the exchange."""
        if self._stop_asked:
            log.warning("%s: still stopping, waiting for %s", name, self.engine.stop_progress())
            return
        self._stop_asked = True
        log.warning("%s: stopping every bot cleanly (their orders are canceled first)", name)
        self.call_later(self.action_quit)

    def _handle_exception(self, error: Exception) -> None:
        """Textual's one funnel for an unhandled exception (handlers, timers, workers that exit
        on error, rendering). Textual would print a traceback with locals on the terminal —
        hundreds of lines the trader cannot act on. The log gets the traceback (at any log
        level) and the app still exits with return code 1, printing nothing; ``run_tui`` then
        stops the bots and prints one line. Textual has no public hook for this."""
        if self.crash is None:
            self.crash = error
            details = "".join(traceback.format_exception(error)).rstrip()
            log.critical("the cockpit stopped on an error; stopping the bots\n%s", details)
        super()._handle_exception(error)
        self._exit_renderables.clear()

    def get_driver_class(self) -> type[Driver]:
        """On Linux and macOS, a driver that survives its terminal hanging up: the SIGHUP that
        comes with it must still be able to stop the bots (see driver.py). In a browser page
        of gridtui serve, one that ends the process when the page ends (see page_driver.py):
        never for a cockpit whose bots live in its own process."""
        driver = super().get_driver_class()
        if driver.__module__ == "textual.drivers.web_driver" and not self.engine.owns_bots:
            from gridtui.tui.page_driver import PageDriver

            return PageDriver
        if driver.__module__ != "textual.drivers.linux_driver":
            return driver
        from gridtui.tui.driver import HangupSafeDriver  # imports termios: not on Windows

        return HangupSafeDriver

    # ---- themes ------------------------------------------------------------------------------

    def _register_themes(self) -> None:
        """A broken theme file is reported and skipped; a missing theme falls back to the
        default: the cockpit always opens."""
        themes, errors = load_themes([d for d in self._theme_dirs if d.is_dir()])
        for theme in themes:
            self.register_theme(theme)
        self._theme_names = [t.name for t in themes]
        for error in errors:
            self.notify(error, title="Theme not loaded", severity="error", timeout=10)
        wanted = self._requested_theme
        if wanted in self._theme_names or wanted in self.available_themes:
            self.theme = wanted
            return
        fallback = DEFAULT_THEME if DEFAULT_THEME in self._theme_names else "textual-dark"
        self.notify(f"theme {wanted!r} not found; using {fallback}", severity="warning", timeout=10)
        self.theme = fallback

    def action_next_theme(self) -> None:
        names = self._theme_names or sorted(self.available_themes)
        current = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(current + 1) % len(names)]
        self.notify(f"Theme: {self.theme}")

    # ---- views -------------------------------------------------------------------------------

    def refresh_views(self) -> None:
        """Sample every bot once (the timer's tick): the panels follow ``views`` through their
        bindings; the engine events since the last tick are appended to the log, a stream rather
        than a state."""
        self.views = self.model.refresh()
        try:
            log = self.query_one(EventLog)
        except NoMatches:
            return  # the tick fired while the app exits and its widgets are gone
        events = self.model.take_events()
        self._session_events.extend(events)
        log.add_batch(events)
        for screen in self.screen_stack:
            if isinstance(screen, EventLogScreen):
                screen.add_batch(events)

    def compute_selected_view(self) -> BotView | None:
        return self._view(self.selected)

    def _view(self, name: str | None) -> BotView | None:
        """The bot's view at the last refresh."""
        return next((view for view in self.views if view.name == name), None)

    def compute_selected_equity(self) -> tuple[EquityPoint, ...]:
        return self.model.equity(self.selected)

    def on_bots_table_bot_selected(self, message: BotsTable.BotSelected) -> None:
        self.selected = message.name

    def _step_selection(self, step: int) -> None:
        names = list(self.engine.names)
        if not names:
            return
        current = names.index(self.selected) if self.selected in names else -1
        self.selected = names[(current + step) % len(names)]

    def action_next_bot(self) -> None:
        self._step_selection(1)

    def action_previous_bot(self) -> None:
        self._step_selection(-1)

    # ---- commands ----------------------------------------------------------------------------
    # A key starts a worker in the "commands" group that calls the orchestrator, one bot after
    # the other, and refreshes the views when done. Not exclusive: a second key must not cut a
    # halt short in the middle of its cancels. What the engine raises is a notification
    # (``_reported``); anything else would be a bug of the app, which takes the crash path.

    def action_halt(self) -> None:
        if (name := self._selected_bot()) is not None:
            self.halt([name])

    def action_halt_all(self) -> None:
        self.halt(self._bots_up())

    def action_resume(self) -> None:
        if (name := self._selected_bot()) is None:
            return
        view = self.selected_view
        risk = view.risk if view is not None else None
        if risk is not None and not risk.halted:
            self.notify(f"{name} is not halted: nothing to resume")
            return
        if risk is not None and risk.halt_kind is HaltKind.DAILY_LOSS:

            def answered(yes: bool | None) -> None:
                if yes:
                    self.resume([name], lift_daily_loss=True)

            question = (
                f"{name} halted on today's loss limit ({risk.daily_loss_limit} USD). "
                "Resume and lift that limit for the rest of the UTC day?"
            )
            self.push_screen(ConfirmScreen(question), answered)
            return
        self.resume([name])

    def action_flatten(self) -> None:
        if (name := self._selected_bot()) is None:
            return
        if (settings := self._settings(name)) is None:
            return
        view = self.selected_view
        held = f"{view.position} {view.coin}" if view is not None else "its position"

        def answered(yes: bool | None) -> None:
            if yes:
                self.flatten([name])

        question = (
            f"Flatten {name}: halt it and close {held} now with reduce-only orders "
            f"(at most {settings.risk.max_slippage_pct}% from the mark)?"
        )
        self.push_screen(ConfirmScreen(question), answered)

    def action_reconcile(self) -> None:
        if (name := self._selected_bot()) is not None:
            self.reconcile([name])

    def action_cancel_all(self) -> None:
        if (name := self._selected_bot()) is not None:
            self._confirm(
                f"Cancel every order of {name} ({self._coin(name)})? Its grid is "
                "placed again on the next cycle (h halts it instead).",
                [name],
            )

    def action_cancel_all_bots(self) -> None:
        names = self._bots_up()
        self._confirm(
            f"Cancel every order of all {len(names)} bots? Their grids are placed again on "
            "the next cycle (H halts them instead).",
            names,
        )

    def _confirm(self, question: str, names: Sequence[str]) -> None:
        """Cancel the bots' orders if the trader says yes."""

        def answered(yes: bool | None) -> None:
            if yes:
                self.cancel_orders(names)

        self.push_screen(ConfirmScreen(question), answered)

    def _bots_up(self) -> list[str]:
        """The bots that are up, in config order."""
        return [name for name in self.engine.names if self.engine.is_running(name)]

    def _settings(self, name: str) -> BotSettings | None:
        """The bot's settings, or None (and the trader is told) once an edit removed it."""
        settings = next((b for b in self.config.bots if b.name == name), None)
        if settings is None:
            self.notify(f"{name} is no longer in the config", severity="warning")
        return settings

    def _coin(self, name: str) -> str:
        view = self._view(name)
        return view.coin if view is not None else ""

    def _selected_bot(self) -> str | None:
        """The selected bot if it runs; else None, and the trader is told."""
        if self.selected is not None and self.engine.is_running(self.selected):
            return self.selected
        self.notify(f"{self.selected or 'no bot'} is not running", severity="warning")
        return None

    @work(group="commands")
    async def halt(self, names: Sequence[str]) -> None:
        """Each bot cancels its orders and places none until resumed."""
        for name in names:
            with self._reported(name):
                await self.engine.halt(name, "manual halt")
                self.notify(f"{name}: halted, orders canceled")
        self.refresh_views()

    @work(group="commands")
    async def resume(self, names: Sequence[str], *, lift_daily_loss: bool = False) -> None:
        """Each bot trades again: its grid is placed on the next cycle."""
        for name in names:
            with self._reported(name):
                await self.engine.resume(name, lift_daily_loss=lift_daily_loss)
                self.notify(f"{name}: resumed; the grid is rebuilt on the next cycle")
        self.refresh_views()

    @work(group="commands")
    async def flatten(self, names: Sequence[str]) -> None:
        """Each bot halts and closes its position; the notification says what is left."""
        for name in names:
            with self._reported(name):
                result = await self.engine.flatten(name)
                if result.left == 0:
                    self.notify(f"{name}: halted, position closed ({result.orders} orders)")
                else:
                    self.notify(
                        f"{name}: halted, {result.left} {self._coin(name)} still open "
                        f"({result.error or 'no fill within the slippage cap'}); f tries again",
                        severity="error",
                    )
        self.refresh_views()

    @work(group="commands")
    async def reconcile(self, names: Sequence[str]) -> None:
        """Each bot compares its books with the exchange now; the report is the notification."""
        for name in names:
            with self._reported(name):
                report = await self.engine.reconcile(name)
                if report.error:
                    self.notify(f"{name}: reconciliation incomplete: {report.error}")
                    continue
                self.notify(
                    f"{name}: reconciled — {report.missing_fills} missed fills, "
                    f"{report.adopted_orders} adopted, {report.canceled_unknown} unknown "
                    f"canceled, position {'corrected' if report.position_corrected else 'agrees'}"
                )
        self.refresh_views()

    @work(group="commands")
    async def cancel_orders(self, names: Sequence[str]) -> None:
        """Each bot cancels every order; its grid is placed again on the next cycle."""
        for name in names:
            with self._reported(name):
                canceled = await self.engine.cancel_all(name)
                self.notify(
                    f"{name}: {canceled} orders canceled; the grid is re-placed next cycle "
                    "(h halts)"
                )
        self.refresh_views()

    @contextmanager
    def _reported(self, name: str) -> Iterator[None]:
        """A command that fails is a notification, not a crash; the next bot still gets its
        turn."""
        try:
            yield
        except Exception as exc:
            self.notify(f"{name}: {exc}", title="Command failed", severity="error")

    def action_edit(self) -> None:
        if self.config.source is None:
            self.notify("no config file to edit (the bots were not started from one)")
            return
        if self._editing:
            self.notify("an edit is open or still being applied", severity="warning")
            return
        self._editing = True  # one edit at a time: a second one would read the file stale
        self.edit_bots(self.selected)

    @work(group="commands")
    async def edit_bots(self, selected: str | None) -> None:
        """The edit screen, then what the trader asked for: through the supervisor, then into
        the file; again on a bot just added, to review it. A failure here is a notification:
        the cockpit (and the bots) go on."""
        try:
            name = selected
            while name is not None:
                name = await edit_once(self, name)
        except Exception as exc:
            log.exception("the edit screen failed")
            self.notify(f"the edit failed: {exc}", severity="error", timeout=15)
        finally:
            self._editing = False

    def running_view(self, name: str) -> BotView | None:
        """The bot's view at the last refresh, if it runs (the edit screen's preview)."""
        return self._view(name) if self.engine.is_running(name) else None

    def action_event_log(self) -> None:
        bots = [b.name for b in self.config.bots]
        self.push_screen(EventLogScreen(self._session_events, bots))

    def action_account(self) -> None:
        self.push_screen(
            AccountScreen(self.engine.account, self.engine.now_ms, badge_of(self.config.venue))
        )

    def action_help(self) -> None:
        keys = [(b.key_display or b.key, self._tooltip(b)) for b in self.BINDINGS]
        keys.append(("ctrl+p", "Command palette (the same actions by name)"))
        self.push_screen(HelpScreen(keys))

    async def action_quit(self) -> None:
        """Clean shutdown with visible progress: orders canceled, dead-man switch disarmed. Asked
        again while stopping (a key, a signal), it says what the stop waits for."""
        if not self.engine.owns_bots:
            self.exit(0)  # attached to ``gridtui serve``: the bots go on without this view
            return
        if self._quitting:
            self.notify(f"Still stopping: {self.engine.stop_progress()}", timeout=5)
            return
        self._quitting = self._stop_asked = True

        def finished(report: ShutdownReport | None) -> None:
            self.shutdown_report = report
            clean = report is not None and report.open_orders == 0 and report.dead_man_disarmed
            self.exit(0 if clean else 1)

        self.push_screen(ShutdownScreen(self.engine), finished)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Our commands only. Textual's own would list Quit, Keys and Theme a second time, offer
        themes that are not ours, maximize a panel into a hatched screen and save screenshots
        into ~/Downloads, which a server may not have."""
        for binding in self.BINDINGS:
            action = getattr(self, f"action_{binding.action}", None)
            if action is not None and binding.action not in ("quit", "help"):
                key = binding.key_display or binding.key
                run = partial(self.run_action, binding.action)  # checked as the key is
                yield SystemCommand(self._tooltip(binding), f"key: {key}", run)
        for name in self._theme_names:
            set_theme = partial(setattr, self, "theme", name)
            yield SystemCommand(f"Theme: {name}", "key t cycles the themes", set_theme)
        yield SystemCommand(
            "Keys and legend", "key ?: every key, and what the panels' words mean", self.action_help
        )
        yield SystemCommand(
            "Screenshot",
            f"save an SVG of the screen into {self.config.data_dir}",
            self.action_save_screenshot,
        )
        if self.engine.owns_bots:
            yield SystemCommand(
                "Stop all bots and quit", "cancel every order, then exit", self.action_quit
            )
        else:
            yield SystemCommand("Close this view", DETACHED_QUIT, self.action_quit)

    def _tooltip(self, binding: Binding) -> str:
        if binding.action == "quit" and not self.engine.owns_bots:
            return DETACHED_QUIT
        return binding.tooltip or binding.description

    def action_save_screenshot(self) -> None:
        """An SVG of the screen in the data folder (the journals' disk: it exists)."""
        try:
            path = self.save_screenshot(path=str(self.config.data_dir))
        except OSError as exc:
            self.notify(f"screenshot not saved: {exc}", severity="error")
            return
        self.notify(f"screenshot saved: {path}")
