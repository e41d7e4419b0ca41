"""``optimize --plot FILE``: the search as one picture (PNG, SVG or a standalone HTML page): the
objective of every trial with the best so far, each parameter's effect (its value against the
objective, one panel per parameter) and, with enough trials, the parameters' importance.

The panels are drawn here with matplotlib's object API from ``study.trials`` rather than with
``optuna.visualization.matplotlib``: Optuna's helpers each open their own pyplot figure (one
file needs them in one figure), go through pyplot's global state and backend, and are marked
experimental. A plain ``Figure`` on the Agg canvas needs no display and no global state, and the
same study draws the same file. The importances come from Optuna's own (stable) evaluator.

optuna and matplotlib are imported inside the functions: ``gridtui --help`` and every other
command never pay for them.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from gridtui.backtest.plot import html_page
from gridtui.core.files import write_atomically
from gridtui.optimize import OptimizeError

if TYPE_CHECKING:
    import optuna
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from optuna.trial import FrozenTrial

log = logging.getLogger(__name__)

PLOT_TYPES = (".png", ".svg", ".html")
MIN_IMPORTANCE_TRIALS = 10
"""Completed trials before importances are drawn: with fewer, PED-ANOVA's top quantile is one or
two trials, and the bars would be noise presented as a finding."""
SLICES_PER_ROW = 3


def check_plot_path(path: Path) -> str:
    """The picture type of ``path`` (its extension), checked before the search runs so a typo
    costs nothing."""
    kind = path.suffix.lower()
    if kind not in PLOT_TYPES:
        raise OptimizeError(
            f"--plot {path}: unknown picture type '{path.suffix}'; use .png, .svg or .html"
        )
    folder = path.parent
    if not folder.is_dir():
        raise OptimizeError(f"--plot {path}: cannot write (no folder {folder})")
    return kind


def write_study_plot(path: Path, study: optuna.Study, objective_name: str) -> None:
    """Draws ``study`` (single-objective) to ``path``; ``objective_name`` labels its values."""
    kind = check_plot_path(path)
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    search = _search(study, objective_name)
    importances = _importances(study, search)
    # svg.fonttype none: text stays text (searchable, small); the salt: the same study gives the
    # same SVG ids, byte for byte.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "gridtui"}):
        figure = _figure(search, importances)
        FigureCanvasAgg(figure)  # explicit non-interactive backend: no display needed
        buffer = io.BytesIO()
        save_as = "png" if kind == ".png" else "svg"
        metadata: dict[str, Any] = {"Software": None} if kind == ".png" else {"Date": None}
        figure.savefig(buffer, format=save_as, dpi=100, metadata=metadata)
    data = buffer.getvalue()
    if kind == ".html":
        data = _html(search, data.decode("utf-8")).encode("utf-8")
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise OptimizeError(f"--plot {path}: cannot write ({exc.strerror or exc})") from None


@attrs.frozen(slots=True)
class _Search:
    """What the picture shows of a study, read from its storage once."""

    name: str
    objective: str
    maximize: bool
    trials: tuple[FrozenTrial, ...]
    """Every trial, whatever its state (for the counts)."""
    done: tuple[FrozenTrial, ...]
    """Completed trials with a finite value: an infinite one has no place on an axis."""
    params: tuple[str, ...]
    """Parameter names in the order the trials first suggested them."""
    best: FrozenTrial | None
    """The best of ``done``; of equal values, the earliest."""


def _search(study: optuna.Study, objective_name: str) -> _Search:
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    if len(study.directions) != 1:
        raise ValueError("write_study_plot draws single-objective studies only")
    maximize = study.direction is StudyDirection.MAXIMIZE
    trials = tuple(study.get_trials(deepcopy=False))
    done = tuple(
        t
        for t in trials
        if t.state is TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)
    )
    pick = max if maximize else min
    return _Search(
        name=study.study_name,
        objective=objective_name,
        maximize=maximize,
        trials=trials,
        done=done,
        params=tuple(dict.fromkeys(name for trial in done for name in trial.params)),
        best=pick(done, key=_value) if done else None,
    )


def _value(trial: FrozenTrial) -> float:
    return float(trial.value if trial.value is not None else math.nan)


def _importances(study: optuna.Study, search: _Search) -> dict[str, float]:
    """Each parameter's importance for reaching the best 10% of trials, or {} when it would
    mislead (one parameter, few trials) or Optuna cannot tell: the panel is an extra."""
    if len(search.params) < 2 or len(search.done) < MIN_IMPORTANCE_TRIALS:
        return {}
    if len({_value(t) for t in search.done}) < 2:
        return {}  # nothing to explain: Optuna would still split the bars evenly
    import optuna

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning, few-trials warnings
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except Exception:  # optional panel: any failure only leaves it out
        log.debug("no parameter importances for study %s", search.name, exc_info=True)
        return {}
    return {name: value for name, value in found.items() if math.isfinite(value)}


def _figure(search: _Search, importances: dict[str, float]) -> Figure:
    from matplotlib.figure import Figure

    params = search.params
    columns = max(1, min(SLICES_PER_ROW, len(params)))
    rows = 1 + math.ceil(len(params) / columns) + (1 if importances else 0)
    figure = Figure(figsize=(12, 1.0 + 3.2 * rows), layout="constrained")
    figure.suptitle(_title(search))
    grid = figure.add_gridspec(rows, columns)
    _history(figure.add_subplot(grid[0, :]), search)
    slices = [
        figure.add_subplot(grid[1 + index // columns, index % columns])
        for index in range(len(params))
    ]
    for index, (axes, name) in enumerate(zip(slices, params, strict=True)):
        mappable = _slice(axes, search, name)
        if index % columns == 0:
            axes.set_ylabel(search.objective)
    if slices:
        figure.colorbar(mappable, ax=slices, label="trial", shrink=0.9)
    if importances:
        _importance(figure.add_subplot(grid[rows - 1, :]), importances)
    return figure


def _history(axes: Axes, search: _Search) -> None:
    better = "higher" if search.maximize else "lower"
    axes.set_title(f"optimization history ({better} is better)", fontsize=10)
    axes.set_xlabel("trial")
    axes.set_ylabel(search.objective)
    axes.grid(True, linewidth=0.3, alpha=0.5)
    if not search.done:
        axes.text(0.5, 0.5, "no completed trial to draw", ha="center", va="center",
                  transform=axes.transAxes)  # fmt: skip
        return
    numbers = [t.number for t in search.done]
    values = [_value(t) for t in search.done]
    best: list[float] = []
    for value in values:
        better_now = not best or (value > best[-1] if search.maximize else value < best[-1])
        best.append(value if better_now else best[-1])
    axes.scatter(numbers, values, s=14, color="tab:blue", label=search.objective, zorder=3)
    axes.step(numbers, best, where="post", color="tab:red", linewidth=1.2, label="best so far")
    axes.legend(loc="best", fontsize=8)


def _slice(axes: Axes, search: _Search, name: str) -> Any:
    """One parameter's effect: its value in each trial against the objective, coloured by
    trial number (later = darker: where the sampler settled). Categorical values (and any
    axis whose values are not all numbers, as after a changed search space) sit at even
    positions in the order of the last trial's choices."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    having = [t for t in search.done if name in t.params]
    values = [t.params[name] for t in having]
    distribution = having[-1].distributions[name]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if numeric and not isinstance(distribution, CategoricalDistribution):
        xs = [float(v) for v in values]
        if isinstance(distribution, FloatDistribution | IntDistribution) and distribution.log:
            _log_axis(axes)
    else:
        known = distribution.choices if isinstance(distribution, CategoricalDistribution) else ()
        labels = list(dict.fromkeys([*map(_label, known), *map(_label, values)]))
        xs = [float(labels.index(_label(v))) for v in values]
        axes.set_xticks(range(len(labels)), labels)
        axes.set_xlim(-0.5, len(labels) - 0.5)
    ys = [_value(t) for t in having]
    mappable = axes.scatter(
        xs, ys, c=[t.number for t in having], cmap="Blues", vmin=0,
        vmax=max(len(search.trials) - 1, 1), s=22, edgecolors="grey", linewidths=0.5, zorder=3,
    )  # fmt: skip
    best = search.best
    if best is not None and best in having:
        index = having.index(best)
        axes.scatter([xs[index]], [ys[index]], marker="*", s=120, color="tab:red", zorder=4,
                     label=f"best (trial {best.number})")  # fmt: skip
        axes.legend(loc="best", fontsize=8)
    axes.set_title(name, fontsize=10)
    axes.grid(True, linewidth=0.3, alpha=0.5)
    return mappable


