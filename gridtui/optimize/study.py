"""The Optuna study: where it lives, who works on it, and what one trial does.

A study is stored, never held in memory only: by default in an Optuna journal file under the data
dir (an interrupted run resumes), or in any database Optuna speaks (``--storage postgresql://…``),
where workers on other machines join it (``--join``). Every worker is a process of its own that
loads the candles once and asks the storage for its next trial; the search itself is Optuna's
(TPE), nothing home-made. The study keeps its inputs, so a joining worker scores trials on exactly
the same config, bot, search space and objective.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from gridtui.core.child import sigint_ignored_by_children
from gridtui.optimize import OptimizeError
from gridtui.optimize.evaluator import Evaluator, Inputs, RefusedSettings
from gridtui.optimize.space import suggest

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

INPUTS_ATTR = "gridtui_inputs"
SETTINGS_ATTR = "settings"
"""Per trial: the settings it ran, as ``{"grid.levels": 7, ...}``."""
REFUSED_ATTR = "refused"
"""Per refused trial: why (the config's reason, or an undefined objective)."""
POLL_S = 0.5


@attrs.frozen(slots=True)
class StorageSpec:
    """Where the study lives, in a form a spawned worker can reopen."""

    url: str | None = None
    journal: str | None = None

    @classmethod
    def parse(cls, value: str) -> StorageSpec:
        """``--storage``: an Optuna database URL (``postgresql://…``, ``sqlite:///…``), or the
        path of a journal file (shared through a network folder, or by processes here)."""
        if "://" in value:
            return cls(url=value)
        return cls(journal=str(Path(value).absolute()))

    def describe(self) -> str:
        return self.url if self.url is not None else f"journal file {self.journal}"

    def open(self) -> optuna.storages.BaseStorage:
        import optuna
        from optuna.storages.journal import JournalFileBackend

        if self.url is None:
            path = Path(self.journal or "")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
            except OSError as exc:
                raise OptimizeError(
                    f"{path}: cannot open the study's journal file ({exc.strerror or exc})"
                ) from None
        try:
            return optuna.storages.get_storage(self.url)
        except ImportError:
            raise OptimizeError(
                f"--storage {self.url}: the database driver is not installed; for PostgreSQL: "
                f"pip install 'gridtui[postgres]'"
            ) from None
        except Exception as exc:  # Optuna/SQLAlchemy raise many kinds for a bad URL
            raise OptimizeError(
                f"--storage {self.url}: cannot open it ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})"
            ) from None


def default_storage(data_dir: Path, study: str) -> StorageSpec:
    return StorageSpec(journal=str(data_dir / "optimize" / f"{study}.journal"))


def open_study(spec: StorageSpec, name: str, inputs: Inputs | None) -> tuple[optuna.Study, Inputs]:
    """The study ``name``: made with ``inputs`` if new, resumed if it holds the same inputs,
    joined (``inputs`` None) with the inputs it holds."""
    import optuna

    quiet_optuna()
    if inputs is None and spec.journal is not None and not Path(spec.journal).is_file():
        raise OptimizeError(f"--join {name}: no journal file {spec.journal} to join")
    storage = spec.open()
    if inputs is None:
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            raise OptimizeError(
                f"--join {name}: no such study in {spec.describe()}" + _names(storage)
            ) from None
        return study, Inputs.from_attrs(study.user_attrs.get(INPUTS_ATTR, {}))  # type: ignore[arg-type]
    study = optuna.create_study(
        study_name=name, storage=storage, direction="maximize", load_if_exists=True
    )
    stored = study.user_attrs.get(INPUTS_ATTR)
    if stored is None:
        study.set_user_attr(INPUTS_ATTR, inputs.as_attrs())
        return study, inputs
    held = Inputs.from_attrs(stored)
    changed = held.differences(inputs)
    if changed:
        raise OptimizeError(
            f"--study {name}: the study in {spec.describe()} was made with other "
            f"{', '.join(changed)}; give the same inputs to resume it, or another --study"
        )
    if held.trials != inputs.trials:
        study.set_user_attr(INPUTS_ATTR, inputs.as_attrs())  # more (or fewer) trials asked
    return study, inputs


def run(
    spec: StorageSpec,
    name: str,
    jobs: int,
    on_progress: Callable[[optuna.Study], None] | None = None,
    *,
    seeded: bool = True,
) -> None:
    """Work on the study until it holds its number of finished trials: here with ``jobs`` 1,
    else in ``jobs`` worker processes while this one reports progress. Workers only see
    finished trials (a trial left running by a killed run never ends), so each may start one
    more as the count is reached: a study can end up to ``jobs`` − 1 trials past it, and the
    report counts what ran. ``seeded``: the
    workers' samplers take the study's seed (its maker's workers); a worker that joins from
    elsewhere draws its own, or it would repeat the maker's trials."""
    if jobs == 1:
        work(spec, name, 0 if seeded else None, on_progress)
        return
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=work, args=(spec, name, number if seeded else None), name=f"optimize-{number}"
        )
        for number in range(jobs)
    ]
    try:
        # Ctrl-C is this process's to handle (it ends the workers here, without a traceback
        # from each); one that comes while they start lands once they all can be ended.
        with sigint_ignored_by_children():
            for worker in workers:
                worker.start()
        study, _ = open_study(spec, name, None)
        while any(worker.is_alive() for worker in workers):
            if on_progress is not None:
                on_progress(study)
            time.sleep(POLL_S)
    finally:
        for worker in workers:
            if worker.pid is None:
                continue  # never started
            if worker.is_alive():
                worker.terminate()
            worker.join()
    failed = [w.name for w in workers if w.exitcode not in (0, None)]
    if failed:
        raise OptimizeError(
            f"{len(failed)} of {jobs} optimize workers stopped on an error (see the log above); "
            f"run the same command again to resume the study"
        )
    if on_progress is not None:
        on_progress(study)


