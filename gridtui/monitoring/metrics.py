"""Prometheus figures for the whole process, on one private registry.

Every figure lives on the registry handed in (a fresh ``CollectorRegistry`` by default, never
prometheus-client's global one), so tests and several supervisors in one process never collide.
Engine events arrive through ``on_event`` (subscribe it to the ``EventBus``); figures the bus does
not carry (open orders, drift ratio, latencies, stream age, ...) are set by the orchestrator each
cycle through the explicit setters. Every call is a dictionary lookup and a float store: cheap
enough for the engine loop.

Prometheus samples are floats, so Decimal money is converted here, at the exposition boundary
only; nothing reads a figure back into the engine.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import Enum as StateSet
from prometheus_client.exposition import start_http_server

from gridtui.core.clock import utc_day
from gridtui.core.events import (
    AlertKind,
    AlertRaised,
    BotHalted,
    BotResumed,
    BreakerClosed,
    BreakerTripped,
    Event,
    OrderCanceled,
    OrderFilled,
    OrderPlaced,
    OrderRejected,
    Reconciled,
)
from gridtui.core.types import BotStatus
from gridtui.risk.circuit_breaker import BreakerState

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from gridtui.state.accounting import BotState

log = logging.getLogger(__name__)

PER_BOT = ("bot", "coin")

ORDER_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""1 ms (co-located paper venue) up to 5 s (a struggling REST endpoint); slower is +Inf."""

