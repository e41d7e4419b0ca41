"""The live-status file is believed only while its writer lives and keeps it fresh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from gridtui.core.account import AccountSummary, PositionRisk
from gridtui.state.live_status import (
    LIVE_STATUS_FILE,
    STALE_AFTER_S,
    LiveBot,
    read_live_account,
    read_live_status,
    remove_live_status,
    write_live_status,
)

WAITING = LiveBot("waiting for exchange", "HTTP 502, retry in 4 s")


def test_what_a_live_writer_wrote_is_read_back(tmp_path: Path) -> None:
    write_live_status(tmp_path, {"btc": WAITING, "eth": LiveBot("running")})
    assert read_live_status(tmp_path) == {"btc": WAITING, "eth": LiveBot("running")}
    remove_live_status(tmp_path)
    assert read_live_status(tmp_path) is None
    remove_live_status(tmp_path)  # nothing to remove: no error


def _rewrite(folder: Path, **fields: object) -> None:
    path = folder / LIVE_STATUS_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def test_a_stale_file_says_nothing(tmp_path: Path) -> None:
    write_live_status(tmp_path, {"btc": WAITING})
    _rewrite(tmp_path, written_s=time.time() - STALE_AFTER_S - 1)
    assert read_live_status(tmp_path) is None


def test_a_dead_writer_says_nothing(tmp_path: Path) -> None:
    """kill -9 leaves a fresh file behind; its PID no longer runs."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    write_live_status(tmp_path, {"btc": WAITING})
    _rewrite(tmp_path, pid=int(gone.stdout))
    assert read_live_status(tmp_path) is None
    _rewrite(tmp_path, pid=os.getpid())
    assert read_live_status(tmp_path) == {"btc": WAITING}


@pytest.mark.parametrize("text", ["", "{", "[]", '{"pid": 1}', '{"pid": "x", "written_s": 0}'])
def test_a_garbled_file_says_nothing(tmp_path: Path, text: str) -> None:
    (tmp_path / LIVE_STATUS_FILE).write_text(text)
    assert read_live_status(tmp_path) is None


def test_the_account_reading_travels_exactly_and_a_garbled_one_is_none(tmp_path: Path) -> None:
    btc = PositionRisk(
        "BTC", Decimal("-0.0150"), Decimal("97042.5"), Decimal("97100"), 5, False,
        Decimal("291.3"), Decimal("115212.7"), Decimal("-0.000123456789"),
    )  # fmt: skip
    eth = attrs.evolve(btc, coin="ETH", liquidation_price=None, funding_since_open=None)
    account = AccountSummary(
        Decimal("100012.345678"), Decimal("300"), Decimal("99712.3"), Decimal("12.5"),
        (btc, eth), 1_700_000_000_000,
    )  # fmt: skip
    write_live_status(tmp_path, {"btc": LiveBot("running")})
    assert read_live_account(tmp_path) is None  # not read yet
    write_live_status(tmp_path, {"btc": LiveBot("running")}, account)
    assert read_live_account(tmp_path) == account
    _rewrite(tmp_path, account={"account_value": "lots"})
    assert read_live_account(tmp_path) is None
    assert read_live_status(tmp_path) == {"btc": LiveBot("running")}  # the bots still read
