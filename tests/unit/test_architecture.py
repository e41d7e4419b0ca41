"""The layer rule of DESIGN §1 and the lint rules, run by the suite so a bad import fails CI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_import_layers_hold() -> None:
    result = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_ruff_clean() -> None:
    result = subprocess.run(
        [str(BIN / "ruff"), "check", "gridtui", "tests"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]


STATUS_OWNERS = {"gridtui/state/shadow_ledger.py", "gridtui/state/order_state_machine.py"}
VENUE_MODELS = "gridtui/exchanges/"
"""The venues (paper engine, mock) keep their own orders' statuses: the exchange's side of the
world, not our books."""


def _status_writes(path: Path) -> list[str]:
    """Where ``path`` writes one of our orders' status: a journal update, a ``status=`` copy of
    a tracked order, or a fact handed to the state machine."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name == "update_order":
                found.append(f"{path}:{node.lineno} update_order")
            if name == "evolve" and any(k.arg == "status" for k in node.keywords):
                found.append(f"{path}:{node.lineno} evolve(status=...)")
            if name == "next_status":
                found.append(f"{path}:{node.lineno} next_status")
    return found


def test_only_the_ledger_and_its_state_machine_set_an_order_status() -> None:
    writes = []
    for path in sorted((REPO / "gridtui").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative in STATUS_OWNERS or relative.startswith(VENUE_MODELS):
            continue
        if relative == "gridtui/state/store.py":
            continue  # the journal's own ``update_order`` definition; its callers are checked
        writes += _status_writes(path)
    assert writes == []


def test_the_status_check_finds_a_status_write(tmp_path: Path) -> None:
    rogue = tmp_path / "rogue.py"
    rogue.write_text("store.update_order(cid, status=s, updated_ms=1)\nattrs.evolve(t, status=s)\n")
    assert len(_status_writes(rogue)) == 2


def test_the_backtest_builds_its_bot_with_the_live_factory_and_orchestrator() -> None:
    tree = ast.parse((REPO / "gridtui/backtest/replay.py").read_text())
    imported = {
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert ("gridtui.orchestrator.factory", "build_bot") in imported
    assert ("gridtui.orchestrator.bot_orchestrator", "BotOrchestrator") in imported
