"""Dead-man switch: the exchange cancels all our orders if we stop checking in.

If the process hangs or dies, orders left on the book keep trading with nobody watching them.
Hyperliquid's ``scheduleCancel`` (and the sim's equivalent) cancels every open order of the account
at a given time; refreshing that time every engine cycle means it only fires when the engine stops.
One switch per exchange account, shared by the bots that trade on it.
"""

from __future__ import annotations

import asyncio
import logging

from gridtui.config.schema import DeadManSettings
from gridtui.core.clock import Clock
from gridtui.core.events import AlertKind, Severity
from gridtui.core.types import ExchangeError
from gridtui.exchanges.base import Exchange
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics

log = logging.getLogger(__name__)


class DeadManSwitch:
    """Arms ``exchange.schedule_cancel(now + timeout)`` on every refresh.

    Calls are serialized by a lock: bots sharing the switch refresh concurrently, and an older
    deadline landing after a newer one would move the expiry backwards. When disabled in the
    settings every method does nothing and the switch reports itself unarmed.
    """

    def __init__(
        self,
        exchange: Exchange,
        settings: DeadManSettings,
        clock: Clock,
        alerter: Alerter,
        metrics: Metrics,
    ) -> None:
        self._exchange = exchange
        self._settings = settings
        self._clock = clock
        self._alerter = alerter
        self._metrics = metrics
        self._lock = asyncio.Lock()
        self._expires_at_ms: int | None = None
        self._refresh_count = 0
        self._last_refresh_ms: int | None = None
        self._failures = 0
        self._last_error: str | None = None
        self._healthy = True
        self._outage_reported = False

    @property
    def enabled(self) -> bool:
        return self._settings.enabled

    @property
    def expires_at_ms(self) -> int | None:
        """When the exchange will cancel everything, as last confirmed; None when disarmed."""
        return self._expires_at_ms

    @property
    def armed(self) -> bool:
        """A confirmed deadline lies in the future (once it passes, the exchange has fired it)."""
        return self._expires_at_ms is not None and self._clock.now_ms() < self._expires_at_ms

    @property
    def refresh_count(self) -> int:
        return self._refresh_count

    @property
    def last_refresh_ms(self) -> int | None:
        return self._last_refresh_ms

    @property
    def failures(self) -> int:
        return self._failures

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def healthy(self) -> bool:
        """False while the latest refresh failed: orders are not (or no longer) protected."""
        return self._healthy

    async def refresh(self, bot: str, coin: str) -> bool:
        """Arm or extend the deadline; every cycle of every bot sharing the switch calls this
        (``bot``/``coin`` say who checked in). A refusal is survivable (Hyperliquid refuses
        scheduleCancel until the account has traded enough), so it is logged and counted rather
        than raised, and the bots keep trading unprotected with ``healthy`` False; it is alerted
        once per outage (until a refresh succeeds), however many bots share the switch. True
        when the deadline was set."""
        if not self._settings.enabled:
            return False
        async with self._lock:
            now_ms = self._clock.now_ms()
            deadline = now_ms + round(self._settings.timeout_s * 1000)
            try:
                await self._exchange.schedule_cancel(deadline)
            except ExchangeError as exc:
                self._failures += 1
                self._last_error = str(exc)
                self._healthy = False
                log.warning("dead-man switch refresh failed (%d so far): %s", self._failures, exc)
                self._metrics.dead_man_refresh_failed()
                if not self._outage_reported:
                    self._outage_reported = True
                    self._alerter.raise_alert(
                        bot=bot,
                        coin=coin,
                        severity=Severity.CRITICAL,
                        kind=AlertKind.DEAD_MAN_REFRESH_FAILED,
                        message=f"dead-man switch not refreshed: {exc}",
                    )
                return False
            self._metrics.set_dead_man_expiry(deadline / 1000)
            self._expires_at_ms = deadline
            self._refresh_count += 1
            self._last_refresh_ms = now_ms
            self._healthy = True
            self._outage_reported = False
            return True

    async def disarm(self) -> None:
        """Clear the deadline on a clean shutdown. Raises ``ExchangeError`` when the exchange
        refuses, so shutdown can report it. A switch that never set a deadline has nothing to
        clear and does not ask: an account the exchange refuses to arm would otherwise fail
        every shutdown."""
        if not self._settings.enabled:
            return
        async with self._lock:
            if self._expires_at_ms is None:
                return
            try:
                await self._exchange.schedule_cancel(None)
            except ExchangeError as exc:
                self._failures += 1
                self._last_error = str(exc)
                log.error("dead-man switch disarm failed: %s", exc)
                raise
            self._expires_at_ms = None
