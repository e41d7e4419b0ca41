"""FillProcessor: exactly once, journal before position, never a silent failure."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from gridtui.core.clock import SimClock
from gridtui.core.events import AlertRaised, Event, EventBus, OrderFilled, Severity
from gridtui.core.types import Fill, OrderRequest, OrderStatus, Side
from gridtui.execution.fill_deduplicator import FillDeduplicator
from gridtui.execution.fill_processor import FillProcessor
from gridtui.execution.order_state_machine import OrderStateMachine
from gridtui.state.shadow_ledger import ShadowLedger
from gridtui.state.state_manager import StateManager
from gridtui.state.store import Store

D = Decimal
T0 = 1_700_000_000_000
CID = "0x" + "e" * 32


def fill(tid: int, side: Side = Side.BUY, size: str = "1", price: str = "100", **kw) -> Fill:  # type: ignore[no-untyped-def]
    base = Fill("paper", "BTC", tid, 555, CID, side, D(price), D(size), D("0.02"), T0 + tid)
    return attrs.evolve(base, **kw)


@attrs.define
class Rig:
    processor: FillProcessor
    state: StateManager
    ledger: ShadowLedger
    dedup: FillDeduplicator
    events: list[Event]
    clock: SimClock


def build(path: Path, clock: SimClock | None = None) -> Rig:
    clock = clock or SimClock(T0 + 1_000)
    store = Store(path, venue="paper", bot="b1", coin="BTC")
    state = StateManager(store, clock, bot="b1", coin="BTC")
    dedup = FillDeduplicator(store)
    ledger = ShadowLedger(store, OrderStateMachine(), clock)
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    return Rig(FillProcessor(state, dedup, ledger, bus, clock), state, ledger, dedup, events, clock)


@pytest.fixture
def rig(tmp_path: Path):  # type: ignore[no-untyped-def]
    r = build(tmp_path / "b1.db")
    yield r
    r.state.store.close()


def test_fill_is_applied_once_and_duplicate_caught_in_memory(rig: Rig) -> None:
    first = rig.processor.process_fill(fill(1, size="2", price="100"))
    assert (first.applied, first.duplicate) == (True, False)
    assert first.position == D("2")
    assert first.realized_delta == D("-0.02")
    again = rig.processor.process_fill(fill(1, size="2", price="100"))
    assert (again.applied, again.duplicate, again.realized_delta) == (False, True, 0)
    assert again.position == first.position == rig.state.get_snapshot().position
    assert rig.state.store.fill_count() == 1
    assert len([e for e in rig.events if isinstance(e, OrderFilled)]) == 1


def test_duplicate_caught_by_the_store_after_a_restart(tmp_path: Path) -> None:
    first = build(tmp_path / "b1.db")
    first.processor.process_fill(fill(1))
    first.state.store.close()

    second = build(tmp_path / "b1.db")
    result = second.processor.process_fill(fill(1))
    assert result.duplicate and not result.applied
    assert second.state.get_snapshot().position == D("1")
    second.state.store.close()


def test_duplicate_caught_by_the_store_when_memory_misses(rig: Rig) -> None:
    stale = FillDeduplicator(rig.state.store)  # seeded before the fill is journaled
    rig.processor.process_fill(fill(1))
    other = FillProcessor(rig.state, stale, rig.ledger, EventBus(), rig.clock)
    result = other.process_fill(fill(1))
    assert result.duplicate and not result.applied
    assert rig.state.get_snapshot().position == D("1")
    assert stale.seen(fill(1).key)  # learned from the store


def test_order_status_follows_the_fills(rig: Rig) -> None:
    rig.ledger.add_pending(
        OrderRequest("BTC", Side.BUY, D("100"), D("3"), CID), level=-1, generation=0
    )
    rig.ledger.mark(CID, OrderStatus.OPEN, exchange_id=555)
    r1 = rig.processor.process_fill(fill(1, size="1"))
    r2 = rig.processor.process_fill(fill(2, size="2", client_id=None))  # matched by exchange id
    assert r1.order_status is OrderStatus.PARTIALLY_FILLED
    assert r2.order_status is OrderStatus.FILLED
    assert rig.ledger.live_count() == 0
    event = rig.events[-1]
    assert isinstance(event, OrderFilled)
    assert (event.bot, event.coin, event.trade_id, event.position) == ("b1", "BTC", 2, D("3"))
    assert event.timestamp_ms == rig.clock.now_ms()


def test_fill_of_an_unknown_order_still_counts(rig: Rig) -> None:
    result = rig.processor.process_fill(fill(1, client_id="0x" + "9" * 32, exchange_order_id=1))
    assert result.applied and result.order_status is None
    assert rig.state.get_snapshot().position == D("1")


def test_fill_of_another_coin_alerts_and_raises(rig: Rig) -> None:
    with pytest.raises(ValueError):
        rig.processor.process_fill(fill(1, coin="ETH"))
    (alert,) = rig.events
    assert isinstance(alert, AlertRaised)
    assert (alert.severity, alert.kind, alert.bot) == (
        Severity.CRITICAL,
        "fill_processing_error",
        "b1",
    )
    assert rig.state.get_snapshot().fill_count == 0


def test_store_failure_alerts_reraises_and_allows_a_retry(rig: Rig, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(_fills: list[Fill]) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(rig.state, "apply_fills_sync", broken)
    with pytest.raises(OSError, match="disk gone"):
        rig.processor.process_fill(fill(1))
    assert [type(e) for e in rig.events] == [AlertRaised]
    assert "disk gone" in rig.events[0].message  # type: ignore[attr-defined]
    monkeypatch.undo()
    assert not rig.dedup.seen(fill(1).key)  # not marked seen: the retry applies it
    assert rig.processor.process_fill(fill(1)).applied


def test_process_fills_runs_in_execution_order(rig: Rig) -> None:
    late = fill(3, side=Side.SELL, price="110", timestamp_ms=T0 + 50)
    early = fill(7, side=Side.BUY, price="100", timestamp_ms=T0 + 10)
    same_ms = fill(5, side=Side.BUY, price="104", timestamp_ms=T0 + 10)
    results = rig.processor.process_fills([late, early, same_ms])
    assert [r.fill.trade_id for r in results] == [5, 7, 3]
    # long 2 @ 102 then sell 1 @ 110: +8 gross, three fees of 0.02
    assert rig.state.get_snapshot().all_time_realized == D("7.94")
