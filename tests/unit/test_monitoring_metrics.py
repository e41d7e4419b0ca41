"""Metrics: bus events and setters move the right figures on a private registry."""

from __future__ import annotations

import urllib.error
import urllib.request
from decimal import Decimal

import attrs
import prometheus_client
import pytest

from gridtui.core.clock import UTC_DAY_MS, utc_day
from gridtui.core.events import (
    AlertRaised,
    BotHalted,
    BotResumed,
    BreakerClosed,
    BreakerTripped,
    EventBus,
    GridBuilt,
    OrderCanceled,
    OrderFilled,
    OrderPlaced,
    OrderRejected,
    Reconciled,
    Severity,
)
from gridtui.core.types import BotStatus, Side
from gridtui.monitoring.metrics import Metrics
from gridtui.risk.circuit_breaker import BreakerState
from gridtui.state.accounting import BotState

BOT = {"bot": "b1", "coin": "BTC"}
OTHER = {"bot": "b2", "coin": "ETH"}
TS = 1_700_000_000_000


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def bus(metrics: Metrics) -> EventBus:
    bus = EventBus()
    bus.subscribe(metrics.on_event)
    return bus


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def placed(**where: str) -> OrderPlaced:
    return OrderPlaced(
        **where,
        timestamp_ms=TS,
        client_id="c1",
        exchange_id=7,
        side=Side.BUY,
        price=Decimal("100"),
        size=Decimal("0.1"),
    )


def filled(position: str, trade_id: int = 1) -> OrderFilled:
    return OrderFilled(
        **BOT,
        timestamp_ms=TS,
        trade_id=trade_id,
        client_id="c1",
        side=Side.BUY,
        price=Decimal("100"),
        size=Decimal("0.1"),
        fee=Decimal("0.01"),
        position=Decimal(position),
        realized_pnl=Decimal("0"),
    )


def test_order_events_count_per_bot(metrics: Metrics, bus: EventBus) -> None:
    bus.publish(placed(**BOT))
    bus.publish(placed(**BOT))
    bus.publish(placed(**OTHER))
    bus.publish(
        OrderRejected(
            **BOT,
            timestamp_ms=TS,
            client_id="c2",
            side=Side.SELL,
            price=Decimal("101"),
            size=Decimal("0.1"),
            reason="post only would cross",
        )
    )
    bus.publish(OrderCanceled(**BOT, timestamp_ms=TS, client_id="c1", exchange_id=7))

    assert value(metrics, "gridtui_orders_submitted_total", **BOT) == 2
    assert value(metrics, "gridtui_orders_submitted_total", **OTHER) == 1
    assert value(metrics, "gridtui_orders_rejected_total", **BOT) == 1
    assert value(metrics, "gridtui_orders_cancelled_total", **BOT) == 1
    assert value(metrics, "gridtui_orders_cancelled_total", **OTHER) is None


def test_fill_counts_and_sets_position(metrics: Metrics, bus: EventBus) -> None:
    bus.publish(filled("0.1", trade_id=1))
    bus.publish(filled("-0.25", trade_id=2))

    assert value(metrics, "gridtui_fills_total", **BOT) == 2
    assert value(metrics, "gridtui_position", **BOT) == -0.25


def test_halt_and_resume_toggle_gauge(metrics: Metrics, bus: EventBus) -> None:
    bus.publish(BotHalted(**BOT, timestamp_ms=TS, reason="daily loss"))
    assert value(metrics, "gridtui_risk_halted", **BOT) == 1
    bus.publish(BotResumed(**BOT, timestamp_ms=TS))
    assert value(metrics, "gridtui_risk_halted", **BOT) == 0


def test_breaker_trip_and_close(metrics: Metrics, bus: EventBus) -> None:
    bus.publish(BreakerTripped(**BOT, timestamp_ms=TS, consecutive_errors=5, last_error="503"))
    assert value(metrics, "gridtui_circuit_breaker_state", **BOT) == 2
    assert value(metrics, "gridtui_circuit_breaker_trips_total", **BOT) == 1
    bus.publish(BreakerClosed(**BOT, timestamp_ms=TS))
    assert value(metrics, "gridtui_circuit_breaker_state", **BOT) == 0
    assert value(metrics, "gridtui_circuit_breaker_trips_total", **BOT) == 1


