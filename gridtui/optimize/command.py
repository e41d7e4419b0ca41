"""``gridtui optimize``: run (or resume, or join) a study, then report its best settings.

The report answers "which settings, and did they hold up?": the ten best trials with their
in-sample score (the study's, and the engine replay's again as a check), their out-of-sample
score under walk-forward, and the whole run's net PnL, drawdown and round trips; it flags a
winner that did worse out of sample than the config's current settings.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from gridtui.backtest.command import coin_file, pick_bot
from gridtui.config.edit import SettingPath, Value
from gridtui.config.schema import AppConfig
from gridtui.core.child import cores
from gridtui.monitoring.progress import progress_bar
from gridtui.optimize import OptimizeError
from gridtui.optimize.confirmation import confirm_all
from gridtui.optimize.evaluator import Confirmed, Evaluator, Inputs
from gridtui.optimize.objective import Objective
from gridtui.optimize.space import config_values
from gridtui.optimize.study import (
    REFUSED_ATTR,
    SETTINGS_ATTR,
    StorageSpec,
    default_storage,
    finished,
    open_study,
    run,
)

if TYPE_CHECKING:
    import optuna

TOP = 10


@attrs.frozen(slots=True)
class OptimizeArgs:
    candles: str | None
    funding: str | None = None
    bot: str | None = None
    trials: int = 100
    jobs: int | None = None
    params: tuple[str, ...] = ()
    objective: str = Objective.NET_PNL.value
    walk_forward: int | None = None
    fill_model: str = "strict"
    study: str | None = None
    storage: str | None = None
    join: str | None = None
    json: bool = False
    write_config: Path | None = None
    plot: Path | None = None
    seed: int | None = None


@attrs.frozen(slots=True)
class Ranked:
    """One of the best trials, re-scored."""

    number: int
    settings: dict[str, Value]
    in_sample: float
    """The study's score."""
    in_sample_confirmed: float | None
    """The engine replay's score of the same settings, run again (the study's may come from
    the compiled evaluator)."""
    out_of_sample: float | None
    net_pnl: str
    max_drawdown: str
    round_trips: int

    @property
    def confirmed(self) -> bool:
        """The same score to the float's last digits: both evaluators book the same fills, but
        a ratio computed from float equities may differ in its 15th digit."""
        confirmed = self.in_sample_confirmed
        return confirmed is not None and math.isclose(
            confirmed, self.in_sample, rel_tol=1e-9, abs_tol=1e-9
        )


def run_optimize(config: AppConfig | None, args: OptimizeArgs) -> int:
    out = sys.stdout
    jobs = args.jobs or cores()
    if jobs < 1:
        raise OptimizeError(f"--jobs {jobs}: give 1 or more worker processes")
    if args.join is not None:
        return _join(args, jobs, out)
    if config is None or args.candles is None:
        raise OptimizeError("--candles FILE is needed (unless you --join a study)")
    if args.trials < 1:
        raise OptimizeError(f"--trials {args.trials}: give 1 or more")
    inputs = _inputs(config, args)
    # Checks the inputs before any study is made; here it only confirms with the engine
    # replay (the workers score the trials), so it builds no compiled evaluator's arrays.
    engine = Evaluator(inputs, fast=False)
    name = args.study or _default_name(inputs)
    spec = (
        StorageSpec.parse(args.storage)
        if args.storage is not None
        else default_storage(config.data_dir, name)
    )
    if args.plot is not None:
        from gridtui.optimize.plot import check_plot_path

        check_plot_path(args.plot)
    study, _ = open_study(spec, name, inputs)
    with _progress(inputs.trials, args.json) as on_progress:
        run(spec, name, jobs, on_progress)
    best = _best_trials(study)
    settings = [_paths(_settings(trial)) for trial in best] + [{}]  # and the config's own
    with _confirming(engine, len(settings), args.json) as progress:
        confirmed = confirm_all(engine, settings, jobs, progress)
    ranked = [_ranked(trial, c) for trial, c in zip(best, confirmed[:-1], strict=True)]
    baseline = _baseline(confirmed[-1])
    report = _report(study, spec, inputs, ranked, baseline)
    if args.write_config is not None and ranked:
        _write_config(args.write_config, inputs, ranked[0].settings)
        report["wrote_config"] = str(args.write_config)
    if args.plot is not None:
        from gridtui.optimize.plot import write_study_plot

        write_study_plot(args.plot, study, inputs.objective)
    if args.json:
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        _print(report, out)
    return 0


