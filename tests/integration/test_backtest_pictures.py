"""``gridtui backtest --plot FILE`` and ``--chart``: the pictures of a small run whose fills are
known (the hand-made candles of test_backtest.py: under ``strict`` one buy at 99 and one sell at
100, net PnL 0.19; under ``touch`` one more sell at 101, net PnL 0.29)."""

from __future__ import annotations

import json
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from backtest_kit import hand_made_files

from gridtui.backtest.plot import downsample
from gridtui.cli import main

SVG = "{http://www.w3.org/2000/svg}"
BRAILLE = re.compile("[\u2801-\u28ff]")


@pytest.fixture
def base(tmp_path: Path) -> list[str]:
    """``backtest --config ... --candles ...`` over the hand-made candles."""
    config, candles = hand_made_files(tmp_path)
    return ["backtest", "--config", str(config), "--candles", str(candles)]


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_png_is_a_real_picture(
    base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.png"
    assert main([*base, "--plot", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR" and struct.unpack(">II", data[16:24]) == (1200, 900)
    assert 10_000 < len(data) < 2_000_000
    assert "net PnL" in capsys.readouterr().out  # the report is still printed
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".run.png")] == []


def test_svg_marks_each_fill_and_says_the_run(base: list[str], tmp_path: Path) -> None:
    out = tmp_path / "run.svg"
    fills = tmp_path / "fills.jsonl"
    args = [*base, "--plot", str(out), "--fills-out", str(fills), "--fill-model", "both"]
    assert main(args) == 0
    sides = [json.loads(line)["side"] for line in fills.read_text().splitlines()]
    root = ET.fromstring(out.read_bytes())
    assert root.tag == f"{SVG}svg"
    groups = {g.get("id"): g for g in root.iter(f"{SVG}g")}
    # one triangle per fill of the first (strict) run, each a <use> of the marker path
    assert len(list(groups["buy-fills"].iter(f"{SVG}use"))) == sides.count("buy") == 1
    assert len(list(groups["sell-fills"].iter(f"{SVG}use"))) == sides.count("sell") == 1
    text = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "b1 on BTC" in text and "net PnL strict 0.19, touch 0.29" in text
    assert "net (strict)" in text and "net (touch)" in text  # both models' equity
    assert "funding not modelled" in text and "grid range" in text


def test_html_is_one_standalone_page(base: list[str], tmp_path: Path) -> None:
    out = tmp_path / "run.html"
    assert main([*base, "--plot", str(out)]) == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<svg") == 1 and "<?xml" not in page
    assert "<th>bot</th><td>b1</td>" in page and "<th>fill model</th><td>strict</td>" in page
    assert "<script" not in page and "<link" not in page and "src=" not in page


def test_an_unknown_picture_type_is_one_line_before_the_run(
    base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.jpg"
    assert main([*base, "--plot", str(out)]) == 2
    err = _one_line_error(capsys)
    assert err == f"gridtui: --plot {out}: unknown picture type '.jpg'; use .png, .svg or .html"
    assert not out.exists()


def test_a_missing_folder_is_one_line(
    base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nope" / "run.png"
    assert main([*base, "--plot", str(out)]) == 2
    err = _one_line_error(capsys)
    # said before the replay runs (a failure while writing is the test below)
    assert err == f"gridtui: --plot {out}: cannot write (no folder {out.parent})"


def test_a_failed_write_leaves_no_half_file(
    base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.png"
    out.mkdir()  # a folder where the picture should go: the rename over it fails
    assert main([*base, "--plot", str(out)]) == 2
    err = _one_line_error(capsys)
    assert f"--plot {out}: cannot write (Is a directory)" in err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".run.png")] == []
    assert out.is_dir() and list(out.iterdir()) == []


def test_chart_prints_the_equity_after_the_report(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*base, "--chart"]) == 0
    out = capsys.readouterr().out
    table, _, chart = out.partition("b1 on BTC: net equity, net PnL 0.19")
    assert "round trips" in table  # the report first, then the chart
    plotted = [line for line in chart.splitlines() if BRAILLE.search(line)]
    assert len(plotted) >= 5
    assert "\x1b[" not in out  # not a terminal: no colour codes


def test_json_with_chart_keeps_stdout_one_json_object(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*base, "--json", "--chart", "--fill-model", "both"]) == 0
    captured = capsys.readouterr()
    body = json.loads(captured.out)
    assert set(body) == {"strict", "touch"}
    assert "net PnL strict 0.19, touch 0.29" in captured.err
    assert sum(1 for line in captured.err.splitlines() if BRAILLE.search(line)) >= 5


def test_downsample_keeps_the_ends_and_every_buckets_extremes() -> None:
    count = 10_000
    ys = [float(i % 7) for i in range(count)]
    spikes = {}
    for n, at in enumerate(range(250, count - 250, 500)):  # at most one per bucket of ~200
        spikes[at] = 1_000.0 + n if n % 2 else -1_000.0 - n
        ys[at] = spikes[at]
    xs, kept = downsample(range(count), ys, limit=100)
    assert len(xs) == len(kept) <= 100
    assert (xs[0], xs[-1]) == (0, count - 1)
    assert xs == sorted(set(xs))  # time order, no point twice
    assert all(kept[i] == ys[x] for i, x in enumerate(xs))
    assert set(spikes) <= set(xs)  # every spike and crash survives
    assert downsample([1, 2, 3], [3.0, 1.0, 2.0], limit=100) == ([1, 2, 3], [3.0, 1.0, 2.0])