def test_reconciliation_outcomes_and_corrections(metrics: Metrics, bus: EventBus) -> None:
    bus.publish(
        Reconciled(
            **BOT,
            timestamp_ms=TS,
            missing_fills=0,
            adopted_orders=0,
            canceled_unknown=0,
            position_corrected=False,
        )
    )
    bus.publish(
        Reconciled(
            **BOT,
            timestamp_ms=TS,
            missing_fills=3,
            adopted_orders=2,
            canceled_unknown=1,
            position_corrected=True,
        )
    )
    bus.publish(
        Reconciled(
            **BOT,
            timestamp_ms=TS,
            missing_fills=1,
            adopted_orders=0,
            canceled_unknown=0,
            position_corrected=False,
        )
    )

    assert value(metrics, "gridtui_reconciliations_total", **BOT, outcome="clean") == 1
    assert value(metrics, "gridtui_reconciliations_total", **BOT, outcome="corrected") == 2
    corrections = "gridtui_reconciliation_corrections_total"
    assert value(metrics, corrections, **BOT, kind="missing_fill") == 4
    assert value(metrics, corrections, **BOT, kind="adopted_order") == 2
    assert value(metrics, corrections, **BOT, kind="unknown_order") == 1
    assert value(metrics, corrections, **BOT, kind="position") == 1


def test_only_position_drift_alerts_count_as_drift(metrics: Metrics, bus: EventBus) -> None:
    for kind in ("position_drift", "stuck_order", "position_drift"):
        bus.publish(
            AlertRaised(**BOT, timestamp_ms=TS, severity=Severity.CRITICAL, kind=kind, message="x")
        )
    assert value(metrics, "gridtui_position_drift_alerts_total", **BOT) == 2


def test_events_without_a_figure_change_nothing(metrics: Metrics, bus: EventBus) -> None:
    before = metrics.render()
    bus.publish(
        GridBuilt(**BOT, timestamp_ms=TS, center=Decimal("100"), levels=10, placed=10, canceled=0)
    )
    assert metrics.render() == before


def trading_state(day: int) -> BotState:
    return attrs.evolve(
        BotState.fresh("b1", "BTC", TS),
        position=Decimal("-0.5"),
        session_realized=Decimal("12.5"),
        all_time_realized=Decimal("99.25"),
        daily_realized=Decimal("-3.75"),
        daily_day=day,
        fees_paid=Decimal("1.5"),
        halted=True,
    )


def test_set_state_copies_accounting(metrics: Metrics) -> None:
    state = trading_state(utc_day(TS))
    metrics.set_state("b1", "BTC", state)

    assert value(metrics, "gridtui_position", **BOT) == -0.5
    assert value(metrics, "gridtui_session_realized_pnl", **BOT) == 12.5
    assert value(metrics, "gridtui_all_time_realized_pnl", **BOT) == 99.25
    assert value(metrics, "gridtui_daily_realized_pnl", **BOT) == -3.75
    assert value(metrics, "gridtui_fees_paid", **BOT) == 1.5
    assert value(metrics, "gridtui_risk_halted", **BOT) == 1

    metrics.set_state("b1", "BTC", attrs.evolve(state, halted=False))
    assert value(metrics, "gridtui_risk_halted", **BOT) == 0


def test_daily_pnl_is_todays_when_now_is_given(metrics: Metrics) -> None:
    state = trading_state(utc_day(TS))
    metrics.set_state("b1", "BTC", state, now_ms=TS + 3_600_000)  # same UTC day
    assert value(metrics, "gridtui_daily_realized_pnl", **BOT) == -3.75
    metrics.set_state("b1", "BTC", state, now_ms=TS + UTC_DAY_MS)  # next day, no fills yet
    assert value(metrics, "gridtui_daily_realized_pnl", **BOT) == 0
    assert value(metrics, "gridtui_all_time_realized_pnl", **BOT) == 99.25


def test_cycle_setters(metrics: Metrics) -> None:
    metrics.set_open_orders("b1", "BTC", 9)
    metrics.set_drift("b1", "BTC", Decimal("0.125"))
    metrics.stuck_order("b1", "BTC")
    metrics.stuck_order("b1", "BTC")
    metrics.set_stream_age("b1", "BTC", 4.5)
    metrics.stream_reconnected("b1", "BTC")
    metrics.set_dead_man_expiry(1_700_000_060)
    metrics.dead_man_refresh_failed()

    assert value(metrics, "gridtui_open_orders", **BOT) == 9
    assert value(metrics, "gridtui_position_drift_ratio", **BOT) == 0.125
    assert value(metrics, "gridtui_stuck_orders_total", **BOT) == 2
    assert value(metrics, "gridtui_stream_last_message_age_seconds", **BOT) == 4.5
    assert value(metrics, "gridtui_stream_reconnects_total", **BOT) == 1
    assert value(metrics, "gridtui_dead_man_expiry_timestamp_seconds") == 1_700_000_060
    assert value(metrics, "gridtui_dead_man_refresh_failures_total") == 1


