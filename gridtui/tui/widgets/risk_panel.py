"""Every safety mechanism of the selected bot and how close it is to tripping."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from gridtui.core.types import BotStatus
from gridtui.orchestrator.view import BotView, RiskView
from gridtui.risk.circuit_breaker import BreakerState

WARN_AT = Decimal("0.8")
"""Share of a limit from which it is shown as a warning: time to look before it trips."""
BAR_WIDTH = 10
LABEL_WIDTH = 9


class RiskPanel(Widget):
    """Breaker, halt, dead-man switch, loss limits and order rate, coloured by how near each
    is to its limit (warning from 80%, error when breached)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "risk-panel--label",
        "risk-panel--ok",
        "risk-panel--warning",
        "risk-panel--error",
        "risk-panel--muted",
    }

    view: reactive[BotView | None] = reactive(None, init=False)
    """The bot shown (the app binds its selected bot's view here); a change repaints."""

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.border_title = "Risk"

    def show(self, view: BotView | None) -> None:
        """For a host that does not bind ``view``."""
        self.view = view

    def watch_view(self) -> None:
        # An extra line (a breaker's last error) must grow the panel, but a layout pass for
        # every 4 Hz refresh would stall the app: setting the height lays out only when it
        # changed. Set, not measured (height: auto), because Textual can keep a measured
        # height from before the last update (see pnl_panel._set).
        lines = self.render().plain.count("\n") + 1
        frame = self.styles.gutter.height if self.styles.box_sizing == "border-box" else 0
        self.styles.height = lines + frame

    def render(self) -> RenderResult:
        view = self.view
        if view is None:
            return Content.styled("no bot selected", ".risk-panel--muted")
        risk = view.risk
        if risk is None:
            lines = [_line("Bot", _status(view))]
            if view.error and view.status is not BotStatus.WAITING:
                lines.append(_line("Error", Content.styled(view.error, ".risk-panel--error")))
            return Content("\n").join(lines)
        # A built bot gets a status line only while it waits for the exchange (a stream reset,
        # a failed reconciliation): its grid may still show, but nothing goes out until the
        # books agree again, and the line says why and when the next try is.
        lines = [_line("Bot", _status(view))] if view.status is BotStatus.WAITING else []
        if view.price_stale:
            lines.append(_line("Price", _silence(view.price_age_s)))
        lines.append(_line("Breaker", _breaker(risk, view.now_ms)))
        if risk.breaker_last_error:
            lines.append(_line("", Content.styled(risk.breaker_last_error, ".risk-panel--muted")))
        lines += [
            _line("Halt", _halt(risk)),
            _line("Dead-man", _dead_man(risk, view.now_ms)),
            _line("Drawdown", _drawdown(risk)),
            _line("Day PnL", _daily(risk)),
            _line("Orders", _orders(risk)),
        ]
        return Content("\n").join(lines)


def _status(view: BotView) -> Content:
    """The bot's state: waiting for the exchange with why and when it retries (a warning: it
    mends itself), crashed (an error), anything else muted."""
    if view.status is BotStatus.WAITING:
        text = f"{view.status}: {view.error}" if view.error else view.status.value
        return Content.styled(text, ".risk-panel--warning")
    level = "error" if view.status is BotStatus.CRASHED else "muted"
    return Content.styled(view.status.value, f".risk-panel--{level}")


def _silence(age_s: float | None) -> Content:
    """The price stream is silent: nothing fills on a market nobody hears (a warning)."""
    text = "no price yet" if age_s is None else f"stream silent {age_s:.0f} s"
    return Content.styled(f"{text}: polling the venue", ".risk-panel--warning")


def _line(label: str, value: Content) -> Content:
    return Content.assemble((label.ljust(LABEL_WIDTH), ".risk-panel--label"), value)


def _level(used: Decimal) -> str:
    """ok / warning / error for a used share of a limit."""
    if used >= 1:
        return "error"
    return "warning" if used >= WARN_AT else "ok"


