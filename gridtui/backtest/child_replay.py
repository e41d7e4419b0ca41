"""A replay in a process of its own, so ``--fill-model both`` runs its two models at once.

The replay is one engine over one clock and cannot be split, but the two fill models are two
independent replays of the same candles: on a machine with a second core, the second model runs
in a spawned child while this process runs the first, and the pair takes about as long as one.
The child reads the same candles from the same file (its parsed cache, written by the parent),
reports how far it got, and sends its ``Replay`` back whole, so what the report, the pictures
and the fills file see is exactly what an in-process run gives.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType

from gridtui.backtest import BacktestError
from gridtui.backtest.replay import Replay, ReplayOptions, replay
from gridtui.config.schema import AppConfig, BotSettings
from gridtui.exchanges.sim import CandleSeries, FundingRate, load_candles

PROGRESS = "progress"
DONE = "done"
FAILED = "failed"
REPORT_EVERY = 500
"""Candles between two progress messages: a year of 1m candles sends about a thousand."""


def cores() -> int:
    """The cores this process may run on (not the machine's count: a container may get fewer)."""
    return len(os.sched_getaffinity(0))


class ChildReplay:
    """``replay(...)`` of ``series`` in a spawned process. Use as a context manager: leaving
    it ends the child whatever happened (an error or Ctrl-C in the parent leaves no process
    behind). Ctrl-C reaches a terminal's whole process group; the child ignores it, so the
    interrupt is reported once, by the parent, even when it comes while the child is still
    importing."""

    def __init__(
        self,
        config: AppConfig,
        bot: BotSettings,
        candles_file: Path,
        series: CandleSeries,
        funding: Sequence[FundingRate] | None,
        options: ReplayOptions,
    ) -> None:
        self.total = len(series)
        self.done = 0
        self._options = options
        self._result: Replay | None = None
        self._failure: BaseException | None = None
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe(duplex=False)
        span = (series[0].time_ms, series[-1].time_ms, len(series))
        self._process = context.Process(
            target=_run_child,
            args=(child_end, config, bot, candles_file, span, funding, options),
            name=f"backtest-{options.fill_model.value}",
            daemon=True,
        )
        with _sigint_ignored_by_children():
            self._process.start()
        child_end.close()  # the child holds the only writing end: its exit reads as EOF here

    def __enter__(self) -> ChildReplay:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._conn.close()

    def poll(self) -> int:
        """Read what the child has said so far without waiting; return the candles it has done."""
        while self._result is None and self._failure is None and self._conn.poll():
            self._receive()
        return self.done

    def result(self, progress: Callable[[int], None] | None = None) -> Replay:
        """Wait for the child's replay, passing each progress count on; its error is raised
        here as it would have been in this process."""
        while self._result is None and self._failure is None:
            self._receive()
            if progress is not None:
                progress(self.done)
        if self._failure is not None:
            raise self._failure
        assert self._result is not None
        return self._result

    def _receive(self) -> None:
        try:
            kind, value = self._conn.recv()
        except EOFError:
            self._process.join()
            self._failure = BacktestError(
                f"the {self._options.fill_model.value} replay's process ended without a result "
                f"(exit code {self._process.exitcode}); run again with "
                f"--fill-model {self._options.fill_model.value} to see why"
            )
            return
        if kind == PROGRESS:
            self.done = value
        elif kind == DONE:
            self.done = self.total
            self._result = value
        else:
            self._failure = value


@contextmanager
def _sigint_ignored_by_children() -> Iterator[None]:
    """SIGINT ignored while a child is started, and so for the child's whole life (an ignored
    signal stays ignored across exec, and Python then installs no KeyboardInterrupt for it);
    blocked meanwhile, so that a Ctrl-C in that moment waits and lands here afterwards (Linux
    keeps a blocked signal pending even while it is ignored)."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, handler)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _run_child(
    conn: Connection,
    config: AppConfig,
    bot: BotSettings,
    candles_file: Path,
    span: tuple[int, int, int],
    funding: Sequence[FundingRate] | None,
    options: ReplayOptions,
) -> None:
    """The child's whole life: the same candles, the replay, the result or the error."""
    try:
        series = _same_candles(candles_file, span)
        total = len(series)

        def progress(done: int) -> None:
            if done % REPORT_EVERY == 0 or done == total:
                conn.send((PROGRESS, done))

        conn.send((DONE, replay(config, bot, candles_file, series, funding, options, progress)))
    except Exception as exc:
        try:
            conn.send((FAILED, exc))
        except OSError:
            pass  # the parent is gone (a progress send failed too): nobody is left to tell
        except Exception:  # an error that cannot be pickled: its text, as a bug report
            with contextlib.suppress(OSError):
                conn.send((FAILED, RuntimeError(traceback.format_exc())))
    finally:
        conn.close()


def _same_candles(candles_file: Path, span: tuple[int, int, int]) -> CandleSeries:
    """The parent's candles: the file's, from ``span``'s first to its last time (a
    ``--from``/``--to`` range keeps a run of consecutive candles), checked by their count."""
    first, last, count = span
    whole = load_candles(candles_file)
    if len(whole) == count:
        series = whole
    else:
        series = CandleSeries.of(c for c in whole if first <= c.time_ms <= last)
    if len(series) != count or series[0].time_ms != first or series[-1].time_ms != last:
        raise BacktestError(f"{candles_file}: the candle file changed while the backtest ran")
    return series