def test_a_cycle_figure_follows_each_change_and_per_bot(metrics: Metrics) -> None:
    """The cycle's setters skip a value a gauge already holds; a new one still lands, on the
    right bot."""
    for n in (9, 9, 3, 0, 3):
        metrics.set_open_orders("b1", "BTC", n)
    metrics.set_open_orders("b2", "ETH", 3)
    metrics.set_breaker_state("b1", "BTC", BreakerState.OPEN)
    metrics.set_breaker_state("b1", "BTC", BreakerState.CLOSED)
    assert value(metrics, "gridtui_open_orders", **BOT) == 3
    assert value(metrics, "gridtui_open_orders", bot="b2", coin="ETH") == 3
    assert value(metrics, "gridtui_circuit_breaker_state", **BOT) == 0


@pytest.mark.parametrize(
    ("state", "expected"),
    [(BreakerState.CLOSED, 0), (BreakerState.HALF_OPEN, 1), (BreakerState.OPEN, 2)],
)
def test_breaker_states(metrics: Metrics, state: BreakerState, expected: int) -> None:
    metrics.set_breaker_state("b1", "BTC", state)
    assert value(metrics, "gridtui_circuit_breaker_state", **BOT) == expected


def test_latency_histograms_bucket_millisecond_to_seconds(metrics: Metrics) -> None:
    metrics.observe_order_latency("b1", "BTC", 0.003)
    metrics.observe_order_latency("b1", "BTC", 4.0)
    metrics.observe_rest_latency("b1", "BTC", 0.2)

    order = "gridtui_order_latency_seconds_bucket"
    assert value(metrics, order, **BOT, le="0.001") == 0
    assert value(metrics, order, **BOT, le="0.005") == 1
    assert value(metrics, order, **BOT, le="2.5") == 1
    assert value(metrics, order, **BOT, le="5.0") == 2
    assert value(metrics, "gridtui_order_latency_seconds_count", **BOT) == 2
    assert value(metrics, "gridtui_rest_poll_latency_seconds_bucket", **BOT, le="0.1") == 0
    assert value(metrics, "gridtui_rest_poll_latency_seconds_bucket", **BOT, le="0.25") == 1


ALL_NAMES = [
    "gridtui_position",
    "gridtui_position_drift_ratio",
    "gridtui_position_drift_alerts_total",
    "gridtui_reconciliations_total",
    "gridtui_reconciliation_corrections_total",
    "gridtui_orders_submitted_total",
    "gridtui_orders_cancelled_total",
    "gridtui_orders_rejected_total",
    "gridtui_order_latency_seconds",
    "gridtui_stuck_orders_total",
    "gridtui_open_orders",
    "gridtui_fills_total",
    "gridtui_session_realized_pnl",
    "gridtui_all_time_realized_pnl",
    "gridtui_daily_realized_pnl",
    "gridtui_fees_paid",
    "gridtui_circuit_breaker_state",
    "gridtui_circuit_breaker_trips_total",
    "gridtui_risk_halted",
    "gridtui_stream_last_message_age_seconds",
    "gridtui_stream_reconnects_total",
    "gridtui_rest_poll_latency_seconds",
    "gridtui_dead_man_expiry_timestamp_seconds",
    "gridtui_dead_man_refresh_failures_total",
]


def test_render_names_every_metric(metrics: Metrics) -> None:
    text = metrics.render().decode()
    missing = [name for name in ALL_NAMES if f"# TYPE {name} " not in text]
    assert missing == []


def test_instances_use_private_registries() -> None:
    first, second = Metrics(), Metrics()  # a shared registry would raise on duplicate names
    first.stuck_order("b1", "BTC")
    assert first.registry.get_sample_value("gridtui_stuck_orders_total", BOT) == 1
    assert second.registry.get_sample_value("gridtui_stuck_orders_total", BOT) is None
    assert b"gridtui_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


def test_serve_answers_metrics_over_http_then_closes(metrics: Metrics, bus: EventBus) -> None:
    bus.publish(filled("0.1"))
    server = metrics.serve(0)
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
            body = response.read().decode()
    finally:
        server.close()

    assert 'gridtui_fills_total{bot="b1",coin="BTC"} 1.0' in body
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)


def test_each_bot_reports_its_status_as_one_state_of_the_set(metrics: Metrics) -> None:
    metrics.set_status("b1", "BTC", BotStatus.WAITING)
    metrics.set_status("b1", "BTC", BotStatus.BREAKER_OPEN)
    states = {s.value: value(metrics, "gridtui_bot_status", **BOT, gridtui_bot_status=s.value)
              for s in BotStatus}  # fmt: skip
    assert states == {s.value: float(s is BotStatus.BREAKER_OPEN) for s in BotStatus}
