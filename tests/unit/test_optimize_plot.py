"""optimize --plot: the study as one PNG, SVG or standalone HTML file, checked before the search."""

from __future__ import annotations

import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import optuna
import pytest

from gridtui.optimize import OptimizeError
from gridtui.optimize.plot import check_plot_path, write_study_plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def toy_study(trials: int, params: int = 2) -> optuna.Study:
    """A seeded in-memory study of a toy objective: best near spacing 0.3 and many levels."""

    def objective(trial: optuna.Trial) -> float:
        spacing = trial.suggest_float("grid.spacing_pct", 0.05, 1.0, log=True)
        value = -((spacing - 0.3) ** 2)
        if params > 1:
            value += trial.suggest_int("grid.levels", 2, 20) / 100
        return value

    study = optuna.create_study(
        study_name="toy", direction="maximize", sampler=optuna.samplers.TPESampler(seed=3)
    )
    study.optimize(objective, n_trials=trials)
    return study


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    return toy_study(15)


def svg_text(path: Path) -> str:
    """The SVG's text elements (fonttype none keeps labels as text), for what was drawn."""
    root = ET.parse(path).getroot()
    return " ".join(node.text or "" for node in root.iter() if node.tag.endswith("text"))


def test_png(tmp_path: Path, study: optuna.Study) -> None:
    path = tmp_path / "study.png"
    write_study_plot(path, study, "net PnL")

    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert [p.name for p in tmp_path.iterdir()] == ["study.png"]  # no temp file left


def test_svg_draws_history_each_parameter_and_importance(
    tmp_path: Path, study: optuna.Study
) -> None:
    path = tmp_path / "study.svg"
    write_study_plot(path, study, "net PnL")

    assert ET.parse(path).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    drawn = svg_text(path)
    for expected in (
        "optimization history",
        "best so far",
        "grid.spacing_pct",
        "grid.levels",
        "parameter importance",
        "15 of 15 trials drawn",
    ):
        assert expected in drawn


def test_the_same_study_draws_the_same_svg(tmp_path: Path, study: optuna.Study) -> None:
    first, second = tmp_path / "a.svg", tmp_path / "b.svg"
    write_study_plot(first, study, "net PnL")
    write_study_plot(second, study, "net PnL")

    assert first.read_bytes() == second.read_bytes()


def test_html_is_a_standalone_page_without_script(tmp_path: Path, study: optuna.Study) -> None:
    path = tmp_path / "study.html"
    write_study_plot(path, study, "net <PnL>")

    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert "<script" not in page.lower()
    assert "<?xml" not in page  # the SVG file's prolog has no place inside a page
    assert "<tr><th>objective</th><td>net &lt;PnL&gt; (maximize)</td></tr>" in page
    best = study.best_trial
    assert f"<th>grid.levels</th><td>{best.params['grid.levels']}</td>" in page
    svg = page[page.index("<svg") : page.index("</svg>") + len("</svg>")]
    assert ET.fromstring(svg).tag.endswith("svg")


def test_few_trials_or_one_parameter_leave_importance_out(tmp_path: Path) -> None:
    few, one = tmp_path / "few.svg", tmp_path / "one.svg"
    write_study_plot(few, toy_study(4), "net PnL")
    write_study_plot(one, toy_study(15, params=1), "net PnL")

    assert "grid.levels" in svg_text(few)
    assert "parameter importance" not in svg_text(few)
    assert "parameter importance" not in svg_text(one)


def test_a_study_without_completed_trials_still_draws(tmp_path: Path) -> None:
    study = optuna.create_study(study_name="empty", direction="minimize")

    def pruned(trial: optuna.Trial) -> float:
        trial.suggest_float("grid.spacing_pct", 0.05, 1.0)
        raise optuna.TrialPruned

    study.optimize(pruned, n_trials=2)
    study.optimize(lambda trial: math.inf, n_trials=1)
    path = tmp_path / "empty.svg"
    write_study_plot(path, study, "max drawdown")

    assert "no completed trial to draw" in svg_text(path)
    assert "0 of 3 trials drawn (2 pruned, 1 not finite)" in svg_text(path)


def test_a_flat_objective_draws_no_importance(tmp_path: Path) -> None:
    """Every trial scored the same: there is nothing for importances to explain."""

    def flat(trial: optuna.Trial) -> float:
        trial.suggest_float("grid.spacing_pct", 0.05, 1.0)
        trial.suggest_int("grid.levels", 2, 20)
        return 0.0

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(flat, n_trials=12)
    path = tmp_path / "flat.svg"
    write_study_plot(path, study, "net PnL")

    assert "grid.levels" in svg_text(path)
    assert "parameter importance" not in svg_text(path)


@pytest.mark.parametrize("name", ["study.jpg", "study", "study.pdf"])
def test_an_unknown_picture_type_is_refused_before_drawing(
    tmp_path: Path, study: optuna.Study, name: str
) -> None:
    path = tmp_path / name
    suffix = path.suffix
    expected = f"--plot {path}: unknown picture type '{suffix}'; use .png, .svg or .html"
    with pytest.raises(OptimizeError) as info:
        check_plot_path(path)
    assert str(info.value) == expected
    with pytest.raises(OptimizeError):
        write_study_plot(path, study, "net PnL")
    assert list(tmp_path.iterdir()) == []


def test_the_picture_types_are_accepted_in_any_case(tmp_path: Path) -> None:
    assert [check_plot_path(tmp_path / f"s{e}") for e in (".png", ".SVG", ".Html")] == [
        ".png",
        ".svg",
        ".html",
    ]


def test_a_missing_folder_or_an_unwritable_path_is_one_line(
    tmp_path: Path, study: optuna.Study
) -> None:
    missing = tmp_path / "nowhere" / "study.png"
    with pytest.raises(OptimizeError) as info:
        check_plot_path(missing)
    assert str(info.value) == f"--plot {missing}: cannot write (no folder {missing.parent})"

    folder = tmp_path / "taken.png"
    folder.mkdir()
    with pytest.raises(OptimizeError, match=r"^--plot .*taken\.png: cannot write \(Is a dir"):
        write_study_plot(folder, study, "net PnL")
    assert [p.name for p in tmp_path.iterdir()] == ["taken.png"]


def test_importing_the_module_loads_neither_optuna_nor_matplotlib() -> None:
    code = (
        "import sys, gridtui.optimize.plot, gridtui.config.edit\n"
        "print(sorted(m for m in ('optuna', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
