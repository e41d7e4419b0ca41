"""``gridtui bench`` runs end to end on a tiny count and prints its figure lines.

Only the shape of the output is checked (the figures are whatever this machine measures), plus
the one piece of arithmetic the report relies on: nearest-rank percentiles.
"""

from __future__ import annotations

import io
import re

import pytest

from gridtui.bench import run_bench
from gridtui.bench.report import percentile
from gridtui.cli import main

pytestmark = pytest.mark.slow

NUMBER = r"\d+(?:\.\d+)?"
MACHINE = re.compile(r"^machine: \d+ cores, \w+ \d+\.\d+\.\d+, .+, SQLite [\d.]+$", re.M)


def _row(label: str, numbers: int) -> re.Pattern[str]:
    cells = r"\s+".join([NUMBER] * numbers)
    return re.compile(rf"^{re.escape(label)}\s+{cells}$", re.M)


def test_bench_fills_prints_a_row_per_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fills", "--count", "12"]) == 0
    out = capsys.readouterr().out
    assert MACHINE.search(out)
    assert "synchronous=FULL" in out
    for label in ("single", "batch 10", "batch 100"):
        match = _row(label, 6).search(out)
        assert match, f"no figure line for {label!r} in:\n{out}"
        assert match.group(0).split()[len(label.split())] == "12"  # fills measured per mode


def test_bench_tick_prints_the_latency_row() -> None:
    out = io.StringIO()
    assert run_bench("tick", count=3, out=out) == 0
    text = out.getvalue()
    assert MACHINE.search(text)
    match = _row("tick -> replacement", 6).search(text)
    assert match, f"no figure line in:\n{text}"
    ticks, samples = (int(v) for v in match.group(0).split()[3:5])
    assert samples >= 3 and ticks >= 1  # one tick can fill several levels


def test_bench_refuses_a_count_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench("fills", count=0) == 2
    assert "--count must be at least 1" in capsys.readouterr().err


def test_percentile_is_nearest_rank() -> None:
    samples = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_bench_keys_prints_latency_and_cpu_lines() -> None:
    import io

    from gridtui.bench.keys import run_keys_bench

    out = io.StringIO()
    assert run_keys_bench(2, out) == 0
    text = out.getvalue()
    for key in ("h", "u", "tab", "all"):
        assert any(
            line.split()[:2] == [key, "2" if key != "all" else "6"]
            for line in text.splitlines()
            if line.split()
        ), key
    assert "p50 ms" in text and "p99 ms" in text
    assert "cpu:" in text and "4 bots x 100 levels" in text


def test_bench_orders_prints_sign_and_send_rates() -> None:
    import io

    from gridtui.bench.orders import BATCHES, run_orders_bench

    out = io.StringIO()
    assert run_orders_bench(80, out) == 0
    lines = out.getvalue().splitlines()
    assert any(line.startswith("signing alone:") for line in lines)
    rows = [line.split() for line in lines if line.split() and line.split()[0].isdigit()]
    assert [int(row[0]) for row in rows] == list(BATCHES)
    assert all(float(row[1]) > 0 for row in rows)


def test_bench_backtest_prints_candles_per_second_per_fill_model() -> None:
    out = io.StringIO()
    assert run_bench("backtest", count=300, out=out) == 0
    text = out.getvalue()
    for model in ("strict", "touch"):  # candles, fills, load s, replay s, candles/s, peak MB
        match = _row(model, 6).search(text)
        assert match, f"no figure line for {model!r} in:\n{text}"
        assert match.group(0).split()[1] == "300"
        assert float(match.group(0).split()[-1]) > 10  # a process's peak, in MB


def test_bench_sweep_prints_both_evaluators_the_workers_and_the_agreement() -> None:
    out = io.StringIO()
    assert run_bench("sweep", count=300, cases=2, out=out) == 0
    text = out.getvalue()
    rate = r"[\d,]+"
    assert re.search(rf"^engine replay\s+{rate}$", text, re.M), text
    assert re.search(rf"^compiled \(fast_replay\)\s+{rate}$", text, re.M), text
    assert re.search(r"speed-up over the engine replay [\d,]+x$", text, re.M), text
    for jobs, trials in ((1, 32), (2, 32)):  # round, jobs, trials, seconds, evals/s, per core
        ratio = rf"\s+{NUMBER}x\s+{NUMBER}x" if jobs == 2 else ""  # the workers', the machine's
        match = re.search(rf"^1\s+{jobs}\s+(\d+)\s+{NUMBER}\s+{rate}\s+{rate}{ratio}$", text, re.M)
        assert match, f"no figure line for {jobs} jobs in:\n{text}"
        assert int(match.group(1)) >= trials
    workers = rf"^two workers: {NUMBER}x one worker \(ideal 2x; \d+ % of it\); "
    assert re.search(rf"{workers}two busy processes got {NUMBER}x one from this machine$", text,
                     re.M), text  # fmt: skip
    assert re.search(r"^agreement with the engine replay: 2 of 2 compared settings agree", text,
                     re.M), text  # fmt: skip