def _join(args: OptimizeArgs, jobs: int, out: TextIO) -> int:
    """Add workers to a study made elsewhere (``--storage`` names where it lives)."""
    if args.storage is None:
        raise OptimizeError(f"--join {args.join}: say where the study lives with --storage URL")
    name = args.join or ""
    spec = StorageSpec.parse(args.storage)
    study, inputs = open_study(spec, name, None)
    if args.candles is not None and Path(args.candles) != Path(inputs.candles_file):
        raise OptimizeError(
            f"--candles {args.candles}: study {name} was made on {inputs.candles_file}; "
            f"a joining worker reads the same file (put it at that path)"
        )
    with _progress(inputs.trials, args.json) as on_progress:
        run(spec, name, jobs, on_progress, seeded=False)
    out.write(f"study {name}: {finished(study)} of {inputs.trials} trials done\n")
    return 0


def _inputs(config: AppConfig, args: OptimizeArgs) -> Inputs:
    if config.source is None:
        raise OptimizeError("optimize needs a config file (--config FILE)")
    bot = pick_bot(config, args.bot)
    candles = coin_file(args.candles or "", "--candles", bot)
    funding = None if args.funding is None else coin_file(args.funding, "--funding", bot)
    source = Path(config.source)
    return Inputs(
        config_text=source.read_text(encoding="utf-8"),
        config_dir=str(source.absolute().parent),
        bot=bot.name,
        candles_file=str(candles.absolute()),
        funding_file=None if funding is None else str(funding.absolute()),
        params=args.params,
        objective=Objective(args.objective).value,
        walk_forward=args.walk_forward,
        fill_model=args.fill_model,
        trials=args.trials,
        seed=args.seed,
    )


