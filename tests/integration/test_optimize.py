"""``gridtui optimize`` end to end: Optuna over the backtest replay on a synthetic market built to
reward one spacing, stored studies that resume and take joining workers, walk-forward, the
report, and a config written with the winner."""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_kit import sigint_as_on_a_terminal, spawned_children

from gridtui.cli import main
from gridtui.config.edit import with_bot_settings
from gridtui.optimize import OptimizeError
from gridtui.optimize import command as command_module
from gridtui.optimize import confirmation as confirmation_module
from gridtui.optimize import evaluator as evaluator_module
from gridtui.optimize.evaluator import Evaluator, Inputs
from gridtui.optimize.space import config_values

CONFIG = """\
# a config the tests own, with comments that --write-config must keep
data_dir = "data"
[venue]
kind = "paper"
[venue.paper]
starting_balance = 10000
maker_fee = 0.00015
taker_fee = 0.00045
[[venue.paper.markets]]
coin = "BTC"
start_price = 100
sz_decimals = 2
# the grid every bot starts from
[grid]
levels = 3
spacing_pct = 0.3
size = 0.2
[risk]
max_position = 10
max_notional = 100000
max_drawdown = 100000
daily_loss_limit = 100000
[[bots]]
name = "b1"
coin = "BTC"
"""
AMPLITUDE_PCT = 1.0
"""The wave swings ±1 % around 100 ten times. Each swing fills every level within the swing once
each way, so a grid of spacing s earns about min(⌊1 / s⌋, 3 levels) × s a swing, less fees: of
the spacings 0.1, 0.3, …, 1.9, 0.5 earns most (two levels a swing), 0.3 and 0.9 less, and from
1.1 on nothing fills at all."""
SPACE = "spacing_pct=0.1:1.9:0.2"
BEST = 0.5


INPUTS = {
    "bot": "b1", "funding_file": None, "params": (SPACE,), "objective": "net_pnl",
    "walk_forward": None, "fill_model": "strict", "trials": 1, "seed": None,
}  # fmt: skip


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    rng = random.Random(3)
    rows = ["time_ms,open,high,low,close,volume"]
    price = 100.0
    for i in range(1_200):
        target = 100 * (1 + AMPLITUDE_PCT / 100 * math.sin(2 * math.pi * i / 120))
        close = round(target + rng.gauss(0, 0.02), 2)
        high = round(max(price, close) + abs(rng.gauss(0, 0.03)), 2)
        low = round(min(price, close) - abs(rng.gauss(0, 0.03)), 2)
        rows.append(f"{1_704_067_200_000 + i * 60_000},{price},{high},{low},{close},100")
        price = close
    candles = tmp_path / "wave.csv"
    candles.write_text("\n".join(rows) + "\n")
    return config, candles