BREAKER_LEVELS = {
    BreakerState.CLOSED: "ok",
    BreakerState.HALF_OPEN: "warning",
    BreakerState.OPEN: "error",
}


def _breaker(risk: RiskView, now_ms: int) -> Content:
    state = risk.breaker_state
    parts = [(state.value.replace("_", "-"), f".risk-panel--{BREAKER_LEVELS[state]}")]
    errors_class = ".risk-panel--warning" if risk.breaker_errors else ".risk-panel--muted"
    parts.append((f" · {risk.breaker_errors} errors", errors_class))
    trips = f" · {risk.breaker_trips} trip{'s' if risk.breaker_trips != 1 else ''}"
    parts.append((trips, ".risk-panel--muted"))
    if state is BreakerState.OPEN and risk.breaker_reopens_at_ms is not None:
        parts.append((f" · retry in {_seconds(risk.breaker_reopens_at_ms - now_ms)} s", ""))
    return Content.assemble(*parts)


def _halt(risk: RiskView) -> Content:
    if not risk.halted:
        return Content.styled("trading", ".risk-panel--ok")
    return Content.styled(f"HALTED: {risk.halt_reason or 'no reason given'}", ".risk-panel--error")


def _dead_man(risk: RiskView, now_ms: int) -> Content:
    """Health first, then time left: an expired switch cancels every order on the exchange."""
    if not risk.dead_man_enabled:
        return Content.styled("off", ".risk-panel--muted")
    health = "healthy" if risk.dead_man_healthy else "NOT HEALTHY"
    level = "ok" if risk.dead_man_healthy else "error"
    if risk.dead_man_expires_at_ms is None:
        expiry = "not armed yet"
        level = "warning" if level == "ok" else level
    elif risk.dead_man_expires_at_ms < now_ms:
        expiry = f"expired {_seconds(now_ms - risk.dead_man_expires_at_ms)} s ago"
        level = "error"
    else:
        expiry = f"expires in {_seconds(risk.dead_man_expires_at_ms - now_ms)} s"
    return Content.styled(f"{health} · {expiry}", f".risk-panel--{level}")


def _drawdown(risk: RiskView) -> Content:
    """Drawdown from peak equity against the drawdown that halts the bot."""
    figures = f"{risk.drawdown:,.2f} / {risk.max_drawdown:,.2f}"
    return _bar(_share(risk.drawdown, risk.max_drawdown), figures)


def _daily(risk: RiskView) -> Content:
    """Today's PnL against the loss that halts the bot until the next UTC day."""
    loss = max(-risk.daily_pnl, Decimal(0))
    figures = f"{risk.daily_pnl:+,.2f} / -{risk.daily_loss_limit:,.2f}"
    return _bar(_share(loss, risk.daily_loss_limit), figures)


def _share(used: Decimal, limit: Decimal) -> Decimal:
    """Used share of a limit. Config requires limits > 0; a zero limit is breached by any use,
    as the risk engine would see it."""
    if limit > 0:
        return used / limit
    return Decimal(1) if used > 0 else Decimal(0)


def _bar(share: Decimal, figures: str) -> Content:
    filled = min(max(int(share * BAR_WIDTH), 0), BAR_WIDTH)
    level = f".risk-panel--{_level(share)}"
    return Content.assemble(
        ("█" * filled, level),
        ("░" * (BAR_WIDTH - filled), ".risk-panel--muted"),
        (f" {figures}", level),
    )


def _orders(risk: RiskView) -> Content:
    """Tokens left in the order-rate bucket: an empty bucket delays every order."""
    used = 1 - _share(risk.order_tokens, Decimal(risk.order_burst))
    level = "error" if risk.order_tokens < 1 else _level(used)
    return Content.assemble(
        (f"{risk.order_tokens:.1f} / {risk.order_burst} tokens", f".risk-panel--{level}"),
        (f" · max {risk.max_orders_per_second:f}/s", ".risk-panel--muted"),
    )


def _seconds(ms: int) -> int:
    """Whole seconds, rounded up: "expires in 0 s" would read as already expired."""
    return -(-ms // 1000)
