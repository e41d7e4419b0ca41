"""Scores a bot's settings over the folds' candles: with the compiled mirror of the engine
(``fast_replay``) where it can promise the engine replay's fills, else with the engine replay.

One evaluator per process holds the candles (loaded once, not per trial, and turned into the
kernel's arrays once), the folds and the inputs. A trial's settings are set in the parsed config
where ``--write-config`` would write them and validated exactly as check-config validates a file,
so a trial can only ever run settings a trader could put in the config; settings the config
refuses (an order below the venue's minimum, say) are a refused trial with the config's own
reason, never a silent fix.
"""

from __future__ import annotations

import contextlib
import copy
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs

from gridtui.backtest import BacktestError
from gridtui.backtest.replay import ReplayOptions, replay, size_decimals
from gridtui.backtest.report import BacktestReport, build_report, report_of
from gridtui.config.edit import SettingPath, Value, bot_index, set_bot_values, with_bot_settings
from gridtui.config.loader import ConfigError, load_config_data, load_config_text
from gridtui.config.schema import AppConfig, BotSettings
from gridtui.exchanges.sim import CandleSeries, FundingRate, load_candles, load_funding
from gridtui.exchanges.sim.vocabulary import FillModel
from gridtui.optimize import OptimizeError
from gridtui.optimize.fast_replay import CandleArrays, FastRun, candle_arrays, fast_replay
from gridtui.optimize.folds import Fold, walk_forward
from gridtui.optimize.objective import Objective, mean_score
from gridtui.optimize.space import Param, check_space, config_values, parse_params


@attrs.frozen(slots=True)
class Inputs:
    """Everything a worker needs to score trials, kept in the study itself: a worker that joins
    from another machine gets the same config, bot, search space and objective (only the data
    files must be there too)."""

    config_text: str
    config_dir: str
    """Where the config's relative paths resolve."""
    bot: str
    candles_file: str
    funding_file: str | None
    params: tuple[str, ...]
    """The ``--param`` specs as given (empty: the default space)."""
    objective: str
    walk_forward: int | None
    fill_model: str
    trials: int
    seed: int | None

    def as_attrs(self) -> dict[str, object]:
        return attrs.asdict(self)

    @classmethod
    def from_attrs(cls, stored: Mapping[str, object]) -> Inputs:
        names = [field.name for field in attrs.fields(cls)]
        missing = [name for name in names if name not in stored]
        if missing:
            raise OptimizeError(
                f"the study holds no gridtui optimize inputs ({', '.join(missing)} missing): "
                f"was it made by gridtui optimize?"
            )
        values = {name: stored[name] for name in names}
        values["params"] = tuple(values["params"])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]

    def differences(self, other: Inputs) -> list[str]:
        """The inputs (besides the trial count) that differ: a study must not mix trials
        scored on other data or settings."""
        return [
            field.name
            for field in attrs.fields(Inputs)
            if field.name != "trials" and getattr(self, field.name) != getattr(other, field.name)
        ]


class RefusedSettings(Exception):
    """The config refuses a trial's settings; the message is its reason."""


@attrs.frozen(slots=True)
class Scored:
    value: float | None
    """None: the objective is undefined for these settings (see ``objective.score``)."""
    reports: tuple[BacktestReport, ...]


@attrs.frozen(slots=True)
class Confirmed:
    """One set of settings scored for the report: in sample, out of sample, every candle."""

    in_sample: Scored
    out_of_sample: Scored | None
    whole: BacktestReport


KERNEL_LOAD_CANDLES = 2
"""Candles the kernel is first run over to load it (as few as make a market walk)."""