def optimize(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["optimize", *args, "--json", "--jobs", "1"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_seeded_study_finds_the_spacing_the_market_rewards(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, candles = files
    report = optimize(
        capsys, "--config", str(config), "--candles", str(candles), "--trials", "14",
        "--seed", "1", "--param", SPACE,
    )  # fmt: skip
    top = report["top"]
    assert isinstance(top, list) and top[0]["settings"] == {"grid.spacing_pct": BEST}
    spacings = [t["settings"]["grid.spacing_pct"] for t in top]
    assert len(set(spacings)) == len(spacings) > 1  # settings TPE tried twice are listed once
    # and it is the best of the whole space, every spacing replayed (the market's known best)
    evaluator = Evaluator(Inputs.from_attrs({**INPUTS, "config_text": CONFIG,
                                            "config_dir": str(config.parent),
                                            "candles_file": str(candles)}))  # fmt: skip
    pnl = {
        s / 10: evaluator.whole({("grid", "spacing_pct"): s / 10}).net_pnl for s in range(1, 20, 2)
    }
    assert max(pnl, key=lambda s: pnl[s]) == BEST and pnl[1.1] == 0
    assert all(t["confirmed"] for t in top)  # the engine replay agrees with every score
    assert float(top[0]["net_pnl"]) > float(report["baseline"]["net_pnl"])  # type: ignore[index]
    assert report["trials"] == {"scored": 14, "refused": 0, "failed": 0}


def test_an_interrupted_study_resumes_and_other_inputs_are_refused(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, candles = files
    base = ["--config", str(config), "--candles", str(candles), "--study", "s", "--seed", "2"]
    first = optimize(capsys, *base, "--param", SPACE, "--trials", "3")
    again = optimize(capsys, *base, "--param", SPACE, "--trials", "5")
    assert first["study"] == again["study"] == "s"
    assert again["trials"] == {"scored": 5, "refused": 0, "failed": 0}  # 3 kept, 2 more
    journal = config.parent / "data" / "optimize" / "s.journal"
    assert journal.exists()
    assert main(["optimize", *base, "--param", "spacing_pct=0.1:0.9:0.2", "--jobs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "--study s: the study in journal file "
        f"{journal} was made with other params; give the same inputs to resume it, "
        "or another --study"
    )
    assert "\n" not in err and "Traceback" not in err


def test_ctrl_c_during_the_trials_ends_the_workers_without_their_tracebacks(
    files: tuple[Path, Path],
) -> None:
    """Ctrl-C reaches the terminal's whole process group. The workers ignore it: the main
    process ends them (the study resumes with the same command) and reports the interrupt
    once, where each worker used to print its KeyboardInterrupt traceback."""
    config, candles = files
    args = ["--config", str(config), "--candles", str(candles), "--study", "c", "--seed", "2",
            "--param", SPACE, "--trials", "100000", "--jobs", "2"]  # fmt: skip
    journal = config.parent / "data" / "optimize" / "c.journal"
    process = subprocess.Popen(
        [sys.executable, "-m", "gridtui", "optimize", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=sigint_as_on_a_terminal,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)  # until both workers run trials
        workers = spawned_children(process.pid)
        if len(workers) == 2 and journal.exists() and journal.stat().st_size > 20_000:
            break
    assert len(workers) == 2, "the workers never got going"
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


@pytest.mark.slow
def test_a_study_killed_mid_trial_resumes_to_its_trial_count(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """kill -9 while a trial runs leaves that trial RUNNING forever; the same command again
    finishes the study (counting finished trials only) and reports it."""
    import optuna

    config, candles = files
    # A grid the compiled evaluator does not model: every trial is an engine replay, slow
    # enough for the kill to land while trials are left.
    config.write_text(CONFIG.replace("[grid]\n", "[grid]\nvolatility_scaled = true\n"))
    args = ["--config", str(config), "--candles", str(candles), "--study", "k", "--seed", "6",
            "--param", SPACE, "--trials", "6", "--jobs", "1"]  # fmt: skip
    journal = config.parent / "data" / "optimize" / "k.journal"
    victim = subprocess.Popen(
        [sys.executable, "-m", "gridtui", "optimize", *args], stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    done = 0
    while done < 2 and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.05)
        if journal.exists():
            backend = optuna.storages.journal.JournalFileBackend(str(journal))
            with contextlib.suppress(KeyError):
                study = optuna.load_study(
                    study_name="k", storage=optuna.storages.JournalStorage(backend)
                )
                done = len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    victim.kill()
    victim.wait()
    assert 2 <= done < 6, "the run was not caught in the middle"
    report = optimize(capsys, *args[:-2])
    assert report["trials"]["scored"] == 6  # type: ignore[index]


def test_walk_forward_scores_the_best_trials_out_of_sample_and_flags_a_worse_winner(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, candles = files
    report = optimize(
        capsys, "--config", str(config), "--candles", str(candles), "--trials", "4",
        "--seed", "3", "--param", "spacing_pct=0.1:0.3:0.2", "--walk-forward", "2",
    )  # fmt: skip
    assert report["judged_on"] == "out_of_sample"
    for top in report["top"]:  # type: ignore[union-attr]
        assert top["out_of_sample"] is not None and top["in_sample"] is not None
    winner, baseline = report["top"][0], report["baseline"]  # type: ignore[index]
    assert baseline["out_of_sample"] is not None  # type: ignore[index]
    worse = winner["out_of_sample"] < baseline["out_of_sample"]  # type: ignore[index]
    assert report["winner_worse_than_current"] is worse


def test_write_config_keeps_the_comments_and_passes_check_config(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, candles = files
    written = tmp_path / "tuned.toml"
    report = optimize(
        capsys, "--config", str(config), "--candles", str(candles), "--trials", "3",
        "--seed", "1", "--param", SPACE, "--write-config", str(written),
    )  # fmt: skip
    text = written.read_text()
    assert "# a config the tests own, with comments that --write-config must keep" in text
    assert "# the grid every bot starts from" in text
    best = report["top"][0]["settings"]["grid.spacing_pct"]  # type: ignore[index]
    assert f"spacing_pct = {best}" in text.split("[[bots]]", 1)[1]  # the bot's own setting
    assert main(["check-config", str(written)]) == 0


def test_the_kernel_is_loaded_with_the_candles_not_by_the_first_trial(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """numba loads the compiled kernel at its first run (~0.6 s): a worker does it while it
    loads, so the first trial's recorded time is a trial's, and two workers' throughput is
    not charged twice for it."""
    config, candles = files
    runs: list[int] = []
    real = evaluator_module.fast_replay

    def counted(*args: object, **kwargs: object) -> object:
        runs.append(args[2].points.shape[0])  # type: ignore[attr-defined]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluator_module, "fast_replay", counted)
    evaluator = Evaluator(Inputs.from_attrs({**INPUTS, "config_text": CONFIG,
                                            "config_dir": str(config.parent),
                                            "candles_file": str(candles)}))  # fmt: skip
    assert runs == [evaluator_module.KERNEL_LOAD_CANDLES]
    assert (evaluator.fast_runs, evaluator.engine_runs) == (0, 0)  # it was no trial
    evaluator.in_sample({("grid", "spacing_pct"): 0.5})
    assert runs == [evaluator_module.KERNEL_LOAD_CANDLES, 1_200]


@pytest.mark.parametrize(("walk_forward", "runs"), [(None, 1), (2, 5)])
def test_a_confirmation_replays_each_part_once_and_reports_each_candle(
    files: tuple[Path, Path], walk_forward: int | None, runs: int
) -> None:
    """Without walk-forward the in-sample run is the whole run: one engine replay, not two
    (over a year of 1m candles each is minutes). With two folds: two in sample, two out of
    sample, and the whole. Every candle replayed is heard, in order, up to the announced
    total."""
    config, candles = files
    engine = Evaluator(Inputs.from_attrs({**INPUTS, "config_text": CONFIG, "walk_forward":
                                         walk_forward, "config_dir": str(config.parent),
                                         "candles_file": str(candles)}), fast=False)  # fmt: skip
    heard: list[int] = []
    engine.on_replayed = heard.append
    values = {("grid", "spacing_pct"): 0.5}
    confirmed = engine.confirm(values)
    assert engine.engine_runs == runs
    assert heard == list(range(1, engine.confirmation_candles + 1))
    assert engine.candles_replayed == engine.confirmation_candles
    assert confirmed.whole == engine.whole(values)  # the same figures as a run of its own
    assert confirmed.in_sample.value is not None and confirmed.whole.fills > 0


def test_the_confirmations_show_their_own_progress(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the trials' bar the engine replays of the best settings and the config's own
    run for minutes on a year of candles: a second bar counts their candles to the end."""
    config, candles = files
    bars: dict[str, tuple[int, list[int]]] = {}

    @contextlib.contextmanager
    def recording(label: str, total: int, *, show: bool = True) -> Iterator[object]:
        done: list[int] = []
        bars[label] = (total, done)
        yield lambda count, description=None: done.append(count)

    monkeypatch.setattr(command_module, "progress_bar", recording)
    report = optimize(capsys, "--config", str(config), "--candles", str(candles), "--trials",
                      "3", "--seed", "1", "--param", SPACE)  # fmt: skip
    settings = len(report["top"]) + 1  # type: ignore[arg-type]  # the best ones and the config's
    confirming = [label for label in bars if label.startswith("confirming")]
    assert confirming == [f"confirming {settings} settings with the engine replay"]
    total, done = bars[confirming[0]]
    assert total == settings * 1_200 and done[-1] == total and done == sorted(done)


def _engine(config: Path, candles: Path, walk_forward: int | None) -> Evaluator:
    return Evaluator(Inputs.from_attrs({**INPUTS, "config_text": CONFIG, "walk_forward":
                                        walk_forward, "config_dir": str(config.parent),
                                        "candles_file": str(candles)}), fast=False)  # fmt: skip


SETTINGS = [{("grid", "spacing_pct"): spacing} for spacing in (0.1, 0.5)] + [{}]


def test_confirmations_shared_by_workers_are_those_of_one_process(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers confirm the three settings (interleaved: two and one): the figures and their
    order are one process's, and the bar hears the candles of both to the announced total."""
    config, candles = files
    engine = _engine(config, candles, walk_forward=2)
    alone = confirmation_module.confirm_all(engine, SETTINGS, jobs=1)
    assert engine.engine_runs == 3 * 5  # in this process: two folds in and out, and the whole
    monkeypatch.setattr(confirmation_module, "IN_WORKERS_FROM_CANDLES", 0)
    heard: list[int] = []
    shared = confirmation_module.confirm_all(engine, SETTINGS, jobs=2, progress=heard.append)
    assert engine.engine_runs == 3 * 5  # none more here: the workers replayed
    assert shared == alone
    assert len({c.whole.net_pnl for c in alone}) == 3  # a mix-up of the order would show
    assert heard == sorted(heard) and heard[-1] == 3 * engine.confirmation_candles


def test_a_confirmation_worker_that_dies_is_one_line(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, candles = files
    engine = _engine(config, candles, walk_forward=None)
    monkeypatch.setattr(confirmation_module, "IN_WORKERS_FROM_CANDLES", 0)

    def kill_the_first(done: int) -> None:
        for process in multiprocessing.active_children():
            if process.name == "confirmation worker 1 of 2" and process.pid is not None:
                os.kill(process.pid, signal.SIGKILL)

    with pytest.raises(OptimizeError) as caught:
        confirmation_module.confirm_all(engine, SETTINGS, jobs=2, progress=kill_the_first)
    assert str(caught.value) == (
        "the confirmation worker 1 of 2 process ended without a result (exit code -9); "
        "run again with --jobs 1 to see why"
    )
    assert not multiprocessing.active_children()


def test_confirmation_workers_refuse_a_candle_file_changed_since_the_trials(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, candles = files
    engine = _engine(config, candles, walk_forward=None)
    candles.write_text("\n".join(candles.read_text().splitlines()[:-10]) + "\n")
    monkeypatch.setattr(confirmation_module, "IN_WORKERS_FROM_CANDLES", 0)
    with pytest.raises(OptimizeError) as caught:
        confirmation_module.confirm_all(engine, SETTINGS, jobs=2)
    assert str(caught.value) == (
        f"{candles}: the candle file changed while optimize ran; run it again"
    )


def test_mode_is_searched_with_the_bots_own_range_and_a_rolling_winner_drops_it(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, candles = files
    bounded = CONFIG + '[bots.grid]\nmode = "bounded"\nlower = 99\nupper = 101\n'
    config.write_text(bounded)
    report = optimize(
        capsys, "--config", str(config), "--candles", str(candles), "--trials", "8",
        "--seed", "3", "--param", "mode=rolling,bounded",
    )  # fmt: skip
    assert report["trials"] == {"scored": 8, "refused": 0, "failed": 0}
    inputs = Inputs.from_attrs({**INPUTS, "params": ("mode=rolling,bounded",),
                                "config_text": bounded, "config_dir": str(config.parent),
                                "candles_file": str(candles)})  # fmt: skip
    evaluator = Evaluator(inputs)
    for mode in ("rolling", "bounded"):  # both are configs a trader could write
        _, bot = evaluator.settings({("grid", "mode"): mode})
        assert bot.grid.mode.value == mode and (bot.grid.lower is None) == (mode == "rolling")
    # a rolling winner, written as --write-config writes it: the range goes with the mode
    written = tmp_path / "rolling.toml"
    written.write_text(
        with_bot_settings(bounded, "b1", config_values({("grid", "mode"): "rolling"}))
    )
    text = written.read_text()
    assert 'mode = "rolling"' in text and "lower" not in text and "upper" not in text
    assert main(["check-config", str(written)]) == 0


def test_mode_without_the_bots_own_range_is_one_line(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, candles = files
    args = ["--config", str(config), "--candles", str(candles), "--param", "mode=rolling,bounded"]
    assert main(["optimize", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert '--param mode: a bounded trial needs bot b1\'s range: give it mode = "bounded" ' in err
    assert "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "levles=3:9"], "--param levles=3:9: "),
        (["--walk-forward", "40"], "--walk-forward 40: 1200 candles make folds of 30"),
        (["--objective", "calmar", "--trials", "0"], "--trials 0: give 1 or more"),
        # no driver installed, or nothing listening: either way one line naming the URL
        (
            ["--storage", "postgresql://u:p@127.0.0.1:1/db", "--trials", "1"],
            "--storage postgresql://u:p@127.0.0.1:1/db: ",
        ),
        (["--join", "nosuch", "--storage", "{tmp}/x.journal"], "--join nosuch: no journal file"),
    ],
)
def test_bad_input_is_one_line(
    files: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    config, candles = files
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["optimize", "--config", str(config), "--candles", str(candles), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_two_processes_work_on_one_study_and_count_every_trial_once(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    """The study in a journal file both processes open (the shape of several machines on one
    database): the first makes it and works on it, the second joins it."""
    import optuna

    config, candles = files
    storage = tmp_path / "shared.journal"
    gridtui = [sys.executable, "-m", "gridtui"]
    maker = subprocess.Popen(
        [*gridtui, "optimize", "--config", str(config), "--candles", str(candles), "--study",
         "shared", "--storage", str(storage), "--trials", "10", "--jobs", "1", "--seed", "4",
         "--param", SPACE, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    backend = optuna.storages.journal.JournalFileBackend(str(storage))
    deadline = time.monotonic() + 60
    while True:  # the joiner needs the study to exist
        names = [s.study_name for s in optuna.storages.JournalStorage(backend).get_all_studies()]
        if "shared" in names or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    joiner = subprocess.run(
        [*gridtui, "optimize", "--join", "shared", "--storage", str(storage), "--jobs", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out, err = maker.communicate(timeout=120)
    assert maker.returncode == 0, err
    assert joiner.returncode == 0, joiner.stderr
    assert joiner.stdout.startswith("study shared: ")
    study = optuna.load_study(study_name="shared", storage=optuna.storages.JournalStorage(backend))
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(numbers)))  # each trial once
    assert 10 <= len(numbers) <= 11  # a worker may start one more as the other finishes the 10th
    assert json.loads(out)["trials"]["scored"] == len(numbers)