def work(
    spec: StorageSpec,
    name: str,
    number: int | None,
    on_progress: Callable[[optuna.Study], None] | None = None,
) -> None:
    """One worker: load the candles once, then take trials until the study has enough.
    ``number`` offsets the study's seed (None: no seed)."""
    import optuna

    study, inputs = open_study(spec, name, None)
    seed = None if inputs.seed is None or number is None else inputs.seed + number
    study.sampler = optuna.samplers.TPESampler(seed=seed)
    if finished(study) >= inputs.trials:
        return
    evaluator = Evaluator(inputs)

    def after(done: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        # Finished trials only: a trial left running by an interrupted run never ends, and
        # counting it would stop a resumed study short.
        if on_progress is not None:
            on_progress(done)
        if finished(done) >= inputs.trials:
            done.stop()

    study.optimize(lambda trial: score_trial(evaluator, trial), callbacks=[after])


def score_trial(evaluator: Evaluator, trial: optuna.Trial) -> float:
    """One trial: Optuna picks the settings, the evaluator scores them in sample."""
    import optuna

    values = suggest(trial, evaluator.params)
    trial.set_user_attr(SETTINGS_ATTR, {f"{table}.{key}": v for (table, key), v in values.items()})
    try:
        scored = evaluator.in_sample(values)
    except RefusedSettings as exc:
        trial.set_user_attr(REFUSED_ATTR, str(exc))
        raise optuna.TrialPruned(str(exc)) from None
    if scored.value is None:
        reason = f"{evaluator.objective} is undefined for these settings"
        trial.set_user_attr(REFUSED_ATTR, reason)
        raise optuna.TrialPruned(reason)
    return scored.value


def finished(study: optuna.Study) -> int:
    """Trials that ran to an end (scored or refused): what the trial count counts."""
    from optuna.trial import TrialState

    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return len(study.get_trials(deepcopy=False, states=done))


def quiet_optuna() -> None:
    """Optuna logs every trial at INFO; the progress bar and the report say what matters."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _names(storage: optuna.storages.BaseStorage) -> str:
    names = [s.study_name for s in storage.get_all_studies()]
    return f" (studies there: {', '.join(names)})" if names else " (it holds none)"
