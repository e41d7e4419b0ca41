"""The `gridtui` subcommands a user types: their output, exit codes and one-line errors."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import attrs
import pytest
from config_kit import write_paper_config

from gridtui.cli import main
from gridtui.config.loader import load_config
from gridtui.core.clock import SimClock
from gridtui.core.types import Fill, Side
from gridtui.state.data_dir import PAPER, journal_path
from gridtui.state.state_manager import StateManager
from gridtui.state.store import Store


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_paper_config(tmp_path / "config.toml")


def test_check_config_ok_prints_one_line_summary(config_file: Path, capsys) -> None:
    assert main(["check-config", str(config_file)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert "OK" in out[0] and "2 bots" in out[0]


def test_check_config_lists_every_problem_and_exits_1(config_file: Path, capsys) -> None:
    text = config_file.read_text()
    text = text.replace("levels = 10", "levels = 0", 1).replace(
        'kind = "paper"', 'kind = "binance"'
    )
    config_file.write_text(text)
    assert main(["check-config", str(config_file)]) == 1
    err = capsys.readouterr().err
    assert "grid.levels: must be an integer >= 2, got 0" in err
    assert "venue.kind: unknown venue 'binance'" in err
    assert "Traceback" not in err


def test_missing_config_is_one_line_error_not_traceback(tmp_path: Path, capsys) -> None:
    assert main(["--headless", "--config", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "nope.toml" in err and "Traceback" not in err


def test_init_writes_a_valid_starter_and_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    target = tmp_path / "new.toml"
    assert main(["init", str(target)]) == 0
    assert target.read_text().startswith("#")
    assert main(["check-config", str(target)]) == 0
    before = target.read_text()
    assert main(["init", str(target)]) == 2
    assert "exists" in capsys.readouterr().err
    assert target.read_text() == before


def test_headless_path_never_imports_textual(config_file: Path) -> None:
    """Everything the headless run loads, loaded in a fresh interpreter: no Textual in it."""
    import subprocess
    import sys

    code = (
        "import sys; import gridtui.cli, gridtui.supervisor, gridtui.books, gridtui.bench; "
        "from gridtui.cli import main; "
        f"main(['check-config', {str(config_file)!r}]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def _fill(trade_id: int, side: Side, price: str, size: str) -> Fill:
    return Fill(
        "paper",
        "BTC",
        trade_id,
        100 + trade_id,
        None,
        side,
        D(price),
        D(size),
        D("0.01"),
        1_700_000_000_000 + trade_id,
    )


def _journal(config_file: Path) -> tuple[Store, StateManager]:
    config = load_config(config_file)
    path = journal_path(config.data_dir, PAPER, "btc")
    store = Store(path, venue="paper", bot="btc", coin="BTC")
    return store, StateManager(store, SimClock(), bot="btc", coin="BTC")


def test_status_and_fills_read_the_journal(config_file: Path, capsys) -> None:
    store, state = _journal(config_file)
    state.apply_fill_sync(_fill(1, Side.BUY, "64000", "0.001"))
    state.apply_fill_sync(_fill(2, Side.SELL, "64100", "0.0005"))
    store.close()
    assert main(["status", "--config", str(config_file)]) == 0
    table = capsys.readouterr().out
    assert "btc" in table and "0.0005" in table
    assert main(["fills", "--config", str(config_file)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("time,bot,coin,side,price,size,fee")
    assert [line.split(",")[3] for line in lines[1:]] == ["buy", "sell"]
    assert main(["fills", "--config", str(config_file), "--bot", "nobody"]) == 2
    assert "no bot named 'nobody'" in capsys.readouterr().err


def test_audit_names_each_mismatch(config_file: Path, capsys) -> None:
    store, state = _journal(config_file)
    state.apply_fill_sync(_fill(1, Side.BUY, "64000", "0.001"))
    # A state row that no longer matches its own journal (checksum still valid).
    store.save_state(attrs.evolve(state.get_snapshot(), position=D("0.005")))
    store.close()
    assert main(["audit", "--config", str(config_file)]) == 1
    out = capsys.readouterr().out
    assert "btc: position is 0.005 in the state row but 0.001 from the journal" in out
    # The paper exchange never saw this fill, so it disagrees too.
    assert "btc: position is 0.005 in the journal but 0 on the exchange" in out


def test_audit_passes_on_clean_books(config_file: Path, capsys) -> None:
    store, _ = _journal(config_file)
    store.close()
    assert main(["audit", "--config", str(config_file)]) == 0
    assert "audit OK" in capsys.readouterr().out


def test_bad_candle_file_is_one_line_naming_file_and_line(config_file: Path, capsys) -> None:
    (config_file.parent / "btc.csv").write_text(
        "time_ms,open,high,low,close,volume\n1,100,101,99,100,5\n2,100,oops,99,100,5\n"
    )
    text = config_file.read_text().replace(
        "volatility = 0.8", 'volatility = 0.8\ncandles_file = "btc.csv"', 1
    )
    config_file.write_text(text)
    assert main(["--headless", "--config", str(config_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "btc.csv: 1 candle with a non-numeric price at line 3 (high 'oops')" in err
    assert "Traceback" not in err