class Evaluator:
    """Scores settings on the folds of one set of candles. ``fast_runs`` and ``engine_runs``
    count the runs each evaluator made; ``fallbacks`` why the engine replay had to score;
    ``candles_replayed`` the candles the engine replay went through, which ``on_replayed``
    (when set) hears candle by candle: minutes of replays show progress. ``fast``: score with
    the compiled evaluator where it models the settings (its arrays built and its code loaded
    now); without it, with the engine replay alone."""

    def __init__(self, inputs: Inputs, *, fast: bool = True) -> None:
        self.inputs = inputs
        self.params: tuple[Param, ...] = parse_params(inputs.params)
        self.objective = Objective(inputs.objective)
        self.fill_model = FillModel(inputs.fill_model)
        self.candles_file = Path(inputs.candles_file)
        self.series: CandleSeries = load_candles(self.candles_file)
        self.funding: tuple[FundingRate, ...] | None = (
            None if inputs.funding_file is None else load_funding(Path(inputs.funding_file))
        )
        self.folds: tuple[Fold, ...] = walk_forward(self.series, inputs.walk_forward)
        # The config's own settings must load, or nothing can be scored; and the searched ones
        # must fit its layout, or --write-config could not write the winner.
        try:
            load_config_text(inputs.config_text, base_dir=Path(inputs.config_dir), source="config")
        except ConfigError as exc:
            raise RefusedSettings("; ".join(exc.problems)) from None
        self._raw = tomllib.loads(inputs.config_text)
        self._bot_index = bot_index(self._raw, inputs.bot)
        check_space(self.params, inputs.bot, self._raw["bots"][self._bot_index].get("grid", {}))
        sample = config_values({p.path: _sample(p) for p in self.params})
        with_bot_settings(inputs.config_text, inputs.bot, sample)
        self.fast = fast
        self.fast_runs = 0
        self.engine_runs = 0
        self.fallbacks: Counter[str] = Counter()
        self.candles_replayed = 0
        self.on_replayed: Callable[[int], None] | None = None
        self._arrays: dict[tuple[int, int], tuple[CandleSeries, CandleArrays]] = {}
        if fast:
            self._prepare()

    def _prepare(self) -> None:
        """The kernel's arrays of the in-sample parts, built now, and the compiled kernel
        loaded (numba reads it from its cache at its first run: ~0.6 s, which was the first
        trial's) by a run of the config's own settings over the first candles, when the kernel
        models them (else the first modelled trial loads it): part of loading, once per
        process, not a trial's cost (the coin's size precision cannot change between trials).
        A config without it fails every trial with the replay's own message."""
        config, bot = self.settings({})
        options = ReplayOptions(fill_model=self.fill_model)
        with contextlib.suppress(BacktestError):
            decimals = size_decimals(config, bot, options)
            for fold in self.folds:
                self._arrays_of(fold.in_sample, decimals, options)
            first = CandleSeries.of(self.series.candles[:KERNEL_LOAD_CANDLES])
            fast_replay(config, bot, candle_arrays(first, decimals, options), None, options)

    def settings(self, values: Mapping[SettingPath, Value]) -> tuple[AppConfig, BotSettings]:
        """The config and the bot's settings with ``values`` applied, as the loader builds
        them from the text ``with_bot_settings`` writes."""
        raw = copy.deepcopy(self._raw)
        set_bot_values(raw["bots"][self._bot_index], config_values(values))
        try:
            config = load_config_data(
                raw, base_dir=Path(self.inputs.config_dir), source="trial settings"
            )
        except ConfigError as exc:
            raise RefusedSettings("; ".join(exc.problems)) from None
        return config, next(b for b in config.bots if b.name == self.inputs.bot)

    def in_sample(self, values: Mapping[SettingPath, Value]) -> Scored:
        return self._score(values, [fold.in_sample for fold in self.folds])

    def out_of_sample(self, values: Mapping[SettingPath, Value]) -> Scored | None:
        parts = [fold.out_of_sample for fold in self.folds if fold.out_of_sample is not None]
        return self._score(values, parts) if parts else None

    def whole(self, values: Mapping[SettingPath, Value]) -> BacktestReport:
        """The settings over every candle: the figures a trader compares."""
        return self._score(values, [self.series]).reports[0]

    def confirm(self, values: Mapping[SettingPath, Value]) -> Confirmed:
        """In sample, out of sample and over every candle. Without walk-forward the one
        in-sample part is every candle, and its run is the whole run (the same settings over
        the same candles replay the same fills): it is not run twice."""
        inside = self.in_sample(values)
        outside = self.out_of_sample(values)
        whole = inside.reports[0] if self._in_sample_is_whole else self.whole(values)
        return Confirmed(inside, outside, whole)

    @property
    def confirmation_candles(self) -> int:
        """The candles one ``confirm`` replays."""
        parts = [fold.in_sample for fold in self.folds]
        parts += [fold.out_of_sample for fold in self.folds if fold.out_of_sample is not None]
        whole = 0 if self._in_sample_is_whole else len(self.series)
        return sum(len(part) for part in parts) + whole

    @property
    def _in_sample_is_whole(self) -> bool:
        return len(self.folds) == 1 and self.folds[0].in_sample is self.series

    def _score(self, values: Mapping[SettingPath, Value], parts: Sequence[CandleSeries]) -> Scored:
        config, bot = self.settings(values)
        options = ReplayOptions(fill_model=self.fill_model)
        reports = [self._report(config, bot, part, options) for part in parts]
        return Scored(mean_score(reports, self.objective), tuple(reports))

    def _report(
        self, config: AppConfig, bot: BotSettings, part: CandleSeries, options: ReplayOptions
    ) -> BacktestReport:
        model, path = self.fill_model.value, options.path.value
        if self.fast:
            arrays = self._arrays_of(part, size_decimals(config, bot, options), options)
            run = fast_replay(config, bot, arrays, self.funding, options)
            if isinstance(run, FastRun):
                self.fast_runs += 1
                figures = run.figures(bot, config.venue.paper.starting_balance, arrays)
                return report_of(figures, part, fill_model=model, path=path)
            self.fallbacks[run.reason] += 1
        self.engine_runs += 1
        start, heard = self.candles_replayed, self.on_replayed
        progress = None if heard is None else lambda done: heard(start + done)
        replayed = replay(config, bot, self.candles_file, part, self.funding, options, progress)
        self.candles_replayed = start + len(part)
        return build_report(replayed, part, fill_model=model, path=path)

    def _arrays_of(
        self, part: CandleSeries, sz_decimals: int, options: ReplayOptions
    ) -> CandleArrays:
        key = (id(part), sz_decimals)
        known = self._arrays.get(key)
        if known is None:  # the part is kept with its arrays, so its id stays its own
            known = self._arrays[key] = (part, candle_arrays(part, sz_decimals, options))
        return known[1]


def _sample(param: Param) -> Value:
    """A value of ``param`` to write: its low end, or its first choice."""
    if param.choices:
        return param.choices[0]
    assert param.low is not None
    return int(param.low) if param.integer else float(param.low)
