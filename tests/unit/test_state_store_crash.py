"""kill -9 in the middle of a stream of fill commits never leaves fill and state disagreeing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gridtui.state.accounting import replay
from gridtui.state.store import Store

REPO = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import sys
    from decimal import Decimal
    from pathlib import Path

    from gridtui.core.types import Fill, OrderRequest, Side
    from gridtui.state.accounting import BotState, apply_fill
    from gridtui.state.store import Store

    store = Store(Path(sys.argv[1]), venue="paper", bot="b1", coin="BTC")
    state = store.load_state() or BotState.fresh("b1", "BTC", 0)
    start = state.fill_count
    for i in range(start, start + 1_000_000):
        side = Side.BUY if (i // 3) % 2 == 0 else Side.SELL
        fill = Fill("paper", "BTC", i, i, None, side, Decimal(100 + i % 7), Decimal("0.013"),
                    Decimal("0.0007"), i)
        state, _ = apply_fill(state, fill)
        store.commit_fill(fill, state)
        cid = "0x%032x" % i
        store.record_intent(OrderRequest("BTC", side, Decimal(100), Decimal(1), cid),
                            level=i % 5, generation=i, created_ms=i)
        if i == start + 20:
            print("running", flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_kill_minus_nine_leaves_fills_and_state_consistent(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for run, delay in enumerate((0.0, 0.05, 0.15)):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, env=env, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "running"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL

        store = Store(db, venue="paper", bot="b1", coin="BTC")
        try:
            state = store.load_state()  # the CRC check passes: no torn state row
            assert state is not None
            fills = store.applied_fills()
            assert state.fill_count == len(fills) == store.fill_count()
            assert state == replay("b1", "BTC", fills, 0)
            # each intent was recorded right after its fill: at most the last fill of each run
            # may lack one, and no intent exists without its fill
            order_ids = {int(o.client_id, 16) for o in store.orders()}
            missing = {f.trade_id for f in fills} - order_ids
            assert order_ids <= {f.trade_id for f in fills}
            assert len(missing) <= run + 1
        finally:
            store.close()