def _default_name(inputs: Inputs) -> str:
    """The bot's name and a digest of every input but the trial count: the same command
    resumes its study, a changed one starts another."""
    body = {k: v for k, v in inputs.as_attrs().items() if k != "trials"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    return f"{inputs.bot}-{digest}"


def _best_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The ``TOP`` best trials with distinct settings (TPE tries settings again: the first
    trial stands for them)."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best = []
    seen: set[tuple[tuple[str, Value], ...]] = set()
    for trial in sorted(complete, key=lambda t: (-(t.value or 0.0), t.number)):
        if len(best) == TOP:
            break
        key = tuple(sorted(_settings(trial).items()))
        if key not in seen:
            seen.add(key)
            best.append(trial)
    return best


def _ranked(trial: optuna.trial.FrozenTrial, confirmed: Confirmed) -> Ranked:
    """A best trial re-run with the engine replay: the figures a trader reads are the
    engine's, and the study's score is confirmed (or marked) against it."""
    outside, whole = confirmed.out_of_sample, confirmed.whole
    return Ranked(
        number=trial.number,
        settings=_settings(trial),
        in_sample=float(trial.value or 0.0),
        in_sample_confirmed=confirmed.in_sample.value,
        out_of_sample=None if outside is None else outside.value,
        net_pnl=str(whole.net_pnl),
        max_drawdown=str(whole.max_drawdown),
        round_trips=whole.round_trips,
    )


def _settings(trial: optuna.trial.FrozenTrial) -> dict[str, Value]:
    return dict(trial.user_attrs.get(SETTINGS_ATTR, {}))


def _baseline(confirmed: Confirmed) -> dict[str, Any]:
    """The config's current settings, scored the same way: what a winner must beat."""
    outside, whole = confirmed.out_of_sample, confirmed.whole
    return {
        "in_sample": confirmed.in_sample.value,
        "out_of_sample": None if outside is None else outside.value,
        "net_pnl": str(whole.net_pnl),
        "max_drawdown": str(whole.max_drawdown),
        "round_trips": whole.round_trips,
    }


def _report(
    study: optuna.Study,
    spec: StorageSpec,
    inputs: Inputs,
    ranked: list[Ranked],
    baseline: dict[str, Any],
) -> dict[str, Any]:
    from optuna.trial import TrialState

    counts = {
        state.name.lower(): len(study.get_trials(deepcopy=False, states=(state,)))
        for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    }
    refused = [
        t.user_attrs[REFUSED_ATTR]
        for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
        if REFUSED_ATTR in t.user_attrs
    ]
    judged = "out_of_sample" if inputs.walk_forward is not None else "in_sample"
    winner = ranked[0] if ranked else None
    worse = (
        winner is not None
        and baseline[judged] is not None
        and (getattr(winner, judged) is None or getattr(winner, judged) < baseline[judged])
    )
    return {
        "study": study.study_name,
        "storage": spec.describe(),
        "bot": inputs.bot,
        "objective": inputs.objective,
        "walk_forward": inputs.walk_forward,
        "fill_model": inputs.fill_model,
        "trials": {
            "scored": counts["complete"],
            "refused": counts["pruned"],
            "failed": counts["fail"],
        },
        "refused_example": refused[0] if refused else None,
        "baseline": baseline,
        "top": [
            {
                "trial": r.number,
                "settings": r.settings,
                "in_sample": r.in_sample,
                "in_sample_confirmed": r.in_sample_confirmed,
                "confirmed": r.confirmed,
                "out_of_sample": r.out_of_sample,
                "net_pnl": r.net_pnl,
                "max_drawdown": r.max_drawdown,
                "round_trips": r.round_trips,
            }
            for r in ranked
        ],
        "winner_worse_than_current": worse,
        "judged_on": judged,
    }


def _print(report: Mapping[str, Any], out: TextIO) -> None:
    trials = report["trials"]
    out.write(
        f"study {report['study']} ({report['storage']}): bot {report['bot']}, objective "
        f"{report['objective']}, {report['fill_model']} fills, "
        + (
            f"walk-forward {report['walk_forward']} folds\n"
            if report["walk_forward"]
            else "no walk-forward (in sample only)\n"
        )
    )
    out.write(
        f"trials: {trials['scored']} scored, {trials['refused']} refused by the config or "
        f"undefined, {trials['failed']} failed\n"
    )
    if report["refused_example"]:
        out.write(f"  e.g. refused: {report['refused_example']}\n")
    header = ["#", "settings", "in-sample", "replayed", "out-of-sample", "net PnL", "max DD", "RTs"]
    rows = [header]
    base = report["baseline"]
    rows.append(
        [
            "now",
            "the config's current settings",
            _num(base["in_sample"]),
            "",
            _num(base["out_of_sample"]),
            base["net_pnl"],
            base["max_drawdown"],
            str(base["round_trips"]),
        ]
    )
    for top in report["top"]:
        settings = " ".join(f"{k.split('.', 1)[1]}={v}" for k, v in top["settings"].items())
        mark = "" if top["confirmed"] else " ≠"
        rows.append(
            [
                str(top["trial"]),
                settings,
                _num(top["in_sample"]),
                _num(top["in_sample_confirmed"]) + mark,
                _num(top["out_of_sample"]),
                top["net_pnl"],
                top["max_drawdown"],
                str(top["round_trips"]),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    if not report["top"]:
        out.write("no trial could be scored: see the refused reason above\n")
    elif report["winner_worse_than_current"]:
        out.write(
            f"warning: the best trial did worse {report['judged_on'].replace('_', ' ')} than "
            f"the config's current settings: do not take it over\n"
        )
    if any(not t["confirmed"] for t in report["top"]):
        out.write("≠: the engine replay gave another score than the study for these settings\n")
    if report.get("wrote_config"):
        out.write(f"wrote the best settings into {report['wrote_config']}\n")


def _write_config(path: Path, inputs: Inputs, settings: Mapping[str, Value]) -> None:
    from gridtui.config.edit import ConfigEditError, with_bot_settings, write_config
    from gridtui.config.loader import ConfigError, load_config_text

    text = with_bot_settings(inputs.config_text, inputs.bot, config_values(_paths(settings)))
    try:  # what check-config checks: a written config always loads
        load_config_text(text, base_dir=path.absolute().parent, source=str(path))
    except ConfigError as exc:
        raise OptimizeError(f"--write-config {path}: {exc.problems[0]}") from None
    try:
        write_config(path, text)
    except ConfigEditError as exc:
        raise OptimizeError(f"--write-config {exc}") from None


def _paths(settings: Mapping[str, Value]) -> dict[SettingPath, Value]:
    return {tuple(key.split(".", 1)): value for key, value in settings.items()}  # type: ignore[misc]


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


@contextmanager
def _confirming(
    engine: Evaluator, settings: int, quiet: bool
) -> Iterator[Callable[[int], None] | None]:
    """The engine replays of the best settings and the config's own, candle by candle: over a
    year of 1m candles they take many minutes after the trials' bar is gone."""
    total = settings * engine.confirmation_candles
    label = f"confirming {settings} settings with the engine replay"
    with progress_bar(label, total, show=not quiet) as bar:
        yield None if bar is None else lambda done: bar(done, None)


@contextmanager
def _progress(total: int, quiet: bool) -> Iterator[Any]:
    """Trials done, the best so far and time left."""
    with progress_bar("trials", total, show=not quiet) as bar:
        if bar is None:
            yield None
            return

        def update(study: optuna.Study) -> None:
            try:
                best = f"best {study.best_value:.4g}"
            except ValueError:
                best = "no score yet"
            bar(finished(study), f"trials ({best})")

        yield update
