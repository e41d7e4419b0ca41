"""A replay in a process of its own, so ``--fill-model both`` runs its two models at once.

The replay is one engine over one clock and cannot be split, but the two fill models are two
independent replays of the same candles: on a machine with a second core, the second model runs
in a spawned child while this process runs the first, and the pair takes about as long as one.
The child reads the same candles from the same file (its parsed cache, written by the parent)
and sends its ``Replay`` back whole, so what the report, the pictures and the fills file see is
exactly what an in-process run gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gridtui.backtest import BacktestError
from gridtui.backtest.replay import Replay, ReplayOptions, replay
from gridtui.config.schema import AppConfig, BotSettings
from gridtui.core.child import Child, Report
from gridtui.exchanges.sim import CandleSeries, FundingRate, load_candles
from gridtui.monitoring.progress import throttled


def replay_in_child(
    config: AppConfig,
    bot: BotSettings,
    candles_file: Path,
    series: CandleSeries,
    funding: Sequence[FundingRate] | None,
    options: ReplayOptions,
) -> Child[Replay]:
    """``replay(...)`` of ``series`` in a spawned process, its count the candles done."""
    model = options.fill_model.value
    return Child(
        _replay_same_candles,
        config,
        bot,
        candles_file,
        series.span,
        funding,
        options,
        name=f"{model} replay",
        hint=f"run again with --fill-model {model} to see why",
        failure=BacktestError,
    )


def _replay_same_candles(
    report: Report,
    config: AppConfig,
    bot: BotSettings,
    candles_file: Path,
    span: tuple[int, int, int],
    funding: Sequence[FundingRate] | None,
    options: ReplayOptions,
) -> Replay:
    series = _same_candles(candles_file, span)
    return replay(config, bot, candles_file, series, funding, options, throttled(report, span[2]))


def _same_candles(candles_file: Path, span: tuple[int, int, int]) -> CandleSeries:
    """The parent's candles: the file's, from ``span``'s first to its last time (a
    ``--from``/``--to`` range keeps a run of consecutive candles), checked by their count."""
    first, last, count = span
    whole = load_candles(candles_file)
    if len(whole) == count:
        series = whole
    else:
        series = CandleSeries.of(c for c in whole if first <= c.time_ms <= last)
    if not series or series.span != span:
        raise BacktestError(f"{candles_file}: the candle file changed while the backtest ran")
    return series
