"""The best settings confirmed by the engine replay, on as many processes as ``--jobs``.

Every confirmation replays the engine over every candle (in sample, out of sample, whole): on a
year of 1m candles, minutes each, for the ten best settings and the config's own. They do not
depend on one another, so ``--jobs`` workers share them: each loads the candles and checks the
inputs as this process did, confirms its share in order, and sends the figures back. What the
report shows is what one process would have computed, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack

from gridtui.config.edit import SettingPath, Value
from gridtui.core.child import Child, Report
from gridtui.monitoring.progress import throttled
from gridtui.optimize import OptimizeError
from gridtui.optimize.evaluator import Confirmed, Evaluator, Inputs

Settings = Mapping[SettingPath, Value]

IN_WORKERS_FROM_CANDLES = 100_000
"""Candles of all confirmations together (about half a minute of replay) from which they run in
worker processes: a worker costs a few seconds to start and load, which shorter runs would not
win back."""


def confirm_all(
    engine: Evaluator,
    settings: Sequence[Settings],
    jobs: int,
    progress: Callable[[int], None] | None = None,
) -> list[Confirmed]:
    """``engine.confirm`` of each of ``settings``, in order; ``progress`` hears the candles
    replayed so far (of ``len(settings) × engine.confirmation_candles``)."""
    jobs = min(jobs, len(settings))
    if jobs <= 1 or len(settings) * engine.confirmation_candles < IN_WORKERS_FROM_CANDLES:
        engine.on_replayed = progress
        try:
            return [engine.confirm(values) for values in settings]
        finally:
            engine.on_replayed = None
    shares = [list(range(len(settings)))[number::jobs] for number in range(jobs)]
    with ExitStack() as stack:
        children = [
            stack.enter_context(
                Child(
                    _confirm_share,
                    engine.inputs,
                    engine.series.span,
                    [settings[index] for index in share],
                    name=f"confirmation worker {number + 1} of {jobs}",
                    hint="run again with --jobs 1 to see why",
                    failure=OptimizeError,
                )
            )
            for number, share in enumerate(shares)
        ]
        answers = Child.results(children, progress)
    confirmed: dict[int, Confirmed] = {}
    for share, answer in zip(shares, answers, strict=True):
        confirmed.update(zip(share, answer, strict=True))
    return [confirmed[index] for index in range(len(settings))]


def _confirm_share(
    report: Report, inputs: Inputs, span: tuple[int, int, int], settings: Sequence[Settings]
) -> list[Confirmed]:
    """One worker: the engine over the same candles, its share of the settings in order."""
    engine = Evaluator(inputs, fast=False)
    if engine.series.span != span:
        raise OptimizeError(
            f"{inputs.candles_file}: the candle file changed while optimize ran; run it again"
        )
    engine.on_replayed = throttled(report, len(settings) * engine.confirmation_candles)
    return [engine.confirm(values) for values in settings]
