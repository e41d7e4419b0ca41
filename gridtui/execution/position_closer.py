"""Closing a bot's position now: reduce-only Ioc orders priced no worse than ``max_slippage_pct``
from the mark, retried for what is left.

A stop-loss, a take-profit and a trader's flatten all end here, once the grid is canceled (the
bot halts first). Reduce-only: the venue clamps each order so it can at most flatten the
position, never flip it. Ioc: what does not match at once is canceled by the venue, so nothing of
an exit rests. After each order the fills are caught up from the venue (the reconciliation's own
path, deduplicated against the stream), so what is left is read from the books, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import attrs

from gridtui.core.events import AlertKind, Severity
from gridtui.core.rounding import Rounding, round_price
from gridtui.core.types import ZERO, AssetMeta, ExchangeError, Level, Side, Tif
from gridtui.execution.execution_gateway import EXIT_LEVEL, ExecutionGateway
from gridtui.execution.fill_processor import FillResult
from gridtui.execution.reconciliation_service import ReconciliationService
from gridtui.monitoring.alerting import Alerter
from gridtui.state.state_manager import StateManager

CLOSE_ATTEMPTS = 5
"""Orders per close: each takes what the book holds within the cap; what is left is tried again
at the mark of that moment."""


@attrs.frozen(slots=True)
class CloseResult:
    closed: Decimal
    """Coin units taken off the position (its absolute value)."""
    left: Decimal
    """The position still held (signed): 0 when the close finished."""
    orders: int
    error: str | None = None
    """The venue's last refusal, when something is left."""
    fills: tuple[FillResult, ...] = ()
    """The fills journaled while closing (the exit's, and any other that landed meanwhile)."""


class PositionCloser:
    def __init__(
        self,
        gateway: ExecutionGateway,
        state: StateManager,
        reconciliation: ReconciliationService,
        meta: AssetMeta,
        alerter: Alerter,
        *,
        max_slippage_pct: Decimal,
    ) -> None:
        self._gateway = gateway
        self._alerter = alerter
        self._state = state
        self._reconciliation = reconciliation
        self._meta = meta
        self._slippage = max_slippage_pct / 100

    def limit_price(self, side: Side, mark: Decimal) -> Decimal:
        """The worst price an exit accepts: a sell no lower, a buy no higher than the cap from
        the mark (rounded inward to a valid price, so the cap holds)."""
        if side is Side.SELL:
            return round_price(mark * (1 - self._slippage), self._meta.sz_decimals, Rounding.UP)
        return round_price(mark * (1 + self._slippage), self._meta.sz_decimals, Rounding.DOWN)

    async def close(self, mark: Callable[[], Decimal | None]) -> CloseResult:
        """Close the position; the ``position_exit`` alert says how it went."""
        result = await self._close(mark)
        coin = self._gateway.coin
        if result.left == 0:
            severity = Severity.WARNING
            said = f"position closed: {result.closed} {coin} in {result.orders} orders"
        else:
            severity = Severity.CRITICAL
            said = (
                f"position not fully closed: {result.left} {coin} left after {result.orders} "
                f"orders ({result.error or 'no fill within the slippage cap'})"
            )
        self._alerter.raise_alert(
            bot=self._gateway.bot, coin=coin, severity=severity, kind=AlertKind.POSITION_EXIT,
            message=said,
        )  # fmt: skip
        return result

    async def _close(self, mark: Callable[[], Decimal | None]) -> CloseResult:
        start = self._state.get_snapshot().position
        orders = 0
        error = None
        journaled: list[FillResult] = []
        for _ in range(CLOSE_ATTEMPTS):
            position = self._state.get_snapshot().position
            price = mark()
            if position == 0 or price is None:
                error = None if position == 0 else "no mark price to cap the exit at"
                break
            side = Side.SELL if position > 0 else Side.BUY
            level = Level(EXIT_LEVEL, self.limit_price(side, price), side, abs(position))
            result = await self._gateway.submit_level(level, tif=Tif.IOC, reduce_only=True)
            orders += 1
            error = result.error
            try:  # the venue failing to list the fills must not end the exit unreported
                journaled += await self._reconciliation.catch_up_fills()
            except ExchangeError as exc:
                error = f"fills not read back: {exc}"
        left = self._state.get_snapshot().position
        return CloseResult(
            abs(start) - abs(left), left, orders, None if left == ZERO else error, tuple(journaled)
        )