REST_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""REST polls are a fallback over the public internet: 10 ms up to the 10 s client timeout."""

BREAKER_STATES: dict[BreakerState, int] = {
    BreakerState.CLOSED: 0,
    BreakerState.HALF_OPEN: 1,
    BreakerState.OPEN: 2,
}

CORRECTION_KINDS = ("missing_fill", "unknown_order", "adopted_order", "position")


class MetricsPortError(Exception):
    """``/metrics`` cannot be served on the port asked for (in use, not permitted, out of range).

    Bad input, not a crash: the text is one line naming the address and the fix, for the CLI to
    print as is, before any bot has started.
    """


class MetricsServer:
    """The running ``/metrics`` HTTP endpoint; ``close()`` stops it and frees the port."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        """The bound port (useful when serving on port 0, an ephemeral one)."""
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Metrics:
    """Every gridtui figure, named ``gridtui_*``, labelled ``bot``/``coin`` where per bot."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._gauge_values: dict[tuple[int, str, str], float] = {}
        self._reported: dict[tuple[str, str], tuple[BotState, int | None]] = {}
        """The books last reported per bot (see ``set_state``)."""

        self.position = Gauge(
            "gridtui_position", "Signed position in coin units.", PER_BOT, registry=reg
        )
        self.drift_ratio = Gauge(
            "gridtui_position_drift_ratio",
            "|expected - actual| / |expected| position from grid fills vs state.",
            PER_BOT,
            registry=reg,
        )
        self.drift_alerts = Counter(
            "gridtui_position_drift_alerts", "Position drift alerts raised.", PER_BOT, registry=reg
        )
        self.reconciliations = Counter(
            "gridtui_reconciliations",
            "Reconciliation runs by outcome (clean|corrected).",
            (*PER_BOT, "outcome"),
            registry=reg,
        )
        self.reconciliation_corrections = Counter(
            "gridtui_reconciliation_corrections",
            "Corrections applied by reconciliation, by kind.",
            (*PER_BOT, "kind"),
            registry=reg,
        )
        self.orders_submitted = Counter(
            "gridtui_orders_submitted", "Orders accepted by the venue.", PER_BOT, registry=reg
        )
        self.orders_cancelled = Counter(
            "gridtui_orders_cancelled", "Orders cancelled.", PER_BOT, registry=reg
        )
        self.orders_rejected = Counter(
            "gridtui_orders_rejected", "Orders rejected by the venue.", PER_BOT, registry=reg
        )
        self.order_latency = Histogram(
            "gridtui_order_latency_seconds",
            "Order submit round trip.",
            PER_BOT,
            buckets=ORDER_LATENCY_BUCKETS,
            registry=reg,
        )
        self.stuck_orders = Counter(
            "gridtui_stuck_orders", "Orders cancelled for being stuck.", PER_BOT, registry=reg
        )
        self.open_orders = Gauge(
            "gridtui_open_orders", "Orders believed resting on the venue.", PER_BOT, registry=reg
        )
        self.bot_status = StateSet(
            "gridtui_bot_status",
            "What each bot is doing, as the cockpit shows it.",
            PER_BOT,
            states=[status.value for status in BotStatus],
            registry=reg,
        )
        self.refused_order_facts = Counter(
            "gridtui_refused_order_transitions",
            "Order facts the state machine refused (a report contradicting our books, or a bug).",
            PER_BOT,
            registry=reg,
        )
        self.fills = Counter("gridtui_fills", "Fills applied.", PER_BOT, registry=reg)
        self.session_realized = Gauge(
            "gridtui_session_realized_pnl", "Realized PnL this session.", PER_BOT, registry=reg
        )
        self.all_time_realized = Gauge(
            "gridtui_all_time_realized_pnl", "Realized PnL, all sessions.", PER_BOT, registry=reg
        )
        self.daily_realized = Gauge(
            "gridtui_daily_realized_pnl", "Realized PnL this UTC day.", PER_BOT, registry=reg
        )
        self.fees_paid = Gauge("gridtui_fees_paid", "Fees paid, all time.", PER_BOT, registry=reg)
        self.breaker_state = Gauge(
            "gridtui_circuit_breaker_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            PER_BOT,
            registry=reg,
        )
        self.breaker_trips = Counter(
            "gridtui_circuit_breaker_trips", "Circuit breaker trips.", PER_BOT, registry=reg
        )
        self.halted = Gauge(
            "gridtui_risk_halted", "1 while the bot is halted by risk.", PER_BOT, registry=reg
        )
        self.stream_age = Gauge(
            "gridtui_stream_last_message_age_seconds",
            "Seconds since the last user-stream message.",
            PER_BOT,
            registry=reg,
        )
        self.stream_reconnects = Counter(
            "gridtui_stream_reconnects", "User-stream reconnects.", PER_BOT, registry=reg
        )
        self.rest_latency = Histogram(
            "gridtui_rest_poll_latency_seconds",
            "REST fallback poll round trip.",
            PER_BOT,
            buckets=REST_LATENCY_BUCKETS,
            registry=reg,
        )
        self.dead_man_expiry = Gauge(
            "gridtui_dead_man_expiry_timestamp_seconds",
            "When the venue will cancel all orders unless refreshed (epoch seconds).",
            registry=reg,
        )
        self.dead_man_refresh_failures = Counter(
            "gridtui_dead_man_refresh_failures",
            "Failed dead-man switch refreshes.",
            registry=reg,
        )
        # Handlers take their own event type; the dict key guarantees the match.
        self._handlers: dict[type[Event], Callable[[Any], None]] = {
            OrderPlaced: self._on_placed,
            OrderRejected: self._on_rejected,
            OrderCanceled: self._on_canceled,
            OrderFilled: self._on_filled,
            BotHalted: self._on_halted,
            BotResumed: self._on_resumed,
            BreakerTripped: self._on_tripped,
            BreakerClosed: self._on_closed,
            Reconciled: self._on_reconciled,
            AlertRaised: self._on_alert,
        }

    # -- bus ---------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """EventBus handler; events without a figure are ignored by design."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _on_placed(self, event: OrderPlaced) -> None:
        self._child(self.orders_submitted, event.bot, event.coin).inc()

    def _on_rejected(self, event: OrderRejected) -> None:
        self._child(self.orders_rejected, event.bot, event.coin).inc()

    def _on_canceled(self, event: OrderCanceled) -> None:
        self._child(self.orders_cancelled, event.bot, event.coin).inc()

    def _on_filled(self, event: OrderFilled) -> None:
        self._child(self.fills, event.bot, event.coin).inc()
        self._child(self.position, event.bot, event.coin).set(float(event.position))

    def _on_halted(self, event: BotHalted) -> None:
        self._child(self.halted, event.bot, event.coin).set(1)

    def _on_resumed(self, event: BotResumed) -> None:
        self._child(self.halted, event.bot, event.coin).set(0)

    def _on_tripped(self, event: BreakerTripped) -> None:
        self._child(self.breaker_trips, event.bot, event.coin).inc()
        self._child(self.breaker_state, event.bot, event.coin).set(
            BREAKER_STATES[BreakerState.OPEN]
        )

    def _on_closed(self, event: BreakerClosed) -> None:
        self._child(self.breaker_state, event.bot, event.coin).set(
            BREAKER_STATES[BreakerState.CLOSED]
        )

    def _on_reconciled(self, event: Reconciled) -> None:
        counts = {
            "missing_fill": event.missing_fills,
            "unknown_order": event.canceled_unknown,
            "adopted_order": event.adopted_orders,
            "position": int(event.position_corrected),
        }
        for kind, n in counts.items():
            # inc(0) still creates the series, so every kind shows up as an explicit zero.
            self._child(self.reconciliation_corrections, event.bot, event.coin, kind).inc(n)
        outcome = "corrected" if any(counts.values()) else "clean"
        self._child(self.reconciliations, event.bot, event.coin, outcome).inc()

    def _on_alert(self, event: AlertRaised) -> None:
        if event.kind == AlertKind.POSITION_DRIFT:
            self._child(self.drift_alerts, event.bot, event.coin).inc()

    # -- explicit setters (orchestrator, each cycle) -----------------------------------------

    def _child(self, metric: Any, *labels: str) -> Any:
        """A metric's child for these labels, looked up once: ``labels()`` takes a lock and
        builds keys, and the engine reports every cycle (a backtest runs a cycle per candle)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def set_state(self, bot: str, coin: str, state: BotState, *, now_ms: int | None = None) -> None:
        """Position, PnL, fees and halt from the accounting snapshot, the source of truth.

        The stored daily figure only rolls over when a fill arrives, so pass ``now_ms`` (the
        clock's now) to report today's figure (zero on a day without fills) instead of the last
        trading day's.
        """
        day = None if now_ms is None else utc_day(now_ms)
        last = self._reported.get((bot, coin))
        if last is not None and last[0] is state and last[1] == day:
            return  # the same books on the same day: every figure is already there
        self._reported[(bot, coin)] = (state, day)
        daily = state.daily_realized if day is None else state.daily_realized_for(day)
        self._child(self.position, bot, coin).set(float(state.position))
        self._child(self.session_realized, bot, coin).set(float(state.session_realized))
        self._child(self.all_time_realized, bot, coin).set(float(state.all_time_realized))
        self._child(self.daily_realized, bot, coin).set(float(daily))
        self._child(self.fees_paid, bot, coin).set(float(state.fees_paid))
        self._child(self.halted, bot, coin).set(1 if state.halted else 0)

    def _set(self, gauge: Any, bot: str, coin: str, value: float) -> None:
        """Set a gauge this class alone sets, unless it already holds ``value``: a gauge's set
        takes a lock, and the engine reports every cycle (a backtest's, once per candle) figures
        that mostly did not move."""
        key = (id(gauge), bot, coin)
        if self._gauge_values.get(key) != value:
            self._gauge_values[key] = value
            self._child(gauge, bot, coin).set(value)

    def set_open_orders(self, bot: str, coin: str, n: int) -> None:
        self._set(self.open_orders, bot, coin, n)

    def set_drift(self, bot: str, coin: str, ratio: Decimal | float) -> None:
        self._set(self.drift_ratio, bot, coin, float(ratio))

    def observe_order_latency(self, bot: str, coin: str, seconds: float) -> None:
        self._child(self.order_latency, bot, coin).observe(seconds)

    def stuck_order(self, bot: str, coin: str) -> None:
        self._child(self.stuck_orders, bot, coin).inc()

    def set_status(self, bot: str, coin: str, status: BotStatus) -> None:
        self._child(self.bot_status, bot, coin).state(status.value)

    def order_transition_refused(self, bot: str, coin: str) -> None:
        self._child(self.refused_order_facts, bot, coin).inc()

    def set_breaker_state(self, bot: str, coin: str, state: BreakerState) -> None:
        self._set(self.breaker_state, bot, coin, BREAKER_STATES[state])

    def set_stream_age(self, bot: str, coin: str, seconds: float) -> None:
        self._set(self.stream_age, bot, coin, seconds)

    def stream_reconnected(self, bot: str, coin: str) -> None:
        self._child(self.stream_reconnects, bot, coin).inc()

    def observe_rest_latency(self, bot: str, coin: str, seconds: float) -> None:
        self._child(self.rest_latency, bot, coin).observe(seconds)

    def set_dead_man_expiry(self, epoch_s: float) -> None:
        self.dead_man_expiry.set(epoch_s)

    def dead_man_refresh_failed(self) -> None:
        self.dead_man_refresh_failures.inc()

    # -- exposition --------------------------------------------------------------------------

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)

    def serve(self, port: int, host: str = "127.0.0.1") -> MetricsServer:
        """Serve ``/metrics`` for this registry on a daemon thread. Loopback by default: the
        figures reveal positions and PnL, so exposing them wider is an explicit choice."""
        fix = "choose a free port with --metrics-port, or stop the process using it"
        if not 0 <= port <= 65535:
            raise MetricsPortError(
                f"cannot serve /metrics on {host}:{port}: not a TCP port (choose a port from 1 "
                "to 65535 with --metrics-port)"
            )
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            if exc.errno == errno.EACCES:
                fix = "ports below 1024 need privileges: choose a port above 1024"
            raise MetricsPortError(
                f"cannot serve /metrics on {host}:{port}: {reason or exc} ({fix})"
            ) from exc
        log.info("metrics served on http://%s:%d/metrics", host, server.server_port)
        return MetricsServer(server, thread)
