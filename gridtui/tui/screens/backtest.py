"""Backtest the settings on the edit screen before applying them, without leaving the cockpit.

It runs ``gridtui backtest`` itself (the command a trader would type: the live engine over
the candles) in a child process, on a copy of the config file with the edited settings, so the
cockpit never waits on it and a year of candles costs the bots nothing but a core. The child
reports its progress as ``progress DONE TOTAL`` lines on stderr and its report as JSON; a
failure is its one-line error. ``data fetch`` (for a coin with no candle file yet) runs the
same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Static
from textual_plotext import PlotextPlot

from gridtui.monitoring.progress import PROGRESS_LINE
from gridtui.orchestrator.view import thinned
from gridtui.tui.widgets.pnl_panel import draw_equity

REPORT_FIELDS: tuple[tuple[str, str], ...] = (
    ("net_pnl", "Net PnL"),
    ("return_pct", "Return %"),
    ("max_drawdown", "Max drawdown"),
    ("fills", "Fills"),
    ("round_trips", "Round trips"),
    ("grid_profit_per_round_trip", "Per round trip"),
    ("fees", "Fees"),
    ("funding", "Funding"),
    ("sharpe", "Sharpe"),
    ("halts", "Halts"),
    ("final_position", "Final position"),
    ("buy_and_hold_pnl", "Buy and hold"),
    ("candles", "Candles"),
)
"""What the screen shows of the report (``gridtui backtest --json``), in its order."""
CHART_POINTS = 400
"""Closes drawn of the equity curve (a year is half a million)."""
STOP_WAIT_S = 3.0
"""A child asked to stop gets this long before it is killed."""


class BacktestScreen(ModalScreen[bool]):
    """Dismissed with True when the trader asks to apply the backtested settings."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
    ]

    def __init__(
        self,
        text: str,
        source: Path,
        bot: str,
        coin: str,
        candles: str,
        *,
        changed: bool,
        flags: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self._flags = tuple(flags)
        """The venue's command-line flags (--venue, --api-url, --mainnet) the cockpit runs on."""
        self._text = text
        self._source = source
        self._bot = bot
        self._coin = coin
        self._candles = candles
        self._changed = changed
        self.report: dict[str, Any] | None = None
        """The last run's report (None before one finished)."""
        self.process: asyncio.subprocess.Process | None = None
        """The child of the last command started."""

    def compose(self) -> ComposeResult:
        what = "the edited settings" if self._changed else "the current settings"
        with Vertical(id="backtest-dialog"):
            yield Label(f"Backtest {self._bot} ({self._coin}) on {what}", id="backtest-title")
            with Horizontal(id="backtest-file"):
                yield Input(
                    self._candles,
                    placeholder="candle CSV, e.g. data/BTC-1m.csv (relative to the config)",
                    id="backtest-candles",
                )
                yield Button("Run", variant="primary", id="backtest-run")
                yield Button("Fetch", id="backtest-fetch")
            yield ProgressBar(id="backtest-progress", show_eta=False)
            yield Label("", id="backtest-status")
            with Horizontal(id="backtest-result"):
                yield Static(id="backtest-report")
                yield PlotextPlot(id="backtest-chart")
            with Horizontal(id="backtest-buttons"):
                yield Button("Apply these settings", variant="primary", id="backtest-apply")
                yield Button("Close", id="backtest-close")

    def on_mount(self) -> None:
        self.query_one("#backtest-chart").display = False
        self.query_one("#backtest-apply", Button).disabled = not self._changed

    @property
    def candles_file(self) -> Path:
        """The file typed, relative to the config's folder as the config's own paths are
        (``~`` is the home folder; an unknown ``~user`` stays as typed)."""
        typed = Path(self.query_one("#backtest-candles", Input).value.strip())
        with contextlib.suppress(RuntimeError):
            typed = typed.expanduser()
        return typed if typed.is_absolute() else self._source.parent / typed

    def _status(self, text: str, *, error: bool = False) -> None:
        label = self.query_one("#backtest-status", Label)
        label.update(Text(text, style="bold red" if error else ""))

    # ---- running the commands -----------------------------------------------------------------

    @on(Button.Pressed, "#backtest-run")
    @on(Input.Submitted, "#backtest-candles")
    def _start(self) -> None:
        if not self.query_one("#backtest-candles", Input).value.strip():
            self._status("type the candle file first (or Fetch one)", error=True)
            return
        self._run_backtest(self.candles_file)

    @work(exclusive=True, group="backtest", exit_on_error=False)
    async def _run_backtest(self, candles: Path) -> None:
        """A failure here is the screen's status line: never the cockpit's end."""
        self.report = None
        self._status(f"running gridtui backtest on {candles}…")
        try:
            await self._backtest(candles)
        except Exception as exc:
            self._status(f"the backtest could not run: {exc}", error=True)

    async def _backtest(self, candles: Path) -> None:
        folder = self._source.parent
        config = _scratch(folder, ".toml")
        equity = _scratch(Path(tempfile.gettempdir()), ".csv")
        try:
            config.write_text(self._text, encoding="utf-8")  # beside it: same relative paths
            args = [
                "backtest", "--config", str(config), "--bot", self._bot,
                "--candles", f"{self._coin}={candles}", "--json",
                "--equity-out", str(equity), "--progress", "lines",
            ]  # fmt: skip
            code, out, error = await self._gridtui(args)
            if code != 0:
                self._status(error or f"gridtui backtest ended with code {code}", error=True)
                return
            self.report = json.loads(out)
            self._show(self.report, _equity(equity))
            self._status("done: the engine replay of these settings over the candles")
        finally:
            for path in (config, equity):
                path.unlink(missing_ok=True)

    @on(Button.Pressed, "#backtest-fetch")
    def _fetch(self) -> None:
        if not self.query_one("#backtest-candles", Input).value.strip():
            name = f"data/{self._coin}-1m.csv"
            self.query_one("#backtest-candles", Input).value = name
        self._run_fetch(self.candles_file)

    @work(exclusive=True, group="backtest", exit_on_error=False)
    async def _run_fetch(self, out: Path) -> None:
        self._status(f"fetching {self._coin} 1m candles into {out}…")
        args = [
            "data", "fetch", "--config", str(self._source), "--coin", self._coin,
            "--interval", "1m", "--out", str(out),
        ]  # fmt: skip
        try:
            code, _out, error = await self._gridtui(args)
        except Exception as exc:
            self._status(f"the fetch could not run: {exc}", error=True)
            return
        if code != 0:
            self._status(error or f"gridtui data fetch ended with code {code}", error=True)
            return
        self._status(f"fetched into {out}: Run backtests on it")

    async def _gridtui(self, args: Sequence[str]) -> tuple[int, str, str]:
        """Run ``gridtui ARGS`` as a child; its progress lines move the bar. Returns its exit
        code, its stdout and its last other stderr line (its one-line error)."""
        bar = self.query_one("#backtest-progress", ProgressBar)
        bar.update(total=None, progress=0)
        process = self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gridtui", *self._flags, *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
        assert process.stdout is not None and process.stderr is not None
        reading = asyncio.ensure_future(process.stdout.read())
        last = ""
        try:
            async for raw in process.stderr:
                line = raw.decode("utf-8", "replace").strip()
                words = line.split()
                if len(words) == 3 and words[0] == PROGRESS_LINE:
                    bar.update(total=int(words[2]), progress=int(words[1]))
                elif line:
                    last = line
            out = (await reading).decode("utf-8", "replace")
            code = await process.wait()
        except asyncio.CancelledError:  # closed, or run again: the child must not run on
            await _stop(process)
            raise
        if code == 0 and bar.total is not None:
            bar.update(progress=bar.total)
        return code, out, last

    def _show(self, report: dict[str, Any], equity: list[tuple[int, float]]) -> None:
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column(style="bold")
        table.add_column(justify="right")
        for key, label in REPORT_FIELDS:
            value = report.get(key)
            if value is None:
                value = "not modelled" if key == "funding" else "—"  # never a silent zero
            table.add_row(label, str(value))
        self.query_one("#backtest-report", Static).update(table)
        chart = self.query_one("#backtest-chart", PlotextPlot)
        chart.display = len(equity) > 1
        if chart.display:
            draw_equity(chart, equity)

    # ---- buttons ------------------------------------------------------------------------------

    @on(Button.Pressed, "#backtest-apply")
    def _apply(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#backtest-close")
    def action_close(self) -> None:
        self.dismiss(False)


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Ask the child to stop as Ctrl-C would (it cleans its scratch journal up), and kill it
    when it does not within a few seconds."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), STOP_WAIT_S)
    except TimeoutError:
        process.kill()
        await process.wait()


def _scratch(folder: Path, suffix: str) -> Path:
    """A file name of our own in ``folder`` (created empty, so no other run takes it)."""
    handle, name = tempfile.mkstemp(prefix=".gridtui-backtest-", suffix=suffix, dir=folder)
    os.close(handle)
    return Path(name)


def _equity(path: Path) -> list[tuple[int, float]]:
    """The equity curve ``--equity-out`` wrote, thinned to ``CHART_POINTS`` closes."""
    with contextlib.suppress(OSError):
        rows = path.read_text(encoding="utf-8").splitlines()[1:]
        points = [(int(t), float(v)) for t, v in (row.split(",") for row in rows if row)]
        return thinned(points, CHART_POINTS)
    return []
