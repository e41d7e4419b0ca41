"""``--fill-model both`` on a second core: the touch model replays in a child process while the
strict one replays here. What it reports must be exactly what two single runs report, and a
child that fails or dies is one line, never a hang or a process left behind."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backtest_kit import CONFIG, write_hourly
from process_kit import sigint_as_on_a_terminal, spawned_children

from gridtui.backtest import BacktestError, child_replay
from gridtui.backtest import command as command_module
from gridtui.backtest.replay import Replay, ReplayOptions
from gridtui.cli import main
from gridtui.config.loader import load_config
from gridtui.core.child import Child, cores
from gridtui.exchanges.sim import load_candles
from gridtui.exchanges.sim.vocabulary import FillModel


def _half(value: float) -> float:
    return round(value * 2) / 2


def _files(tmp_path: Path, count: int = 400) -> tuple[Path, Path, Path]:
    """The kit's grid (levels a whole number apart around 100) over a seeded walk that reverts
    to 100, its prices on halves so that extremes often just touch a level (where the models
    differ), and hourly funding."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    rng = random.Random(7)

    def hours() -> Iterator[tuple[float, float, float, float, float]]:
        price = 100.0
        for _ in range(count):
            close = _half(100 + 0.9 * (price - 100) + rng.gauss(0, 0.8))
            high = _half(max(price, close) + abs(rng.gauss(0, 0.4)))
            low = _half(min(price, close) - abs(rng.gauss(0, 0.4)))
            yield price, high, low, close, rng.gauss(0.00001, 0.00004)
            price = close

    candles, funding = write_hourly(tmp_path, "walk", hours())
    return config, candles, funding


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["backtest", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("machine_cores", [2, 1])
def test_both_models_side_by_side_report_what_two_single_runs_report(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    machine_cores: int,
) -> None:
    config, candles, funding = _files(tmp_path)
    base = ["--config", str(config), "--candles", str(candles), "--funding", str(funding)]
    strict = _json(capsys, *base, "--fills-out", str(tmp_path / "strict.jsonl"))
    touch = _json(capsys, *base, "--fill-model", "touch")
    started: list[FillModel] = []

    def recorded(*args: Any) -> Child[Replay]:
        started.append(args[-1].fill_model)
        return child_replay.replay_in_child(*args)

    monkeypatch.setattr(command_module, "replay_in_child", recorded)
    monkeypatch.setattr(command_module, "SIDE_BY_SIDE_FROM_CANDLES", 0)
    monkeypatch.setattr(command_module, "cores", lambda: machine_cores)
    out = tmp_path / "both.jsonl"
    both = _json(capsys, *base, "--fill-model", "both", "--fills-out", str(out))
    assert both == {"strict": strict, "touch": touch}
    assert strict["fills"] != touch["fills"]  # the models differ here, so a swap would show
    assert out.read_bytes() == (tmp_path / "strict.jsonl").read_bytes()
    assert started == ([FillModel.TOUCH] if machine_cores == 2 else [])


@pytest.mark.parametrize("machine_cores", [2, 1])
def test_progress_lines_count_both_models_together(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    machine_cores: int,
) -> None:
    """One count for the pair, side by side or one after the other: a program reading the
    lines sees the same thing on any machine."""
    config, candles, _ = _files(tmp_path, count=1_200)
    monkeypatch.setattr(command_module, "SIDE_BY_SIDE_FROM_CANDLES", 0)
    monkeypatch.setattr(command_module, "cores", lambda: machine_cores)
    args = ["--config", str(config), "--candles", str(candles), "--fill-model", "both"]
    assert main(["backtest", *args, "--json", "--progress", "lines"]) == 0
    lines = capsys.readouterr().err.splitlines()
    counts = [tuple(map(int, line.split()[1:])) for line in lines if line.startswith("progress")]
    assert {total for _, total in counts} == {2_400}
    assert [done for done, _ in counts] == sorted(done for done, _ in counts)
    assert counts[-1] == (2_400, 2_400)


def _child(tmp_path: Path, *, rows_removed: int = 0) -> Child[Replay]:
    """A child replaying the touch model over the walk as this process loaded it, after the
    file lost its last ``rows_removed`` rows."""
    config_file, candles, _ = _files(tmp_path)
    config = load_config(config_file)
    series = load_candles(candles)
    if rows_removed:
        candles.write_text("\n".join(candles.read_text().splitlines()[:-rows_removed]) + "\n")
    options = ReplayOptions(fill_model=FillModel.TOUCH)
    return child_replay.replay_in_child(config, config.bots[0], candles, series, None, options)


def test_a_child_that_cannot_replay_the_same_candles_says_so_in_one_line(tmp_path: Path) -> None:
    with _child(tmp_path, rows_removed=5) as child, pytest.raises(BacktestError) as caught:
        child.result()
    candles = tmp_path / "walk.csv"
    assert str(caught.value) == f"{candles}: the candle file changed while the backtest ran"


def test_a_child_killed_before_it_answers_is_one_line_and_leaves_no_process(tmp_path: Path) -> None:
    with _child(tmp_path) as child, pytest.raises(BacktestError) as caught:
        (process,) = [p for p in multiprocessing.active_children() if p.name == "touch replay"]
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        child.result()
    assert str(caught.value) == (
        "the touch replay process ended without a result (exit code -9); "
        "run again with --fill-model touch to see why"
    )
    assert not [p for p in multiprocessing.active_children() if p.name == "touch replay"]


def test_an_error_in_the_parent_ends_the_child(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), _child(tmp_path):
        (process,) = [p for p in multiprocessing.active_children() if p.name == "touch replay"]
        pid = process.pid
        raise KeyboardInterrupt
    assert not Path(f"/proc/{pid}").exists()  # ended and reaped
    assert not [p for p in multiprocessing.active_children() if p.name == "touch replay"]


@pytest.mark.parametrize("model", ["strict", "both"])
def test_ctrl_c_stops_a_long_backtest_at_once(tmp_path: Path, model: str) -> None:
    """Ctrl-C reaches the terminal's whole process group: the replay (and a side-by-side
    child) stop within a thousand candles, exit 130 without a traceback, and leave no process.
    Nothing in a replay waits, so without a pass through the event loop the interrupt landed
    only after the last candle and the run ended 0 with its report."""
    config, candles, _ = _files(tmp_path, count=40_000)
    load_candles(candles)  # parsed once: the run below starts replaying at once
    process = subprocess.Popen(
        [sys.executable, "-m", "gridtui", "backtest", "--config", str(config), "--candles",
         str(candles), "--fill-model", model, "--progress", "lines"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=sigint_as_on_a_terminal,
    )  # fmt: skip
    assert process.stderr is not None
    first = process.stderr.readline()  # the replay is under way (and any child started)
    assert first.startswith("progress "), first
    replays = spawned_children(process.pid)
    assert len(replays) == (1 if model == "both" and cores() >= 2 else 0)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, (out, err)
    assert out == "" and "Traceback" not in err
    counts = [line.split()[1:] for line in err.splitlines() if line.startswith("progress")]
    assert all(done != total for done, total in counts)  # stopped before the end
    assert not [pid for pid in replays if Path(f"/proc/{pid}").exists()]  # ended with it
