"""ReconciliationService against a real paper venue (BTC on a tape of flat candles)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from gridtui.config.schema import BreakerSettings, PaperMarket, PaperSettings
from gridtui.core.clock import SimClock
from gridtui.core.events import AlertRaised, Event, EventBus, Reconciled, Severity
from gridtui.core.types import Level, OrderRequest, OrderStatus, PlaceStatus, Position, Side
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.execution.execution_gateway import ExecutionGateway
from gridtui.execution.fill_deduplicator import FillDeduplicator
from gridtui.execution.fill_processor import FillProcessor
from gridtui.execution.order_state_machine import OrderStateMachine
from gridtui.execution.reconciliation_service import ReconciliationService
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics
from gridtui.risk.circuit_breaker import CircuitBreaker
from gridtui.state.shadow_ledger import ShadowLedger
from gridtui.state.state_manager import StateManager
from gridtui.state.store import Store

D = Decimal
T0 = 1_700_000_000_000
BUY_99 = Level(-1, D(99), Side.BUY, D("0.2"))
SELL_101 = Level(1, D(101), Side.SELL, D("0.2"))


@attrs.define
class Rig:
    clock: SimClock
    venue: SimExchange
    store: Store
    state: StateManager
    ledger: ShadowLedger
    gateway: ExecutionGateway
    service: ReconciliationService
    events: list[Event]

    def next_price(self) -> None:
        for _ in range(4):  # a flat candle lasts four venue steps
            self.clock.advance(1)
            self.venue.step()

    def alerts(self, severity: Severity) -> list[AlertRaised]:
        return [e for e in self.events if isinstance(e, AlertRaised) and e.severity is severity]


MakeRig = Callable[..., Rig]


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[MakeRig]:
    opened: list[Rig] = []

    def factory(prices: Sequence[int] = (100,)) -> Rig:
        tape = tmp_path / "btc.csv"
        rows = [f"{T0 + i * 60_000},{p},{p},{p},{p},0" for i, p in enumerate(prices)]
        tape.write_text("\n".join(rows) + "\n", encoding="utf-8")
        clock = SimClock(T0)
        markets = (
            PaperMarket("BTC", D(prices[0]), 2, candles_file=tape),
            PaperMarket("ETH", D(2000), 3, volatility=0.0),
        )
        venue = SimExchange.in_memory(PaperSettings(markets=markets), clock)
        store = Store(tmp_path / "b1.db", venue="paper", bot="b1", coin="BTC")
        bus = EventBus()
        events: list[Event] = []
        bus.subscribe(events.append)
        state = StateManager(store, clock, bot="b1", coin="BTC")
        ledger = ShadowLedger(store, OrderStateMachine(), clock)
        processor = FillProcessor(state, FillDeduplicator(store), ledger, bus, clock)
        metrics = Metrics()
        gateway = ExecutionGateway(
            venue,
            ledger,
            CircuitBreaker(BreakerSettings(), clock),
            bus,
            clock,
            metrics,
            bot="b1",
            coin="BTC",
        )
        service = ReconciliationService(
            venue, processor, gateway, state, Alerter(bus, clock), bus, clock, metrics
        )
        rig = Rig(clock, venue, store, state, ledger, gateway, service, events)
        opened.append(rig)
        return rig

    yield factory
    for rig in opened:
        rig.store.close()
        await rig.venue.close()


async def test_missed_fill_is_applied_exactly_once(make_rig: MakeRig) -> None:
    rig = make_rig(prices=[100, 99])
    await rig.gateway.submit_levels([BUY_99, SELL_101])
    rig.next_price()  # the buy fills; nobody processed the stream
    first = await rig.service.reconcile()
    second = await rig.service.reconcile()
    assert (first.missing_fills, second.missing_fills) == (1, 0)
    state = rig.state.get_snapshot()
    assert (state.position, state.avg_entry, state.fill_count) == (D("0.2"), D(99), 1)
    assert first.fill_results[0].order_status is OrderStatus.FILLED
    assert [e.missing_fills for e in rig.events if isinstance(e, Reconciled)] == [1, 0]
    assert not first.position_corrected  # the fill explained the position


async def test_order_sent_but_never_acknowledged_is_adopted(make_rig: MakeRig) -> None:
    rig = make_rig()
    request, generation = rig.gateway.request_for(BUY_99)
    rig.ledger.add_pending(request, level=-1, generation=generation)
    (ack,) = await rig.venue.place_orders([request])  # reached the venue; the ack was lost
    report = await rig.service.reconcile()
    assert (report.adopted_orders, report.canceled_unknown) == (1, 0)
    tracked = rig.ledger.get(request.client_id)
    assert tracked is not None
    assert (tracked.status, tracked.exchange_id) == (OrderStatus.OPEN, ack.exchange_id)
    assert len(await rig.venue.open_orders("BTC")) == 1  # kept, not canceled nor resent


async def test_order_journaled_but_never_sent_is_settled_as_rejected(make_rig: MakeRig) -> None:
    rig = make_rig()
    request, generation = rig.gateway.request_for(BUY_99)
    rig.ledger.add_pending(request, level=-1, generation=generation)  # crash before sending
    report = await rig.service.reconcile()
    assert report.settled_orders == 1
    assert rig.ledger.get(request.client_id).status is OrderStatus.REJECTED  # type: ignore[union-attr]
    assert rig.ledger.live() == []


async def test_unknown_order_on_the_coin_is_canceled_other_coins_untouched(
    make_rig: MakeRig,
) -> None:
    rig = make_rig()
    (ours,) = await rig.gateway.submit_levels([BUY_99])
    stranger = OrderRequest("BTC", Side.SELL, D(120), D("0.2"), "0x" + "1" * 32)
    no_cloid = OrderRequest("BTC", Side.BUY, D(80), D("0.2"), "")
    elsewhere = OrderRequest("ETH", Side.BUY, D(1900), D("0.01"), "0x" + "2" * 32)
    await rig.venue.place_orders([stranger, no_cloid, elsewhere])
    report = await rig.service.reconcile()
    assert report.canceled_unknown == 2
    assert [o.client_id for o in await rig.venue.open_orders("BTC")] == [ours.client_id]
    assert [o.client_id for o in await rig.venue.open_orders("ETH")] == [elsewhere.client_id]


async def test_our_order_resting_against_our_books_is_canceled(make_rig: MakeRig) -> None:
    rig = make_rig()
    request, generation = rig.gateway.request_for(BUY_99)
    rig.ledger.add_pending(request, level=-1, generation=generation)
    await rig.venue.place_orders([request])
    rig.ledger.mark(request.client_id, OrderStatus.CANCELED)  # our books say it is gone
    report = await rig.service.reconcile()
    assert report.canceled_unknown == 1
    assert await rig.venue.open_orders("BTC") == []


async def test_position_difference_is_corrected_with_an_adjustment_and_an_alert(
    make_rig: MakeRig,
) -> None:
    rig = make_rig()
    manual = OrderRequest("BTC", Side.SELL, D(90), D("0.3"), "0x" + "3" * 32)
    (ack,) = await rig.venue.place_orders([manual])  # crosses: sells 0.3 at the bid
    assert ack.status is PlaceStatus.FILLED and ack.avg_price == D("99.99")
    report = await rig.service.reconcile()
    assert report.missing_fills == 0  # not our order: never journaled as our fill...
    assert report.position_corrected and report.position_checked  # ...but corrected
    state = rig.state.get_snapshot()
    assert (state.position, state.avg_entry, state.fill_count) == (D("-0.3"), D("99.99"), 0)
    (adjustment,) = rig.store.adjustments()
    assert (adjustment.field, adjustment.old_value, adjustment.new_value) == (
        "position",
        "0@0",
        "-0.3@99.99",
    )
    assert adjustment.reason == "exchange reports -0.3, journal had 0"
    (critical,) = rig.alerts(Severity.CRITICAL)
    assert critical.kind == "reconciliation_correction"
    again = await rig.service.reconcile()
    assert not again.position_corrected and len(rig.store.adjustments()) == 1


async def test_failed_position_query_never_reads_as_flat(make_rig: MakeRig) -> None:
    rig = make_rig(prices=[100, 99])
    await rig.gateway.submit_levels([BUY_99])
    rig.next_price()
    await rig.service.reconcile()
    assert rig.state.get_snapshot().position == D("0.2")
    rig.venue.fail_next(5, "info endpoint 500", calls={"positions"})
    report = await rig.service.reconcile()
    assert report.error == "info endpoint 500"
    assert (report.position_checked, report.position_corrected) == (False, False)
    assert rig.state.get_snapshot().position == D("0.2")
    assert rig.store.adjustments() == []
    assert rig.alerts(Severity.CRITICAL) == []


async def test_fills_applied_before_a_failed_pass_are_still_reported(make_rig: MakeRig) -> None:
    rig = make_rig(prices=[100, 99])
    await rig.gateway.submit_levels([BUY_99])
    rig.next_price()
    rig.venue.fail_next(1, "info endpoint 500", calls={"positions"})
    report = await rig.service.reconcile()
    assert report.error == "info endpoint 500"
    assert report.missing_fills == 1
    assert [r.fill.price for r in report.fill_results] == [D(99)]


async def test_a_reading_taken_while_a_fill_lands_is_not_trusted(
    make_rig: MakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = make_rig(prices=[100, 99])
    await rig.gateway.submit_levels([BUY_99])
    positions = rig.venue.positions
    readings: list[dict[str, Position]] = []

    async def racing() -> dict[str, Position]:
        reading = await positions()
        if not readings:
            rig.next_price()  # our buy fills just after the venue answered "flat"
        readings.append(reading)
        return reading

    monkeypatch.setattr(rig.venue, "positions", racing)
    report = await rig.service.reconcile()
    assert [r.get("BTC") for r in readings] == [None, Position("BTC", D("0.2"), D(99))]
    assert report.missing_fills == 1 and report.position_checked
    assert not report.position_corrected  # the stale "flat" was not written into the books
    assert rig.state.get_snapshot().position == D("0.2")
    assert rig.store.adjustments() == []
