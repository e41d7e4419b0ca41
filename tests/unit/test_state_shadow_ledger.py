"""ShadowLedger: journaled before sent, status changes only through the state machine."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gridtui.core.clock import SimClock
from gridtui.core.types import OrderRequest, OrderStatus, Side
from gridtui.state.order_state_machine import OrderStateMachine
from gridtui.state.shadow_ledger import ShadowLedger
from gridtui.state.store import Store

D = Decimal
CID = "0x" + "c" * 32
CID2 = "0x" + "d" * 32


def req(cid: str = CID, size: str = "2") -> OrderRequest:
    return OrderRequest("BTC", Side.SELL, D("101"), D(size), cid)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "b1.db", venue="paper", bot="b1", coin="BTC")
    yield s
    s.close()


@pytest.fixture
def machine() -> OrderStateMachine:
    return OrderStateMachine()


@pytest.fixture
def clock() -> SimClock:
    return SimClock(1_700_000_000_000)


@pytest.fixture
def ledger(store: Store, machine: OrderStateMachine, clock: SimClock) -> ShadowLedger:
    return ShadowLedger(store, machine, clock)


def test_add_pending_journals_before_returning(ledger: ShadowLedger, store: Store) -> None:
    tracked = ledger.add_pending(req(), level=3, generation=1)
    assert tracked.status is OrderStatus.PENDING_SUBMIT
    record = store.order(CID)
    assert record is not None and record.status is OrderStatus.PENDING_SUBMIT
    assert (record.level, record.generation) == (3, 1)
    assert store.next_generation(3) == 2
    assert ledger.live() == [tracked]
    assert ledger.knows(CID) and not ledger.knows(CID2)


def test_mark_open_is_persisted_and_reloaded(
    ledger: ShadowLedger, store: Store, machine: OrderStateMachine, clock: SimClock
) -> None:
    ledger.add_pending(req(), level=1, generation=0)
    clock.advance(1)
    assert ledger.on_ack(CID, 4242) is True
    assert ledger.by_exchange_id(4242).status is OrderStatus.OPEN  # type: ignore[union-attr]
    reloaded = ShadowLedger(store, machine, clock)
    (tracked,) = reloaded.live()
    assert (tracked.client_id, tracked.status, tracked.exchange_id) == (
        CID,
        OrderStatus.OPEN,
        4242,
    )
    assert tracked.updated_ms == clock.now_ms()
    assert reloaded.by_exchange_id(4242) == tracked


def test_a_refused_fact_is_counted_and_not_applied(
    ledger: ShadowLedger, store: Store, machine: OrderStateMachine
) -> None:
    ledger.add_pending(req(), level=1, generation=0)
    ledger.on_ack(CID, 1)
    assert ledger.on_reject(CID, "late reject of a resting order") is False
    assert machine.illegal_count == 1
    assert ledger.get(CID).status is OrderStatus.OPEN  # type: ignore[union-attr]
    assert store.order(CID).status is OrderStatus.OPEN  # type: ignore[union-attr]


def test_fills_move_to_partial_then_filled_and_forget_from_memory(
    ledger: ShadowLedger, store: Store
) -> None:
    ledger.add_pending(req(size="2"), level=1, generation=0)
    ledger.on_ack(CID, 9)
    assert ledger.on_fill(CID, D("0.5")) is OrderStatus.PARTIALLY_FILLED
    assert ledger.get(CID).filled == D("0.5")  # type: ignore[union-attr]
    assert ledger.on_fill(CID, D("1.5")) is OrderStatus.FILLED
    assert ledger.live_count() == 0 and ledger.live() == []
    done = ledger.get(CID)  # from the store now
    assert done is not None and (done.status, done.filled) == (OrderStatus.FILLED, D("2"))
    assert store.order(CID).filled == D("2")  # type: ignore[union-attr]
    assert ledger.by_exchange_id(9) == done
    assert ledger.knows(CID)


def test_late_fill_of_a_canceled_order_keeps_it_canceled(
    ledger: ShadowLedger, store: Store, machine: OrderStateMachine
) -> None:
    ledger.add_pending(req(), level=1, generation=0)
    ledger.on_ack(CID, 9)
    ledger.on_cancel_requested(CID)
    ledger.on_cancel_ack(CID, None)
    assert ledger.live_count() == 0
    assert ledger.on_fill(CID, D("0.3")) is OrderStatus.CANCELED
    record = store.order(CID)
    assert record is not None and (record.status, record.filled) == (
        OrderStatus.CANCELED,
        D("0.3"),
    )
    assert machine.illegal_count == 0


def test_fill_of_a_rejected_order_is_counted_illegal(
    ledger: ShadowLedger, machine: OrderStateMachine
) -> None:
    ledger.add_pending(req(), level=1, generation=0)
    ledger.on_reject(CID, "post only would cross")
    assert ledger.on_fill(CID, D("1")) is OrderStatus.REJECTED
    assert machine.illegal_count == 1


def test_ack_after_fill_records_exchange_id_without_going_back(
    ledger: ShadowLedger, machine: OrderStateMachine
) -> None:
    ledger.add_pending(req(), level=1, generation=0)
    assert ledger.on_fill(CID, D("1")) is OrderStatus.PARTIALLY_FILLED  # fill beat the ack
    assert ledger.on_ack(CID, 77) is True
    tracked = ledger.get(CID)
    assert tracked is not None
    assert (tracked.status, tracked.exchange_id) == (OrderStatus.PARTIALLY_FILLED, 77)
    assert ledger.by_exchange_id(77) == tracked
    assert machine.illegal_count == 0


def test_repeated_report_is_idempotent(ledger: ShadowLedger, machine: OrderStateMachine) -> None:
    ledger.add_pending(req(), level=1, generation=0)
    assert ledger.on_ack(CID, 5)
    assert ledger.on_report(CID, OrderStatus.OPEN)
    assert ledger.get(CID).exchange_id == 5  # type: ignore[union-attr]
    assert machine.illegal_count == 0


def test_unknown_client_id(ledger: ShadowLedger, machine: OrderStateMachine) -> None:
    assert ledger.on_fill(CID2, D("1")) is None
    assert ledger.on_report(CID2, OrderStatus.OPEN) is False
    assert ledger.get(CID2) is None and ledger.by_exchange_id(123) is None
    assert machine.illegal_count == 0


def test_resend_returns_the_live_order_but_a_finished_id_is_refused(
    ledger: ShadowLedger, store: Store
) -> None:
    first = ledger.add_pending(req(), level=1, generation=0)
    ledger.on_send_failed(CID, "timeout")
    again = ledger.add_pending(req(), level=1, generation=0)
    assert again.status is OrderStatus.UNKNOWN and again.created_ms == first.created_ms
    assert ledger.live_count() == 1
    ledger.on_cancel_ack(CID, None)
    with pytest.raises(ValueError):
        ledger.add_pending(req(), level=1, generation=0)
    assert ledger.live_count() == 0
    assert len(store.orders()) == 1


def test_open_report_for_a_finished_order_is_refused(
    ledger: ShadowLedger, store: Store, machine: OrderStateMachine
) -> None:
    ledger.add_pending(req(size="1"), level=1, generation=0)
    ledger.on_ack(CID, 8)
    assert ledger.on_fill(CID, D("1")) is OrderStatus.FILLED
    # The exchange still lists it as resting: our books disagree, so the caller must act on it.
    assert ledger.on_report(CID, OrderStatus.OPEN, exchange_id=8) is False
    assert machine.illegal_count == 1
    assert store.order(CID).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert ledger.live_count() == 0
    assert ledger.store is store
