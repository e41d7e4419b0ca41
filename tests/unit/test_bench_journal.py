"""``gridtui bench fills`` prints plain SQLite next to the journal; ``gridtui bench soak`` prints
RSS over a run. Only the shape of the output is checked: the figures are this machine's."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from gridtui.bench import run_bench
from gridtui.bench.soak import SoakPlan, soak_config
from gridtui.cli import main
from gridtui.config.loader import load_config_text

NUMBER = r"\d+(?:\.\d+)?"


def test_bench_fills_compares_with_plain_sqlite_and_reports_the_stall(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bench", "fills", "--count", "20"]) == 0
    out = capsys.readouterr().out
    assert "plain SQLite on the same disk, schema and pragmas" in out
    assert "same rows = the rows gridtui's transaction writes" in out
    for label in ("single", "batch 10", "batch 100"):
        ratios = rf"{NUMBER}\s+{NUMBER}\s+\d+%\s+{NUMBER}\s+\d+%"
        row = re.compile(rf"^{label}\s+{ratios}\s+{NUMBER}$", re.M)
        assert row.search(out), f"no comparison line for {label!r} in:\n{out}"
    stall = re.compile(rf"^event-loop stall: longest process_fills call of 100 fills {NUMBER} ms")
    assert stall.search(out.splitlines()[-1]), out


@pytest.mark.slow
def test_bench_soak_prints_rss_at_start_after_warm_up_and_at_the_end() -> None:
    out = io.StringIO()
    assert run_bench("soak", bots=1, seconds=1.5, speed=600, out=out) == 0
    text = out.getvalue()
    summary = re.compile(
        rf"^RSS start {NUMBER} MB, after warm-up \({NUMBER} s\) {NUMBER} MB, "
        rf"end \(1\.5 s\) {NUMBER} MB; fills processed \d+$",
        re.M,
    )
    assert summary.search(text), text
    assert re.search(r"^open orders left after stop: 0$", text, re.M), text


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--bots", "0"], "--bots must be 1 to 10"),
        (["--bots", "11"], "--bots must be 1 to 10"),
        (["--seconds", "-1"], "--seconds must be a positive number"),
        (["--speed", "0"], "--speed must be above 0"),
    ],
)
def test_bench_soak_refuses_impossible_options(
    args: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "soak", *args]) == 2
    assert problem in capsys.readouterr().err


def test_the_soak_config_is_valid_for_every_bot_count(tmp_path: Path) -> None:
    for bots in (1, 10):
        text = soak_config(SoakPlan(bots, 60, 600))
        config = load_config_text(text, base_dir=tmp_path, source="soak")
        assert len(config.bots) == bots
        assert config.venue.paper.speed == 600