def _log_axis(axes: Axes) -> None:
    """A log x axis labelled 0.05, 0.1, 0.2, 0.5 (a search range rarely spans many decades:
    matplotlib's default leaves one label, or crowds 2x10^-1 on every minor tick)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())


def _importance(axes: Axes, importances: dict[str, float]) -> None:
    names = list(importances)[::-1]  # most important on top
    values = [importances[name] for name in names]
    bars = axes.barh(names, values, color="tab:blue")
    axes.bar_label(bars, labels=[f"{value:.2f}" for value in values], padding=3, fontsize=8)
    axes.set_xlim(0, max(1.0, max(values) * 1.1))
    axes.set_title(
        "parameter importance: share in reaching the best 10% of trials (PED-ANOVA)", fontsize=10
    )
    axes.grid(True, axis="x", linewidth=0.3, alpha=0.5)


def _label(choice: Any) -> str:
    if isinstance(choice, bool):
        return "true" if choice else "false"
    return str(choice)


def _title(search: _Search) -> str:
    return (
        f"gridtui optimize: {search.name}\n"
        f"{search.objective} ({'maximize' if search.maximize else 'minimize'}), "
        f"{_counts(search)}, {_found(search)}"
    )


def _found(search: _Search) -> str:
    best = search.best
    return (
        "no completed trial" if best is None else f"best {_value(best):.6g} (trial {best.number})"
    )


def _counts(search: _Search) -> str:
    from optuna.trial import TrialState

    states = [t.state for t in search.trials]
    text = f"{len(search.done)} of {len(states)} trials drawn"
    counts = {
        "pruned": states.count(TrialState.PRUNED),
        "failed": states.count(TrialState.FAIL),
        "not finite": states.count(TrialState.COMPLETE) - len(search.done),
    }
    others = [f"{count} {word}" for word, count in counts.items() if count]
    return f"{text} ({', '.join(others)})" if others else text


def _html(search: _Search, svg: str) -> str:
    heading = f"gridtui optimize: {search.name}"
    facts = [
        ("objective", f"{search.objective} ({'maximize' if search.maximize else 'minimize'})"),
        ("trials", _counts(search)),
        ("result", _found(search)),
    ]
    if search.best is not None:
        facts += [(name, _label(value)) for name, value in search.best.params.items()]
    return html_page(heading, facts, svg)
