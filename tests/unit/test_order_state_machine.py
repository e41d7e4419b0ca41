"""Every edge of the DESIGN §3 transition table, written out independently of the module."""

from __future__ import annotations

import itertools

import pytest

from gridtui.core.types import OrderStatus as S
from gridtui.execution.order_state_machine import OrderStateMachine

LEGAL = {
    (S.PENDING_SUBMIT, S.OPEN),
    (S.PENDING_SUBMIT, S.PARTIALLY_FILLED),
    (S.PENDING_SUBMIT, S.FILLED),
    (S.PENDING_SUBMIT, S.REJECTED),
    (S.PENDING_SUBMIT, S.UNKNOWN),
    (S.PENDING_SUBMIT, S.PENDING_CANCEL),
    (S.PENDING_SUBMIT, S.CANCELED),
    (S.OPEN, S.PARTIALLY_FILLED),
    (S.OPEN, S.FILLED),
    (S.OPEN, S.PENDING_CANCEL),
    (S.OPEN, S.CANCELED),
    (S.OPEN, S.UNKNOWN),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
    (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.PENDING_CANCEL),
    (S.PARTIALLY_FILLED, S.CANCELED),
    (S.PARTIALLY_FILLED, S.UNKNOWN),
    (S.PENDING_CANCEL, S.CANCELED),
    (S.PENDING_CANCEL, S.FILLED),
    (S.PENDING_CANCEL, S.PARTIALLY_FILLED),
    (S.PENDING_CANCEL, S.OPEN),
    (S.PENDING_CANCEL, S.UNKNOWN),
    (S.UNKNOWN, S.OPEN),
    (S.UNKNOWN, S.PARTIALLY_FILLED),
    (S.UNKNOWN, S.FILLED),
    (S.UNKNOWN, S.CANCELED),
    (S.UNKNOWN, S.REJECTED),
}
ALL_PAIRS = set(itertools.product(S, S))


@pytest.mark.parametrize("edge", sorted(LEGAL, key=lambda e: (e[0].value, e[1].value)))
def test_every_legal_edge_is_accepted(edge: tuple[S, S]) -> None:
    machine = OrderStateMachine()
    assert machine.can(*edge)
    assert machine.transition("0xabc", *edge) is True
    assert machine.illegal_count == 0


def test_every_other_edge_is_refused_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    machine = OrderStateMachine()
    illegal = sorted(ALL_PAIRS - LEGAL, key=lambda e: (e[0].value, e[1].value))
    for n, (frm, to) in enumerate(illegal, start=1):
        assert not machine.can(frm, to)
        assert machine.transition("0xabc", frm, to) is False
        assert machine.illegal_count == n
    assert "illegal transition" in caplog.text
    assert len(illegal) == 64 - 27


@pytest.mark.parametrize("terminal", [S.FILLED, S.CANCELED, S.REJECTED])
def test_terminal_states_go_nowhere(terminal: S) -> None:
    machine = OrderStateMachine()
    assert not any(machine.can(terminal, to) for to in S)
