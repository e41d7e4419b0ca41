"""Every (status, fact) pair of the order state machine, written out independently of the module:
the ordinary path, the real world's odd edges, and everything else refused and counted."""

from __future__ import annotations

import itertools

import pytest

from gridtui.core.types import OrderStatus as S
from gridtui.state.order_state_machine import OrderFact as F
from gridtui.state.order_state_machine import OrderStateMachine

ORDINARY = {
    (S.PENDING_SUBMIT, F.SEND_FAILED): S.UNKNOWN,
    (S.PENDING_SUBMIT, F.ACCEPTED): S.OPEN,
    (S.PENDING_SUBMIT, F.RESTING): S.OPEN,
    (S.PENDING_SUBMIT, F.REJECTED): S.REJECTED,
    (S.PENDING_SUBMIT, F.NOT_FOUND): S.REJECTED,
    (S.PENDING_SUBMIT, F.PART_FILLED): S.PARTIALLY_FILLED,
    (S.PENDING_SUBMIT, F.FILLED): S.FILLED,
    (S.PENDING_SUBMIT, F.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.PENDING_SUBMIT, F.CANCEL_FAILED): S.UNKNOWN,
    (S.PENDING_SUBMIT, F.CANCELED): S.CANCELED,
    (S.OPEN, F.PART_FILLED): S.PARTIALLY_FILLED,
    (S.OPEN, F.FILLED): S.FILLED,
    (S.OPEN, F.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.OPEN, F.CANCEL_FAILED): S.UNKNOWN,
    (S.OPEN, F.CANCELED): S.CANCELED,
    (S.PARTIALLY_FILLED, F.PART_FILLED): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, F.FILLED): S.FILLED,
    (S.PARTIALLY_FILLED, F.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, F.CANCEL_FAILED): S.UNKNOWN,
    (S.PARTIALLY_FILLED, F.CANCELED): S.CANCELED,
    (S.PENDING_CANCEL, F.CANCELED): S.CANCELED,
    (S.PENDING_CANCEL, F.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, F.CANCEL_FAILED): S.UNKNOWN,
    (S.UNKNOWN, F.ACCEPTED): S.OPEN,
    (S.UNKNOWN, F.RESTING): S.OPEN,
    (S.UNKNOWN, F.REJECTED): S.REJECTED,
    (S.UNKNOWN, F.NOT_FOUND): S.REJECTED,
    (S.UNKNOWN, F.PART_FILLED): S.PARTIALLY_FILLED,
    (S.UNKNOWN, F.FILLED): S.FILLED,
    (S.UNKNOWN, F.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.UNKNOWN, F.CANCELED): S.CANCELED,
    (S.FILLED, F.FILLED): S.FILLED,
    (S.CANCELED, F.CANCELED): S.CANCELED,
    (S.REJECTED, F.REJECTED): S.REJECTED,
    (S.REJECTED, F.NOT_FOUND): S.REJECTED,
}
REAL_WORLD = {
    (S.OPEN, F.ACCEPTED): S.OPEN,
    (S.OPEN, F.RESTING): S.OPEN,
    (S.OPEN, F.NOT_FOUND): S.OPEN,
    (S.OPEN, F.SEND_FAILED): S.OPEN,  # the push said it rests before the call's error
    (S.PARTIALLY_FILLED, F.ACCEPTED): S.PARTIALLY_FILLED,  # the ack came after the first fill
    (S.PARTIALLY_FILLED, F.RESTING): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, F.NOT_FOUND): S.PARTIALLY_FILLED,
    (S.PENDING_CANCEL, F.PART_FILLED): S.PARTIALLY_FILLED,  # a fill raced the cancel
    (S.PENDING_CANCEL, F.FILLED): S.FILLED,
    (S.PENDING_CANCEL, F.RESTING): S.OPEN,  # the cancel did not take
    (S.PENDING_CANCEL, F.ACCEPTED): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, F.NOT_FOUND): S.PENDING_CANCEL,
    (S.UNKNOWN, F.SEND_FAILED): S.UNKNOWN,
    (S.UNKNOWN, F.CANCEL_FAILED): S.UNKNOWN,
    (S.FILLED, F.PART_FILLED): S.FILLED,
    (S.FILLED, F.ACCEPTED): S.FILLED,
    (S.FILLED, F.NOT_FOUND): S.FILLED,
    (S.FILLED, F.CANCEL_REQUESTED): S.FILLED,  # a cancel of an order that has just filled
    (S.FILLED, F.CANCEL_FAILED): S.FILLED,
    (S.CANCELED, F.PART_FILLED): S.CANCELED,  # a fill after the cancel
    (S.CANCELED, F.FILLED): S.CANCELED,
    (S.CANCELED, F.ACCEPTED): S.CANCELED,
    (S.CANCELED, F.NOT_FOUND): S.CANCELED,
    (S.CANCELED, F.CANCEL_REQUESTED): S.CANCELED,
    (S.CANCELED, F.CANCEL_FAILED): S.CANCELED,
    (S.REJECTED, F.CANCEL_REQUESTED): S.REJECTED,
    (S.REJECTED, F.CANCEL_FAILED): S.REJECTED,
    (S.REJECTED, F.CANCELED): S.REJECTED,  # given up, it landed late and we canceled it
}
LEGAL = ORDINARY | REAL_WORLD
ALL_PAIRS = set(itertools.product(S, F))


@pytest.mark.parametrize("edge", sorted(LEGAL, key=lambda e: (e[0].value, e[1].value)))
def test_every_legal_edge_gives_its_status(edge: tuple[S, F]) -> None:
    machine = OrderStateMachine()
    assert machine.next_status("0xabc", *edge) is LEGAL[edge]
    assert machine.illegal_count == 0


def test_every_other_edge_is_refused_counted_and_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refusals: list[None] = []
    machine = OrderStateMachine(on_refused=lambda: refusals.append(None))
    illegal = sorted(ALL_PAIRS - LEGAL.keys(), key=lambda e: (e[0].value, e[1].value))
    for n, (status, fact) in enumerate(illegal, start=1):
        assert machine.next_status("0xabc", status, fact) is None
        assert machine.illegal_count == n == len(refusals)
    assert "refused" in caplog.text
    # the contradictions: resting again once finished, a fill of a rejected order, ...
    assert (S.FILLED, F.RESTING) in illegal and (S.REJECTED, F.FILLED) in illegal
    assert len(illegal) == len(S) * len(F) - len(LEGAL) == 80 - 63


def test_no_fact_leads_back_to_pending_submit() -> None:
    assert S.PENDING_SUBMIT not in LEGAL.values()
